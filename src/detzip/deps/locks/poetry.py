"""poetry.lock (lock versions 1.x, 2.0 and 2.1) → pins for the target.

Which packages: lock 2.1 records each package's groups and markers; lock 1.x records a
``category`` (main/dev). Lock 2.0 records neither, so the roots are read from the
``pyproject.toml`` beside the lock and the closure is followed through the lock's dependency
tables, evaluating markers for the target. Sources: PyPI and ``legacy`` (PEP 503) indexes are
fetched from their URL; ``url`` sources that point at a wheel work; ``file``, ``directory`` and
``git`` sources are refused with a message naming the package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from detzip.deps.locks.model import LockedFile, Pin, marker_holds, read_toml, sha256_of
from detzip.deps.targets import Target
from detzip.errors import DetzipError

__all__ = ["load"]


def load(path: Path, target: Target, groups: Iterable[str] = ()) -> list[Pin]:
    """The pins a poetry.lock gives for ``target``: the main group plus ``groups``, with markers
    evaluated for the target."""
    data = read_toml(path)
    selected = {"main", *groups}
    packages: list[dict[str, Any]] = data.get("package", [])
    metadata: dict[str, Any] = data.get("metadata", {})
    legacy_files: dict[str, Any] = metadata.get("files", {})
    env = target.marker_environment()
    by_name: dict[str, dict[str, Any]] = {canonicalize_name(p["name"]): p for p in packages}

    if any("groups" in p for p in packages):
        chosen = [p for p in packages if _in_groups(p, selected, env, path)]
    elif any("category" in p for p in packages):
        wanted = {"main"} | ({"dev"} if selected - {"main"} else set())
        chosen = [
            p
            for p in packages
            if p.get("category", "main") in wanted and marker_holds(p.get("markers"), env, path)
        ]
    else:
        chosen = _closure(path, by_name, selected, env)

    pins = []
    for package in chosen:
        name = canonicalize_name(package["name"])
        source = package.get("source", {})
        kind = source.get("type", "")
        entries = package.get("files") or legacy_files.get(package["name"]) or []
        if not isinstance(entries, list) or not all(isinstance(f, dict) for f in entries):
            raise TypeError(f"the files of {name} are not a list of tables")
        files = tuple(
            LockedFile(f["file"], None, sha256_of(f.get("hash"))) for f in entries if "file" in f
        )
        if kind in ("", "legacy"):
            pins.append(Pin(name, package["version"], files, source.get("url") or None))
        elif kind == "url" and str(source.get("url", "")).split("#")[0].endswith(".whl"):
            url = source["url"]
            filename = url.split("#")[0].rsplit("/", 1)[-1]
            digest = files[0].sha256 if files else None
            pins.append(Pin(name, package["version"], (LockedFile(filename, url, digest),)))
        else:
            where = source.get("url") or source.get("reference") or ""
            raise DetzipError(
                f"package {name} comes from a {kind!r} source ({where}), which detzip cannot "
                "fetch for a target; publish it to an index (or use a wheel URL) and lock again",
                path,
            )
    return pins


def _in_groups(
    package: dict[str, Any], selected: set[str], env: Mapping[str, str], path: Path
) -> bool:
    groups = set(package.get("groups", []))
    markers = package.get("markers")
    for group in groups & selected:
        marker = markers.get(group) if isinstance(markers, dict) else markers
        if marker_holds(marker, env, path):
            return True
    return False


def _closure(
    path: Path, by_name: dict[str, dict[str, Any]], selected: set[str], env: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Lock 2.0: follow dependencies from the pyproject.toml roots of the selected groups."""
    pyproject = path.parent / "pyproject.toml"
    if not pyproject.is_file():
        raise DetzipError(
            "this lock (version 2.0) does not record groups, so detzip reads the roots from "
            "pyproject.toml beside it, which is missing; put the lock next to its pyproject.toml",
            path,
        )
    project = read_toml(pyproject)
    roots: list[tuple[str, object]] = []
    poetry = project.get("tool", {}).get("poetry", {})
    for group in selected:
        table = (
            poetry.get("dependencies", {})
            if group == "main"
            else poetry.get("group", {}).get(group, {}).get("dependencies", {})
        )
        roots += [(name, spec) for name, spec in table.items() if name.lower() != "python"]
    if "main" in selected:
        from packaging.requirements import Requirement

        for line in project.get("project", {}).get("dependencies", []):
            requirement = Requirement(line)
            marker = str(requirement.marker) if requirement.marker else None
            roots.append((requirement.name, {"markers": marker} if marker else "*"))

    chosen: dict[str, dict[str, Any]] = {}
    pending = [(name, spec) for name, spec in roots]
    while pending:
        name, spec = pending.pop()
        key = canonicalize_name(name)
        for variant in spec if isinstance(spec, list) else [spec]:
            if isinstance(variant, dict) and not marker_holds(variant.get("markers"), env, path):
                continue
            if isinstance(variant, dict) and variant.get("optional") and key not in chosen:
                continue
            package = by_name.get(key)
            if package is None:
                raise DetzipError(
                    f"{name} is required but not in the lock; run 'poetry lock' again", path
                )
            if key in chosen:
                break
            chosen[key] = package
            pending += list(package.get("dependencies", {}).items())
            break
    return [chosen[k] for k in sorted(chosen)]
