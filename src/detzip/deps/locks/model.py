"""The pinned set every lock format is reduced to."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from detzip import _toml
from detzip._datatype import datatype
from detzip.deps.targets import Target
from detzip.errors import DetzipError, Setting, literal

__all__ = [
    "NOTHING_MORE",
    "Choice",
    "LockedFile",
    "Pin",
    "check_offered",
    "check_python",
    "local_pin",
    "marker_holds",
    "note_input",
    "project_pin",
    "read_toml",
    "recording_inputs",
    "sha256_of",
]


@datatype
class Choice:
    """What to take from a lock besides its main dependencies: dependency ``groups``, the
    project's own ``extras``, for a workspace the member (``package``) to start from, and
    whether to install the project (or that member) itself (``project``)."""

    groups: frozenset[str] = frozenset()
    extras: frozenset[str] = frozenset()
    package: str | None = None
    project: bool = False


#: the main dependencies only
NOTHING_MORE = Choice()


@datatype
class LockedFile:
    """A distribution file a lock names: a wheel or sdist, with its URL and hash when known."""

    filename: str
    url: str | None = None
    sha256: str | None = None


@datatype
class Pin:
    """One distribution at an exact version, as the lock says to get it.

    ``files`` lists the candidate files (empty: ask the index for ``name==version``);
    ``index`` is the simple-API URL to ask (None: pip's own configuration);
    ``hashes`` are the sha256 digests the lock accepts for this pin (empty: not checked);
    ``extras`` the extras the lock asks of it (its requirements under them must be met too);
    ``local`` the folder of a local package (built here from its files; ``version`` may then
    be empty: what it builds as).
    """

    name: str
    version: str
    files: tuple[LockedFile, ...] = ()
    index: str | None = None
    hashes: frozenset[str] = frozenset()
    extras: frozenset[str] = frozenset()
    local: Path | None = None
    named: bool = True  # False: a local package's name guessed (what it builds is its name)

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


def local_pin(
    name: str,
    version: str,
    folder: Path,
    lock: Path,
    extras: Iterable[str] = (),
    where: str | None = None,
    named: bool = True,
) -> Pin:
    """A pin of the local package in ``folder`` (relative paths: from the lock's folder). A
    ``.whl`` or sdist file, or a folder that is not there, is refused naming the lock (or the
    line, ``where``) with what to do."""
    at = folder if folder.is_absolute() else lock.parent / folder
    at = Path(os.path.normpath(at.absolute()))
    if at.suffix in (".whl", ".gz", ".zip", ".tar", ".bz2"):
        raise DetzipError(
            f"{name} is a local file ({literal(str(folder))}), not a package folder; put the "
            "wheel on an index or --find-links folder and pin its version, or point at the "
            "package's source folder",
            where or lock,
        )
    if not at.is_dir():
        raise DetzipError(
            f"{name} is a local package at {literal(str(folder))}, which is not a folder here "
            f"({literal(str(at))}: paths are taken from the lock's folder); fix the path or "
            "check out the package, and lock again",
            where or lock,
        )
    return Pin(name, version, extras=frozenset(extras), local=at, named=named)


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


def project_pin(lock: Path, tool: str, pyproject: Path | None = None) -> Pin:
    """The project beside ``lock`` (its ``pyproject.toml``, or ``pyproject`` when given) as a
    local package to build."""
    pyproject = pyproject or lock.parent / "pyproject.toml"
    if not pyproject.is_file():
        raise DetzipError(
            "{0} installs the project beside the lock, and there is no pyproject.toml here; "
            "put the lock next to its project, or drop {0}",
            lock,
            settings=[Setting("include_project", True)],
        )
    note_input(pyproject)
    data = _toml.load(pyproject, "fix it")
    project = data.get("project", {})
    tools = data.get("tool", {})
    poetry = tools.get("poetry", {}) if isinstance(tools, dict) else None
    if not isinstance(project, dict) or not isinstance(poetry, dict):
        raise DetzipError(
            "[project] and [tool.poetry] must be tables; fix the file, or drop {0}",
            pyproject,
            settings=[Setting("include_project", True)],
        )
    if tool == "poetry" and poetry.get("package-mode") is False:
        raise DetzipError(
            "{0}: the project sets package-mode = false, so there is nothing of it to install; "
            "drop {0}",
            pyproject,
            settings=[Setting("include_project", True)],
        )
    name = project.get("name") or poetry.get("name")
    if not isinstance(name, str) or not name:
        raise DetzipError(
            "{0}: the project has no name ([project] name); name it, or drop {0}",
            pyproject,
            settings=[Setting("include_project", True)],
        )
    dynamic = project.get("dynamic", [])
    declared = project.get("version") or poetry.get("version") or ""
    version = "" if isinstance(dynamic, list) and "version" in dynamic else str(declared)
    return local_pin(name, version, pyproject.parent, lock)
