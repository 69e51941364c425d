"""Dependencies → the resolved set, remembered while the lock is unchanged: its description
and, on a build, its wheels.

:func:`resolved_set` turns :class:`~detzip.deps.request.Dependencies` into a
:class:`ResolvedSet`: the description of the resolved set (target, patterns, and each chosen
wheel's name, version, file and sha256), which is what the bytes depend on, and a way to get the
wheels themselves. A lock that has not changed since the last resolution (nor any file it reads)
is answered from the memo without parsing it, so a cache hit does not import the lock readers
(:mod:`detzip.deps.resolution` does the resolving). A set with local packages is remembered
with their files' digest, checked on every run (by the stat memo: a folder whose files all keep
their stat is not read again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip._datatype import datatype
from detzip._memo import Memo
from detzip.errors import DetzipError

if TYPE_CHECKING:
    from detzip.deps.local import LocalWheel
    from detzip.deps.request import Dependencies
    from detzip.deps.resolution import Resolution
    from detzip.deps.store import StoredWheel

__all__ = ["ResolvedSet", "resolved_set"]


@datatype(slots=False)
class ResolvedSet:
    """The resolved set's description, the files it was read from (the lock and what it
    includes: an output must never overwrite them), and how to get its wheels (on a build)."""

    description: dict[str, Any]
    inputs: tuple[Path, ...]
    wheels: Callable[[], list[StoredWheel | LocalWheel]]


def resolved_set(
    deps: Dependencies, memo: Memo, wheels: Path, resolved: Path, *, seed: Path | None = None
) -> ResolvedSet:
    """The resolved set for ``deps``: remembered in ``memo`` if no input changed, else read from
    the lock; the wheels go to the store in folder ``wheels`` (pip's choices: ``resolved``),
    copied from the read-only store ``seed`` where it has them."""

    def read() -> Resolution:
        # packaging, the lock readers and the wheel store: imported only now
        from detzip.deps.resolution import resolve
        from detzip.deps.store import WheelStore

        return resolve(deps, WheelStore(wheels, resolved, seed=seed), memo)

    request = deps.request()
    remembered = memo.recall("dependencies", request)
    if (
        isinstance(remembered, dict)
        and isinstance(remembered.get("description"), dict)
        and isinstance(remembered.get("inputs"), list)
        and _same_local_files(remembered.get("local", []), deps, memo)
    ):
        inputs = tuple(Path(path) for path in remembered["inputs"])
        keyed = {folder: sha for folder, sha in remembered.get("local", [])}

        def as_keyed() -> list[StoredWheel | LocalWheel]:
            resolution = read()  # (on a build: the local packages are walked again)
            _as_keyed(resolution, keyed, Path(deps.requirements))
            return resolution.wheels()

        return ResolvedSet(remembered["description"], inputs, as_keyed)
    resolution = read()
    if not resolution.floating:
        value = {
            "description": resolution.description,
            "inputs": [str(path) for path in resolution.inputs],
            # the local packages' folders and their files' digest, checked at every recall
            "local": [[str(wheel.folder), wheel.source_sha256] for wheel in resolution.local],
        }
        memo.remember("dependencies", request, resolution.inputs, value)
    return ResolvedSet(resolution.description, resolution.inputs, resolution.wheels)


def _as_keyed(resolution: Resolution, keyed: Mapping[str, str], lock: Path) -> None:
    """The local packages about to be built must be the files the key was computed from: an
    edit in between (while the cache was asked) is an error, never a zip under the old key."""
    for wheel in resolution.local:
        if keyed.get(str(wheel.folder)) != wheel.source_sha256:
            raise DetzipError("changed while the layer was being built; run again", wheel.folder)
    if len(resolution.local) != len(keyed):
        raise DetzipError("changed while the layer was being built; run again", lock)


def _same_local_files(local: object, deps: Dependencies, memo: Memo) -> bool:
    """Whether every remembered local package's files still have the remembered digest (each
    folder hashed again, by its stat memo while that vouches for it)."""
    if not isinstance(local, list):
        return False
    from detzip.deps._source import local_files, source_sha256

    for item in local:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(part, str) for part in item)
            and Path(item[0]).is_dir()
        ):
            return False
        if source_sha256(local_files(Path(item[0]), deps.never_pack, memo)[0]) != item[1]:
            return False
    return True
