"""pylock.toml / pylock.*.toml (PEP 751) → pins: every package whose marker holds for the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

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
from detzip.errors import DetzipError, Setting

__all__ = ["PDM_EXPORT", "load"]

#: what to do with PDM's own lock
PDM_EXPORT = (
    "export a PEP 751 lock from it with 'pdm export -f pylock -o pylock.toml' (PDM 2.24+), or "
    "a requirements file with 'pdm export -o requirements.txt', and build from that"
)


def load(path: Path, target: Target, choice: Choice = NOTHING_MORE) -> list[Pin]:
    """The pins a PEP 751 lock gives for ``target``: every package whose marker holds, with
    the chosen groups added to the lock's default groups and the chosen extras."""
    data = read_toml(path)
    if "lock-version" not in data:
        _not_pep751(data, path)
    version = str(data["lock-version"])
    if not version.startswith("1."):
        raise DetzipError(
            f"unsupported lock-version {version!r}; detzip reads PEP 751 lock-version 1.x", path
        )
    check_python(data.get("requires-python"), target, path)
    env: dict[str, Any] = dict(target.marker_environment())
    check_offered("extras", choice.extras, data.get("extras", []), "the lock", path)
    check_offered("groups", choice.groups, data.get("dependency-groups", []), "the lock", path)
    env["extras"] = frozenset(choice.extras)
    env["dependency_groups"] = frozenset([*data.get("default-groups", []), *choice.groups])
    pins = []
    if choice.project:
        pins.append(project_pin(path, "pylock"))
    for package in data.get("packages", []):
        name = package["name"]
        if not marker_holds(package.get("marker"), env, path):
            continue
        if "version" not in package or not ("wheels" in package or "sdist" in package):
            kind = next((k for k in ("vcs", "directory", "archive") if k in package), "unknown")
            where = package.get(kind, {}) if kind != "unknown" else {}
            at = where.get("path") or where.get("url") if isinstance(where, dict) else None
            if kind == "directory" and at:
                version = str(package.get("version", ""))
                pins.append(local_pin(name, version, Path(str(at)), path))
                continue
            raise DetzipError(
                f"package {name} comes from a {kind!r} source ({at or 'no location'}), which "
                "detzip cannot fetch for a target; lock it from an index",
                path,
            )
        files = []
        for wheel in package.get("wheels", []):
            url = wheel.get("url")
            filename = wheel.get("name") or (url or "").split("#")[0].rsplit("/", 1)[-1]
            files.append(LockedFile(filename, url, sha256_of(_hash(wheel))))
        if "sdist" in package:
            sdist = package["sdist"]
            url = sdist.get("url")
            filename = sdist.get("name") or (url or "").rsplit("/", 1)[-1]
            files.append(LockedFile(filename, url, sha256_of(_hash(sdist))))
        pins.append(Pin(name, package["version"], tuple(files), package.get("index")))
    return pins


def _not_pep751(data: dict[str, Any], path: Path) -> NoReturn:
    """Refuse a file named like a PEP 751 lock that has no ``lock-version``, saying which
    lock it looks like (PDM's, poetry's, uv's: each keeps ``[[package]]``, not ``[[packages]]``)
    and what to do."""
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    head = "not a PEP 751 lock (it has no lock-version)"
    if "lock_version" in metadata:
        raise DetzipError(
            f"{head}: it looks like a pdm.lock, PDM's own format, which detzip does not read; "
            + PDM_EXPORT,
            path,
        )
    for kind, name, found in (
        ("poetry", "poetry.lock", "lock-version" in metadata),
        ("uv", "uv.lock", "version" in data and "package" in data),
    ):
        if found:
            raise DetzipError(
                f"{head}: it looks like a {name}; name it {name}, or set {{0}}",
                path,
                settings=[Setting("format", kind)],
            )
    raise DetzipError(
        f"{head}; export it again (e.g. 'uv export --format pylock.toml -o pylock.toml')", path
    )


def _hash(entry: dict[str, Any]) -> str | None:
    digest = entry.get("hashes", {}).get("sha256")
    return f"sha256:{digest}" if digest else None
