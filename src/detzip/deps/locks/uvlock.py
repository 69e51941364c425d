"""uv.lock → pins: the root project's dependency closure for the target.

The root is the project at the lock's folder (source ``editable``/``virtual`` ``.``), or the
workspace member ``--package`` names; it is packed only when asked (``include_project``). Its
dependencies — with the groups (``--with``) and extras (``--extras``) asked of it, markers
evaluated for the target and the extras each edge asks for — are followed through the lock.
Local packages reached as dependencies (workspace members, ``directory``/``editable`` path
dependencies) are pinned to their folders and built (:mod:`detzip.deps.local`); a ``virtual``
one is not a package: its dependencies are followed, it is not packed. Git sources are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    read_toml,
    sha256_of,
)
from detzip.deps.targets import Target
from detzip.errors import DetzipError, Setting, literal, warn

__all__ = ["load"]

_LOCAL = ("editable", "virtual", "directory")


def load(path: Path, target: Target, choice: Choice = NOTHING_MORE) -> list[Pin]:
    """The pins a uv.lock gives for ``target``: the closure of the root project's dependencies
    (the member ``choice.package`` names, else the project at the lock's folder), with the
    chosen dependency groups and extras of that root."""
    data = read_toml(path)
    check_python(data.get("requires-python"), target, path)
    packages: list[dict[str, Any]] = data.get("package", [])
    env = target.marker_environment()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(canonicalize_name(package["name"]), []).append(package)
    root = _root(path, packages, choice.package)

    pending: list[dict[str, Any]] = list(root.get("dependencies", []))
    groups = {**root.get("dev-dependencies", {}), **root.get("dependency-groups", {})}
    extras = root.get("optional-dependencies", {})
    for option, asked, offered in (
        ("groups", choice.groups, groups),
        ("extras", choice.extras, extras),
    ):
        check_offered(option, asked, offered, str(root["name"]), path)
        known = {canonicalize_name(n): n for n in offered}
        for name in sorted(asked):
            pending += offered[known[canonicalize_name(name)]]
    chosen: dict[str, dict[str, Any]] = {}
    extras_done: set[tuple[str, str]] = set()
    asked_extras: dict[str, set[str]] = {}  # the extras each package is asked for
    while pending:
        dep = pending.pop()
        if not marker_holds(dep.get("marker"), env, path):
            continue
        key: str = canonicalize_name(dep["name"])
        candidates = by_name.get(key)
        if not candidates:
            raise DetzipError(f"{dep['name']} is required but not in the lock", path)
        package = _pick(candidates, dep, env)
        if package is root:  # the project itself (a self-reference for its extras)
            for extra in dep.get("extra", []):
                pending += extras.get(extra, [])
            continue
        if key not in chosen:
            chosen[key] = package
            pending += package.get("dependencies", [])
        for extra in dep.get("extra", []):
            asked_extras.setdefault(key, set()).add(extra)
            if (key, extra) not in extras_done:
                extras_done.add((key, extra))
                pending += package.get("optional-dependencies", {}).get(extra, [])

    if not chosen and choice.package is None and not choice.project:
        _warn_empty_root(path, data, packages, root, target)
    if choice.project:  # the root itself, built like any local package
        if "virtual" in root.get("source", {}):
            raise DetzipError(
                f"{{0}}: {literal(str(root['name']))} is virtual (not a package: tool.uv.package "
                "= false, or no build system), so there is nothing of it to install; drop {0}",
                path,
                settings=[Setting("include_project", True)],
            )
        chosen[canonicalize_name(root["name"])] = root
    pins = []
    for key in sorted(chosen):
        package = chosen[key]
        source = package.get("source", {})
        if "virtual" in source:  # not a package: its dependencies are in, it is not
            continue
        folder = next((source[k] for k in ("editable", "directory", "path") if k in source), None)
        if folder is not None:
            pins.append(local_pin(key, str(package.get("version", "")), Path(folder), path,
                                  asked_extras.get(key, ())))  # fmt: skip
            continue
        if "git" in source:
            raise DetzipError(
                f"{key} comes from git ({literal(str(source['git']))}); detzip does not fetch "
                "git dependencies — check it out beside the project and depend on its folder "
                "(a path dependency), or publish it to an index, and lock again",
                path,
            )
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
        extras = frozenset(asked_extras.get(key, ()))
        pins.append(Pin(key, package["version"], files, index_url, extras=extras))
    return pins


def _root(path: Path, packages: list[dict[str, Any]], name: str | None) -> dict[str, Any]:
    """The package the closure starts from: the one named, else the project at the lock's
    folder (source ``.``), else the only local package."""
    local = [p for p in packages if any(k in p.get("source", {}) for k in _LOCAL)]
    names = ", ".join(sorted(str(p.get("name")) for p in local)) or "none"
    if name is not None:
        for package in local:
            if canonicalize_name(str(package["name"])) == canonicalize_name(name):
                return package
        raise DetzipError(
            f"{{0}}: no workspace member {literal(name)} in the lock (its members: "
            f"{literal(names)}); fix the name",
            path,
            settings=[Setting("package")],
        )
    at_root = [p for p in local if "." in (p["source"].get(k) for k in _LOCAL)]
    if len(at_root) == 1:
        return at_root[0]
    if len(local) == 1:
        return local[0]
    if not local:
        raise DetzipError("no project found in the lock; run 'uv lock' again", path)
    raise DetzipError(
        f"this workspace has no project at its root; name the member to build with {{0}} "
        f"(one of {literal(names)})",
        path,
        settings=[Setting("package")],
    )


def _warn_empty_root(
    path: Path,
    data: dict[str, Any],
    packages: list[dict[str, Any]],
    root: dict[str, Any],
    target: Target,
) -> None:
    """The root of a workspace needs no package for the target: the set is empty, though its
    other members have dependencies. Warn, naming the members ``--package`` can choose (a
    project alone that needs nothing is not warned about: nothing is left out)."""
    manifest = data.get("manifest", {})
    members = manifest.get("members", []) if isinstance(manifest, dict) else []
    if not members:  # an older lock: every local package is a member --package can name
        members = [p["name"] for p in packages if any(k in p.get("source", {}) for k in _LOCAL)]
    own = canonicalize_name(str(root["name"]))
    others = sorted({str(m) for m in members if canonicalize_name(str(m)) != own})
    if not others:
        return
    warn(
        f"the workspace root {literal(str(root['name']))} needs no package for "
        f"{target.runtime} {target.arch}, so nothing is installed from this lock; to install a "
        f"member's dependencies, name it with {{0}} (one of {literal(', '.join(others))})",
        path,
        settings=[Setting("package", others[0])],
    )


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
