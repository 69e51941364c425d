"""The pinned set every lock format is reduced to."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from detzip import _toml
from detzip.deps.targets import Target
from detzip.errors import DetzipError, Setting, literal

__all__ = [
    "NOTHING_MORE",
    "Choice",
    "LockedFile",
    "Pin",
    "check_offered",
    "check_python",
    "marker_holds",
    "note_input",
    "read_toml",
    "recording_inputs",
    "sha256_of",
]


@dataclass(frozen=True, slots=True)
class Choice:
    """What to take from a lock besides its main dependencies: dependency ``groups``, the
    project's own ``extras``, and for a workspace the member (``package``) to start from."""

    groups: frozenset[str] = frozenset()
    extras: frozenset[str] = frozenset()
    package: str | None = None


#: the main dependencies only
NOTHING_MORE = Choice()


@dataclass(frozen=True, slots=True)
class LockedFile:
    """A distribution file a lock names: a wheel or sdist, with its URL and hash when known."""

    filename: str
    url: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Pin:
    """One distribution at an exact version, as the lock says to get it.

    ``files`` lists the candidate files (empty: ask the index for ``name==version``);
    ``index`` is the simple-API URL to ask (None: pip's own configuration);
    ``hashes`` are the sha256 digests the lock accepts for this pin (empty: not checked);
    ``extras`` the extras the lock asks of it (its requirements under them must be met too).
    """

    name: str
    version: str
    files: tuple[LockedFile, ...] = ()
    index: str | None = None
    hashes: frozenset[str] = frozenset()
    extras: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", canonicalize_name(self.name))
        object.__setattr__(self, "extras", frozenset(canonicalize_name(e) for e in self.extras))

    @property
    def accepted_hashes(self) -> frozenset[str]:
        """The sha256 digests a download may have: ``hashes`` and the listed files' (empty: any)."""
        return self.hashes | {f.sha256 for f in self.files if f.sha256}


def sha256_of(value: str | None) -> str | None:
    """'sha256:abc…' → 'abc…'; other algorithms → None (only sha256 is verified)."""
    if not value:
        return None
    algorithm, _, digest = value.partition(":")
    if not digest:
        algorithm, _, digest = value.partition("=")
    return digest.lower() if algorithm.lower() == "sha256" and digest else None


_inputs: ContextVar[list[Path] | None] = ContextVar("detzip_lock_inputs", default=None)


@contextlib.contextmanager
def recording_inputs() -> Iterator[list[Path]]:
    """Collect the paths of every file the lock readers read inside the block."""
    inputs: list[Path] = []
    token = _inputs.set(inputs)
    try:
        yield inputs
    finally:
        _inputs.reset(token)


def note_input(path: Path) -> None:
    """Record that ``path`` was read: a change to it may change the pinned set."""
    inputs = _inputs.get()
    if inputs is not None:
        inputs.append(path)


def read_toml(path: Path) -> dict[str, Any]:
    """A lock file's TOML; unreadable or invalid is a one-line error naming it."""
    note_input(path)
    return _toml.load(path, "regenerate the lock")


def check_offered(
    option: str, asked: Iterable[str], offered: Iterable[str], owner: str, path: Path
) -> None:
    """Refuse a group or extra (``option``) that ``owner`` does not offer: asking for one is
    never an empty choice that builds anyway."""
    names = {canonicalize_name(str(n)): str(n) for n in offered}
    missing = sorted(str(n) for n in asked if canonicalize_name(str(n)) not in names)
    if missing:
        raise DetzipError(
            f"{{0}}: {literal(owner)} has no {literal(', '.join(missing))} (it has "
            f"{literal(', '.join(sorted(names.values())) or 'none')}); fix the name",
            path,
            settings=[Setting(option)],
        )


def check_python(constraint: object, target: Target, path: Path) -> None:
    """Refuse a lock whose ``requires-python`` (or poetry's ``python-versions``) leaves out the
    target's Python, before anything is fetched: later errors would not say why."""
    if not constraint:
        return
    from detzip.deps.locks._python import allows

    try:
        inside = allows(str(constraint), target.python_version)
    except ValueError as exc:
        raise DetzipError(f"{exc}; fix the lock", path) from None
    if not inside:
        raise DetzipError(
            f"this lock supports Python {literal(str(constraint))}; {target.runtime} is outside "
            f"it. Choose a runtime inside it ({{0}}) or lock again for Python {target.python}",
            path,
            settings=[Setting("runtime")],
        )


def marker_holds(marker: object, env: Mapping[str, Any], path: Path) -> bool:
    """Whether a lock's marker (absent: always) holds in ``env``; invalid is an error."""
    if not marker:
        return True
    try:
        return Marker(str(marker)).evaluate(dict(env))
    except InvalidMarker as exc:
        raise DetzipError(f"invalid marker {marker!r} ({exc})", path) from None
