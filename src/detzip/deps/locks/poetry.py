"""poetry.lock (lock versions 1.x, 2.0 and 2.1) → pins for the target.

Which packages: lock 2.1 records each package's groups and markers; lock 1.x records a
``category`` (main/dev). Lock 2.0 records neither, so the roots are read from the
``pyproject.toml`` beside the lock and the closure is followed through the lock's dependency
tables, evaluating markers for the target. Sources: PyPI and ``legacy`` (PEP 503) indexes are
fetched from their URL; ``url`` sources that point at a wheel work; ``directory`` sources (path
dependencies, ``develop`` or not: a zip cannot be editable) are built from their folder;
``file`` and ``git`` sources are refused with a message naming the package. With
``include_project`` the project beside the lock is built and installed too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from detzip.deps.locks.model import (
    NOTHING_MORE,
    Choice,
    LockedFile,
    Pin,
    check_offered,
    check_python,
    local_pin,
    marker_holds,
    project_pin,
    read_toml,
    sha256_of,
)
from detzip.deps.targets import Target
from detzip.errors import DetzipError

__all__ = ["load"]


def load(path: Path, target: Target, choice: Choice = NOTHING_MORE) -> list[Pin]:
    """The pins a poetry.lock gives for ``target``: the main group plus the chosen groups and
    the project's chosen extras, with markers evaluated for the target."""
    data = read_toml(path)
    check_python(data.get("metadata", {}).get("python-versions"), target, path)
    selected = {"main", *choice.groups}
    offered: dict[str, list[str]] = {
        canonicalize_name(k): v for k, v in data.get("extras", {}).items()
    }
    check_offered("extras", choice.extras, offered, "the project", path)
    optional: set[str] = {canonicalize_name(_name(n)) for e in choice.extras for n in offered[e]}
    packages: list[dict[str, Any]] = data.get("package", [])
    metadata: dict[str, Any] = data.get("metadata", {})
    legacy_files: dict[str, Any] = metadata.get("files", {})
    env = target.marker_environment()
    by_name: dict[str, dict[str, Any]] = {canonicalize_name(p["name"]): p for p in packages}
    asked: dict[str, set[str]] = {}  # the extras each package is asked for

    if any("groups" in p for p in packages):
        chosen = [p for p in packages if _in_groups(p, selected, env, choice.extras, path)]
    elif any("category" in p for p in packages):
        wanted = {"main"} | ({"dev"} if selected - {"main"} else set())
        chosen = [
            p
            for p in packages
            if p.get("category", "main") in wanted
            and marker_holds(p.get("markers"), env, path)
            and (not p.get("optional") or canonicalize_name(p["name"]) in optional)
        ]
    else:
        chosen = _closure(path, by_name, selected, target, asked, optional, choice.extras)
    if not asked:  # versions that record the set: the extras its packages ask of each other
        chosen_names = {canonicalize_name(p["name"]) for p in chosen}
        for package in chosen:
            for dep_name, spec in package.get("dependencies", {}).items():
                for variant in spec if isinstance(spec, list) else [spec]:
                    key = canonicalize_name(dep_name)
                    if isinstance(variant, dict) and key in chosen_names:
                        asked.setdefault(key, set()).update(variant.get("extras", []))

    pins = []
    for package in chosen:
        name = canonicalize_name(package["name"])
        extras = frozenset(asked.get(name, ()))
        source = package.get("source", {})
        kind = source.get("type", "")
        entries = package.get("files") or legacy_files.get(package["name"]) or []
        if not isinstance(entries, list) or not all(isinstance(f, dict) for f in entries):
            raise TypeError(f"the files of {name} are not a list of tables")
        files = tuple(
            LockedFile(f["file"], None, sha256_of(f.get("hash"))) for f in entries if "file" in f
        )
        if kind in ("", "legacy"):
            index = source.get("url") or None
            pins.append(Pin(name, package["version"], files, index, extras=extras))
        elif kind == "directory":
            if not isinstance(source.get("url"), str) or not source["url"]:
                raise TypeError(f"the directory source of {name} has no url")
            folder = Path(source["url"])
            pins.append(local_pin(name, str(package["version"]), folder, path, extras))
        elif kind == "url" and str(source.get("url", "")).split("#")[0].endswith(".whl"):
            url = source["url"]
            filename = url.split("#")[0].rsplit("/", 1)[-1]
            digest = files[0].sha256 if files else None
            wheel = (LockedFile(filename, url, digest),)
            pins.append(Pin(name, package["version"], wheel, extras=extras))
        elif kind == "git":
            raise DetzipError(
                f"{name} comes from git ({source.get('url', '')}); detzip does not fetch git "
                "dependencies — check it out beside the project and depend on its folder (a path "
                "dependency), or publish it to an index, and lock again",
                path,
            )
        else:
            where = source.get("url") or source.get("reference") or ""
            raise DetzipError(
                f"package {name} comes from a {kind!r} source ({where}), which detzip cannot "
                "fetch for a target; publish it to an index (or use a wheel URL) and lock again",
                path,
            )
    if choice.project:
        pins.append(project_pin(path, "poetry"))
    return pins


def _in_groups(
    package: dict[str, Any],
    selected: set[str],
    env: Mapping[str, str],
    extras: frozenset[str],
    path: Path,
) -> bool:
    """Lock 2.1: in a selected group, under a marker that holds (an extra's packages carry
    ``extra == "NAME"`` markers: they hold when that extra is chosen)."""
    groups = set(package.get("groups", []))
    markers = package.get("markers")
    for group in groups & selected:
        marker = markers.get(group) if isinstance(markers, dict) else markers
        for extra in ("", *sorted(extras)):
            if marker_holds(marker, {**env, "extra": extra}, path):
                return True
    return False


def _name(line: str) -> str:
    """The project name at the start of an extras entry (``httptools``, ``uvicorn[standard]``)."""
    name: str = re.split(r"[\s\[(<>=!~;]", str(line).strip(), maxsplit=1)[0]
    return name


def _closure(
    path: Path,
    by_name: dict[str, dict[str, Any]],
    selected: set[str],
    target: Target,
    asked: dict[str, set[str]],
    optional: set[str],
    extras: frozenset[str],
) -> list[dict[str, Any]]:
    """Lock 2.0: follow dependencies from the pyproject.toml roots of the selected groups, as
    poetry does: a root's ``python``/``markers``/``platform`` restrictions and the extras it
    asks for, then each package's ``[package.dependencies]`` entries whose markers hold for the
    target — an optional one only when an extra asked of the package names it (an extra's list
    gives names only, without markers, and may name what the lock left out as never applying).
    ``asked`` receives the extras each chosen package is asked for."""
    pyproject = path.parent / "pyproject.toml"
    if not pyproject.is_file():
        raise DetzipError(
            "this lock (version 2.0) does not record groups, so detzip reads the roots from "
            "pyproject.toml beside it, which is missing; put the lock next to its pyproject.toml",
            path,
        )
    env = target.marker_environment()
    pending: list[tuple[str, frozenset[str]]] = [
        (name, more)
        for name, more in _roots(
            pyproject, read_toml(pyproject), selected, target, optional, extras
        )
    ]
    chosen: dict[str, dict[str, Any]] = {}
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        package = by_name.get(key)
        if package is None:
            raise DetzipError(
                f"{name} is required but not in the lock; run 'poetry lock' again", path
            )
        new = {canonicalize_name(e) for e in extras} - asked.get(key, set())
        if key in chosen and not new:
            continue
        asked.setdefault(key, set()).update(new)
        chosen[key] = package
        named = _named_by_extras(package, asked[key])
        for dep_name, spec in package.get("dependencies", {}).items():
            variant = _applicable(dep_name, spec, asked[key], named, env, path)
            if variant is not None:  # (again when new extras come: the queue drops repeats)
                pending.append((dep_name, frozenset(variant.get("extras", []))))
    return [chosen[k] for k in sorted(chosen)]


def _named_by_extras(package: dict[str, Any], extras: set[str]) -> set[str]:
    """The names ``[package.extras]`` lists under ``extras``: which of the package's optional
    dependencies those extras let in. Only names: what to install, and under which markers,
    is the package's own ``[package.dependencies]`` entry (an extra's list carries no markers,
    and may name what the lock left out because it can never apply, as poetry does)."""
    table: dict[str, Any] = {canonicalize_name(k): v for k, v in package.get("extras", {}).items()}
    return {canonicalize_name(_name(line)) for e in extras for line in table.get(e, [])}


def _applicable(
    name: str,
    spec: object,
    extras: set[str],
    named: set[str],
    env: Mapping[str, str],
    path: Path,
) -> dict[str, Any] | None:
    """The variant of the ``[package.dependencies]`` entry ``name`` that applies to the target
    when ``extras`` are asked of the package (None: none does): its marker holds for the target
    (with one of those extras, or none), and if it is optional, an asked extra names it."""
    for variant in spec if isinstance(spec, list) else [spec]:
        if not isinstance(variant, dict):
            return {}  # a bare version: always
        marker = variant.get("markers")
        if not any(
            marker_holds(marker, {**env, "extra": extra}, path) for extra in ("", *sorted(extras))
        ):
            continue
        if variant.get("optional", False) and canonicalize_name(name) not in named:
            continue
        return variant
    return None


def _roots(
    pyproject: Path,
    project: dict[str, Any],
    selected: set[str],
    target: Target,
    optional: set[str],
    chosen_extras: frozenset[str],
) -> list[tuple[str, frozenset[str]]]:
    """The project's direct dependencies for the selected groups (optional ones when a chosen
    extra names them), with the extras each asks for; those whose ``python``, ``markers`` or
    ``platform`` exclude the target are left out."""
    from detzip.deps.locks._python import allows

    env = target.marker_environment()
    poetry = project.get("tool", {}).get("poetry", {})
    tables: list[dict[str, Any]] = []
    for group in sorted(selected):
        if group == "main":
            tables.append(poetry.get("dependencies", {}))
        else:
            tables.append(poetry.get("group", {}).get(group, {}).get("dependencies", {}))
            if group == "dev":  # poetry < 1.2 spelled the dev group this way
                tables.append(poetry.get("dev-dependencies", {}))
    roots: list[tuple[str, frozenset[str]]] = []
    for table in tables:
        for name, spec in table.items():
            if name.lower() == "python":
                continue
            for variant in spec if isinstance(spec, list) else [spec]:
                if not isinstance(variant, dict):
                    roots.append((name, frozenset()))
                    break
                if variant.get("optional") and canonicalize_name(name) not in optional:
                    break  # only through the project's own extras
                python = variant.get("python")
                try:
                    if python and not allows(str(python), target.python_version):
                        continue
                except ValueError as exc:
                    raise DetzipError(f"{name}: {exc}; fix it", pyproject) from None
                platform = variant.get("platform")
                if platform and platform != env["sys_platform"]:
                    continue
                if not marker_holds(variant.get("markers"), env, pyproject):
                    continue
                roots.append((name, frozenset(variant.get("extras", []))))
                break
    if "main" in selected:
        lines = list(project.get("project", {}).get("dependencies", []))
        extras_table = project.get("project", {}).get("optional-dependencies", {})
        for extra, more in extras_table.items():
            if canonicalize_name(extra) in chosen_extras:
                lines += more
        for line in lines:
            requirement = _requirement(line, pyproject)
            if marker_holds(requirement.marker, env, pyproject):
                roots.append((requirement.name, frozenset(requirement.extras)))
    return roots


def _requirement(line: str, path: Path) -> Requirement:
    """A PEP 508 line (poetry writes ``name (>=1.0) ; marker`` in a lock's extras)."""
    try:
        return Requirement(str(line))
    except InvalidRequirement as exc:
        raise DetzipError(f"not a valid requirement {line!r} ({exc}); fix it", path) from None
