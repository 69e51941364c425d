"""Lock and requirements files → the pinned set for a target.

Formats: ``requirements.txt`` (any ``*.txt``), ``poetry.lock``, ``pylock.toml`` /
``pylock.*.toml`` (PEP 751) and ``uv.lock``; detected from the file name, or named explicitly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from detzip._datatype import datatype, replace
from detzip.deps.locks.model import Choice, LockedFile, Pin, project_pin, recording_inputs
from detzip.deps.targets import Target
from detzip.errors import DetzipError, Setting

__all__ = ["FORMATS", "LockedFile", "LockedSet", "Pin", "detect_format", "load"]

FORMATS = ("requirements", "poetry", "pylock", "uv", "pyproject")


@datatype
class LockedSet:
    """The pins a lock gives for a target, and pip options it carries (index URLs).

    ``inputs`` are the files that were read (the lock and what it includes or reads beside it);
    ``floating`` is true when pip resolved unpinned requirements against the index, so the set
    may change although no input did.
    """

    pins: tuple[Pin, ...]
    pip_options: tuple[str, ...] = ()
    format: str = ""
    inputs: tuple[Path, ...] = ()
    floating: bool = False


def detect_format(path: Path) -> str:
    """The lock format (one of :data:`FORMATS`) a file's name implies; an error if none."""
    name = path.name
    if name == "poetry.lock":
        return "poetry"
    if name == "uv.lock":
        return "uv"
    if name == "pyproject.toml":
        return "pyproject"
    if re.fullmatch(r"pylock(\.[^.]+)?\.toml", name):
        return "pylock"
    if name.endswith((".txt", ".in")) or "requirements" in name:
        return "requirements"
    if name == "pdm.lock":
        from detzip.deps.locks.pylock import PDM_EXPORT

        raise DetzipError(
            f"this is PDM's own lock format, which detzip does not read; {PDM_EXPORT}", path
        )
    raise DetzipError(
        "cannot tell the lock format from the name; name it requirements.txt, poetry.lock, "
        "pylock.toml, uv.lock or pyproject.toml, or set {0}",
        path,
        settings=[Setting("format")],
    )


_REGENERATE = {
    "poetry": "run 'poetry lock' again",
    "pylock": "export it again (e.g. 'uv export --format pylock.toml')",
    "uv": "run 'uv lock' again",
}


def _read_toml_lock(lock: Path, kind: str, target: Target, choice: Choice) -> list[Pin]:
    """The pins of a TOML lock. Valid TOML of the wrong shape (a table where a list belongs, a
    missing name) is an error naming the lock, not a traceback from deep in the reader."""
    from detzip.deps.locks import poetry, pylock, uvlock

    reader = {"poetry": poetry.load, "pylock": pylock.load, "uv": uvlock.load}[kind]
    try:
        return reader(lock, target, choice)
    except KeyError as exc:
        reason = f"a required field {exc} is missing"
    except (TypeError, AttributeError, ValueError) as exc:
        reason = f"a field has the wrong type or value: {exc}"
    raise DetzipError(f"not a valid {lock.name} ({reason}); {_REGENERATE[kind]}", lock)


def _choice(
    kind: str, groups: Iterable[str], extras: Iterable[str], package: str | None, project: bool
) -> Choice:
    """What to take from the lock; an option its format cannot honour is an error, never
    ignored (a requirements file has no groups or extras of a project)."""
    asked = {"groups": list(groups), "extras": list(extras), "package": package}
    for option, value in asked.items():
        if not value:
            continue
        if (kind == "requirements" and option != "package") or (
            option == "package" and kind != "uv"
        ):
            formats = "a uv.lock" if option == "package" else "poetry.lock, uv.lock or pylock.toml"
            raise DetzipError(
                f"{{0}} applies to {formats}, not to a {kind} file; remove it",
                settings=[Setting(option)],
            )
    return Choice(
        frozenset(asked["groups"] or ()),
        frozenset(canonicalize_name(e) for e in asked["extras"] or ()),
        package,
        project,
    )


def load(
    path: str | os.PathLike[str],
    target: Target,
    *,
    format: str | None = None,
    groups: Iterable[str] = (),
    extras: Iterable[str] = (),
    package: str | None = None,
    project: bool = False,
    pip_options: Sequence[str] = (),
) -> LockedSet:
    """The pinned set ``path`` describes for ``target``; ``pip_options`` (index options) go to
    any pip call the reading needs (resolving an unpinned requirements file); ``project``: the
    project itself (the root of a uv lock, else the pyproject.toml beside the lock) too."""
    lock = Path(path)
    if not lock.is_file():
        raise DetzipError("no such lock or requirements file; check the path", lock)
    kind = format or detect_format(lock)
    if kind not in FORMATS:
        raise DetzipError(
            f"unknown lock format {kind!r}; set {{0}} to one of {', '.join(FORMATS)}",
            settings=[Setting("format")],
        )
    choice = _choice(kind, groups, extras, package, project)
    options: list[str] = []
    floating = False
    with recording_inputs() as inputs:
        if kind == "requirements":
            from detzip.deps.locks import requirements

            pins, options, floating = requirements.load(lock, target, pip_options)
            if project:
                pins.append(project_pin(lock, "requirements"))
        elif kind == "pyproject":
            from detzip.deps.locks import pyproject

            pins, floating = pyproject.load(lock, target, choice, pip_options), True
        else:
            pins = _read_toml_lock(lock, kind, target, choice)
    seen: dict[str, Pin] = {}
    for pin in pins:
        if pin.name in seen and seen[pin.name].version != pin.version:
            raise DetzipError(
                f"{pin.name} is pinned twice for this target ({seen[pin.name].version} and "
                f"{pin.version}); fix the lock",
                lock,
            )
        if pin.name in seen:  # the same pin twice (a[x]==1 and a==1): every extra is asked
            pin = replace(pin, extras=pin.extras | seen[pin.name].extras)
        seen[pin.name] = pin
    return LockedSet(
        tuple(seen[name] for name in sorted(seen)),
        tuple(options),
        kind,
        tuple(dict.fromkeys(path.absolute() for path in inputs)),
        floating,
    )
