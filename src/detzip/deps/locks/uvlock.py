"""uv.lock → pins: the project's dependency closure for the target (dev groups when asked).

The roots are the workspace members (packages whose source is ``editable``, ``virtual`` or a
local ``directory`` — they are the project itself, not packed). Their dependencies, with extras
and markers evaluated for the target, are followed through the lock; ``--with GROUP`` adds the
members' dependency groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from detzip.deps.locks.model import LockedFile, Pin, marker_holds, read_toml, sha256_of
from detzip.deps.targets import Target
from detzip.errors import DetzipError

__all__ = ["load"]

_LOCAL = ("editable", "virtual", "directory")


def load(path: Path, target: Target, groups: Iterable[str] = ()) -> list[Pin]:
    """The pins a uv.lock gives for ``target``: the closure of the workspace members'
    dependencies, plus their dependency ``groups`` when asked."""
    data = read_toml(path)
    packages: list[dict[str, Any]] = data.get("package", [])
    env = target.marker_environment()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(canonicalize_name(package["name"]), []).append(package)
    members = [p for p in packages if any(k in p.get("source", {}) for k in _LOCAL)]
    if not members:
        raise DetzipError("no workspace member found in the lock; run 'uv lock' again", path)

    pending: list[dict[str, Any]] = []
    for member in members:
        pending += member.get("dependencies", [])
        for group in groups:
            found = {
                **member.get("dev-dependencies", {}),
                **member.get("dependency-groups", {}),
            }
            pending += found.get(group, [])
    chosen: dict[str, dict[str, Any]] = {}
    extras_done: set[tuple[str, str]] = set()
    while pending:
        dep = pending.pop()
        if not marker_holds(dep.get("marker"), env, path):
            continue
        key: str = canonicalize_name(dep["name"])
        candidates = by_name.get(key)
        if not candidates:
            raise DetzipError(f"{dep['name']} is required but not in the lock", path)
        package = _pick(candidates, dep, env)
        if any(k in package.get("source", {}) for k in _LOCAL):
            continue  # another workspace member: its own dependencies are followed
        if key not in chosen:
            chosen[key] = package
            pending += package.get("dependencies", [])
        for extra in dep.get("extra", []):
            if (key, extra) not in extras_done:
                extras_done.add((key, extra))
                pending += package.get("optional-dependencies", {}).get(extra, [])

    pins = []
    for key in sorted(chosen):
        package = chosen[key]
        source = package.get("source", {})
        index = source.get("registry")
        if not index and "url" not in source:
            kind = next(iter(source), "unknown")
            raise DetzipError(
                f"package {key} comes from a {kind!r} source, which detzip cannot fetch for a "
                "target; publish it to an index and lock again",
                path,
            )
        files = tuple(
            LockedFile(
                wheel["url"].split("#")[0].rsplit("/", 1)[-1]
                if "url" in wheel
                else wheel.get("filename", ""),
                wheel.get("url"),
                sha256_of(wheel.get("hash")),
            )
            for wheel in package.get("wheels", [])
        )
        if "sdist" in package and "url" in package["sdist"]:
            sdist = package["sdist"]
            files += (
                LockedFile(
                    sdist["url"].rsplit("/", 1)[-1], sdist["url"], sha256_of(sdist.get("hash"))
                ),
            )
        index_url = index if index and index.startswith(("http", "file")) else None
        pins.append(Pin(key, package["version"], files, index_url))
    return pins


def _pick(
    candidates: list[dict[str, Any]], dep: dict[str, Any], env: dict[str, str]
) -> dict[str, Any]:
    """A dependency may name a version or source when the lock forks; else the only entry."""
    if len(candidates) == 1:
        return candidates[0]
    for package in candidates:
        if "version" in dep and package.get("version") != dep["version"]:
            continue
        if "source" in dep and package.get("source") != dep["source"]:
            continue
        return package
    return candidates[0]
