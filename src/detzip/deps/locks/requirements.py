"""requirements.txt: pinned lines are used as is; anything unpinned is resolved by pip.

A line naming a local folder (``./libs/x``, ``-e ./libs/y``, ``file:`` URLs, ``name @ file:…``)
is a local package, built from that folder (editable or not: a zip cannot be editable).
Relative paths are taken from the requirements file's folder, wherever detzip runs (pip takes
them from its working directory, which would make the layer depend on where it was built).
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from collections.abc import Sequence
from pathlib import Path

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from detzip.deps import pip
from detzip.deps.locks.model import LockedFile, Pin, local_pin, note_input, sha256_of
from detzip.deps.targets import Target
from detzip.errors import DetzipError, literal

__all__ = ["load", "resolve_lines"]

# options pip accepts in a requirements file that only say where to look
_INDEX_OPTIONS = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host"}
_FLAGS = {"--no-index", "--prefer-binary", "--pre"}


def load(
    path: Path, target: Target, pip_options: Sequence[str] = ()
) -> tuple[list[Pin], list[str], bool]:
    """(pins, pip index options from the file, whether pip resolved unpinned lines).

    An unpinned file is resolved against the index on every load, so its result can change
    without the file changing; that resolution gets ``pip_options`` (the index options the user
    gave), as every pip call does.
    """
    lines: list[tuple[Path, int, str]] = []
    _read(path, lines, set())
    pins: list[Pin] = []
    options: list[str] = []
    unpinned = False
    local: list[str] = []
    for origin, number, line in lines:
        where = f"{origin}:{number}"
        if line.startswith("-"):
            folder = _option(line, where, options)
            if folder is not None:
                pins.append(_local_pin(folder, origin, where))
                local.append(where)
            continue
        if line.startswith((".", "/", "~", "file:")) or re.match(r"^([\w.-]+/|\w+\+\w+://)", line):
            text, _, marker = line.partition(";")
            if marker.strip() and not _marker_holds(marker, target, where):
                continue
            pins.append(_local_pin(text.strip(), origin, where))
            local.append(where)
            continue
        text, hashes = _split_hashes(line, where)
        try:
            requirement = Requirement(text)
        except (InvalidRequirement, InvalidMarker) as exc:
            reason = str(exc).splitlines()[0]
            raise DetzipError(f"not a valid requirement ({reason}); fix the line", where) from None
        if requirement.marker and not requirement.marker.evaluate(target.marker_environment()):
            continue
        if requirement.url and requirement.url.startswith("file:"):
            if hashes:
                raise DetzipError(
                    f"{requirement.name}: a local folder has no hash to check; remove --hash",
                    where,
                )
            pins.append(_local_pin(requirement.url, origin, where, requirement.name))
            local.append(where)
            continue
        if requirement.url:
            filename = requirement.url.rsplit("/", 1)[-1].split("#", 1)[0]
            if not filename.endswith(".whl"):
                raise DetzipError(
                    f"{requirement.name}: only direct links to wheels are supported "
                    f"({requirement.url}); pin a version from an index instead",
                    where,
                )
            try:
                wheel_name, wheel_version, _, _ = parse_wheel_filename(filename)
            except InvalidWheelFilename:
                raise DetzipError(
                    f"{requirement.name}: {filename!r} is not a wheel file name "
                    "(NAME-VERSION-PYTHON-ABI-PLATFORM.whl); link to the wheel itself",
                    where,
                ) from None
            if wheel_name != canonicalize_name(requirement.name):
                raise DetzipError(
                    f"{requirement.name}: the link is a wheel of {wheel_name}, not of "
                    f"{requirement.name}; fix the name or the link",
                    where,
                )
            version = str(wheel_version)
            pins.append(
                Pin(
                    requirement.name,
                    version,
                    (LockedFile(filename, requirement.url),),
                    None,
                    hashes,
                    frozenset(requirement.extras),
                )
            )
            continue
        specs = list(requirement.specifier)
        if any(not spec.version for spec in specs):
            raise DetzipError(f"{requirement.name}: a version specifier has no version", where)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            pins.append(
                Pin(
                    requirement.name,
                    specs[0].version,
                    hashes=hashes,
                    extras=frozenset(requirement.extras),
                )
            )
        else:
            unpinned = True
    if unpinned and local:
        raise DetzipError(
            "has local packages and lines that are not pinned; pip cannot resolve a local "
            f"package for another platform ({', '.join(local)}) — pin every other line (e.g. "
            "uv pip compile requirements.in -o requirements.txt), so that detzip builds the "
            "local ones and checks the set",
            path,
        )
    if unpinned:
        return _resolve_with_pip(path, target, pip_options), options, True
    return pins, options, False


def _read(path: Path, out: list[tuple[Path, int, str]], seen: set[Path]) -> None:
    real = path.resolve()
    if real in seen:
        return
    seen.add(real)
    note_input(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a BOM, as Windows editors write, is fine
    except OSError as exc:
        raise DetzipError(f"cannot read ({exc.strerror}); check the path", path) from None
    except UnicodeDecodeError as exc:
        number = exc.object[: exc.start].count(b"\n") + 1
        raise DetzipError(
            f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} on line {number}); "
            "save it as UTF-8",
            path,
        ) from None
    joined = re.sub(r"\\\r?\n", " ", text)
    for number, raw in enumerate(joined.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        for flag in ("-r", "--requirement", "-c", "--constraint"):
            if line.startswith(flag + " ") or line.startswith(flag + "="):
                name = line[len(flag) :].lstrip(" =")
                if flag in ("-r", "--requirement"):
                    _read(path.parent / name, out, seen)
                elif (path.parent / name).is_file():
                    note_input(path.parent / name)  # pip reads it when it resolves
                break  # constraints never add packages
        else:
            out.append((path, number, line))


def _option(line: str, where: str, options: list[str]) -> str | None:
    """Record an index option in ``options``; an ``-e`` line's folder is returned."""
    try:
        parts = shlex.split(line.replace("=", " ", 1) if line.startswith("--") else line)
    except ValueError as exc:  # an unbalanced quote
        raise DetzipError(f"cannot split the line ({exc}); fix its quotes", where) from None
    flag = parts[0]
    if flag in ("-e", "--editable"):
        if len(parts) != 2:
            raise DetzipError(f"{flag} takes one folder; fix the line", where)
        return parts[1]
    if flag in _INDEX_OPTIONS and len(parts) == 2:
        options += parts
    elif flag in _FLAGS:
        options.append(flag)
    else:
        raise DetzipError(f"unsupported option {flag!r} in a requirements file; remove it", where)
    return None


def _local_pin(text: str, origin: Path, where: str, name: str | None = None) -> Pin:
    """A local package line (``./libs/x[extra] ; marker``, ``file:…``, ``-e ./x#egg=name``): a
    pin of its folder, named as the line (else its pyproject.toml, else the folder) names it,
    its version what it builds as. A marker that does not hold for the target: None."""
    if re.match(r"^(git|hg|svn|bzr)\+", text) or ("://" in text and not text.startswith("file:")):
        raise DetzipError(
            f"{literal(text)} is not a local folder; detzip does not fetch VCS or remote "
            "sources — check it out beside the project and name its folder, or pin a version "
            "from an index",
            where,
        )
    if re.search(r"\s--hash[=\s]", " " + text):
        raise DetzipError(
            f"{literal(text)}: a local folder has no hash to check (pip refuses --hash on "
            "one too); remove the --hash option from this line",
            where,
        )
    text, _, fragment = text.partition("#")
    egg = re.search(r"(?:^|&)egg=([\w.-]+)", fragment)
    if egg and name is None:
        name = egg.group(1)
    match = re.fullmatch(r"(.*?)(\[[\w.,\s-]*\])?", text.strip())
    assert match is not None  # the pattern matches any text
    location, extras = match.group(1), (match.group(2) or "[]")[1:-1]
    if location.startswith("file:"):
        from urllib.parse import unquote, urlparse

        parsed = urlparse(location)
        if parsed.netloc not in ("", "localhost"):
            raise DetzipError(
                f"{literal(location)} names a file on another host ({parsed.netloc}); name a "
                "folder on this machine",
                where,
            )
        location = unquote(parsed.path)
    folder = Path(os.path.expanduser(location))
    at = folder if folder.is_absolute() else origin.parent / folder
    named = name is not None
    if name is None:
        name = _project_name(at) or at.resolve().name
    chosen = [e.strip() for e in extras.split(",") if e.strip()]
    return local_pin(name, "", folder, origin, chosen, where, named)


def _marker_holds(marker: str, target: Target, where: str) -> bool:
    from packaging.markers import Marker

    try:
        return Marker(marker.strip()).evaluate(target.marker_environment())
    except InvalidMarker as exc:
        raise DetzipError(
            f"invalid marker {marker.strip()!r} ({exc}); fix the line", where
        ) from None


def _project_name(folder: Path) -> str | None:
    """The name a local package's pyproject.toml gives it, when it states one (a leading BOM,
    as Windows editors write, is skipped: tomllib refuses it)."""
    try:
        data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    name = data.get("project", {}).get("name") or data.get("tool", {}).get("poetry", {}).get("name")
    return name if isinstance(name, str) and name else None


def _split_hashes(line: str, where: str) -> tuple[str, frozenset[str]]:
    hashes = set()
    pattern = re.compile(r"\s--hash[=\s]+(\S+)")
    for match in pattern.finditer(" " + line):
        digest = sha256_of(match.group(1))
        if digest is None:
            raise DetzipError(f"only sha256 hashes are supported ({match.group(1)})", where)
        hashes.add(digest)
    return pattern.sub("", " " + line).strip(), frozenset(hashes)


def resolve_lines(path: Path, target: Target, options: Sequence[str]) -> list[Pin]:
    """pip's resolution of the requirements file ``path`` for ``target`` (with the user's index
    ``options``): one pin per distribution, with the file pip chose and its hash."""
    return _resolve_with_pip(path, target, options)


def _resolve_with_pip(path: Path, target: Target, options: Sequence[str]) -> list[Pin]:
    pins = []
    for item in pip.resolve(path, target.pip_arguments(), options):
        info = item["download_info"]
        url = info["url"]
        digest = sha256_of(
            "sha256:" + info.get("archive_info", {}).get("hashes", {}).get("sha256", "")
        )
        filename = url.rsplit("/", 1)[-1].split("#", 1)[0]
        name = canonicalize_name(item["metadata"]["name"])
        extras = frozenset(item.get("requested_extras") or ())
        files = (LockedFile(filename, url, digest),)
        pins.append(Pin(name, item["metadata"]["version"], files, extras=extras))
    return pins
