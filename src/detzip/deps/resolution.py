"""Dependencies → the resolved set: its description and, on a build, its wheels.

:func:`resolve` turns :class:`~detzip.deps.request.Dependencies` into a :class:`Resolution`: the
description of the resolved set (target, patterns, and each chosen wheel's name, version, file and
sha256), which is what the bytes depend on, and a way to get the wheels themselves. A lock that
has not changed since the last resolution (nor any file it reads) is answered from the cache's
memo without parsing it, so a cache hit does not import the lock readers. A set with local
packages is remembered with their files' digest, checked on every run (by the stat memo: a
folder whose files all keep their stat is not read again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from detzip._datatype import datatype
from detzip.errors import DetzipError

if TYPE_CHECKING:
    from detzip.deps._select import Selection
    from detzip.deps.local import LocalWheel
    from detzip.deps.request import Dependencies
    from detzip.deps.store import StoredWheel
    from detzip.inputs.tree import TreeMemo

__all__ = ["Memo", "Resolution", "resolve"]


class Memo(Protocol):
    """Remembers a value for a request while its input files keep their bytes (the local
    cache is one: :meth:`~detzip.cache.local.Cache.recall`), and gives a tree's stat memo."""

    def recall(self, kind: str, request: Mapping[str, Any]) -> Any:
        """The value remembered for ``request``, or None."""

    def remember(
        self, kind: str, request: Mapping[str, Any], inputs: Sequence[Path], value: Any
    ) -> None:
        """Remember ``value`` for ``request`` while the ``inputs`` keep their bytes."""

    def tree_memo(self, root: Path, describe: Mapping[str, Any]) -> TreeMemo | None:
        """The stat memo of the tree at ``root`` walked as ``describe`` says; None: no memo."""


@datatype(slots=False)
class Resolution:
    """The resolved set's description, the files it was read from (the lock and what it
    includes: an output must never overwrite them), and how to get its wheels (on a build)."""

    description: dict[str, Any]
    inputs: tuple[Path, ...]
    wheels: Callable[[], list[StoredWheel | LocalWheel]]


def resolve(deps: Dependencies, memo: Memo, wheels: Path, resolved: Path) -> Resolution:
    """The resolved set for ``deps``: remembered in ``memo`` if no input changed, else read from
    the lock; the wheels go to the store in folder ``wheels`` (pip's choices: ``resolved``)."""

    def read() -> Selection:
        # packaging, the lock readers and the wheel store: imported only now
        from detzip.deps._select import select
        from detzip.deps.store import WheelStore

        return select(deps, WheelStore(wheels, resolved), memo)

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
            selection = read()  # (on a build: the local packages are walked again)
            _as_keyed(selection, keyed, Path(deps.requirements))
            return selection.wheels()

        return Resolution(remembered["description"], inputs, as_keyed)
    selection = read()
    if not selection.floating:
        value = {
            "description": selection.description,
            "inputs": [str(path) for path in selection.inputs],
            # the local packages' folders and their files' digest, checked at every recall
            "local": [[str(wheel.folder), wheel.source_sha256] for wheel in selection.local],
        }
        memo.remember("dependencies", request, selection.inputs, value)
    return Resolution(selection.description, selection.inputs, selection.wheels)


def _as_keyed(selection: Selection, keyed: Mapping[str, str], lock: Path) -> None:
    """The local packages about to be built must be the files the key was computed from: an
    edit in between (while the cache was asked) is an error, never a zip under the old key."""
    for wheel in selection.local:
        if keyed.get(str(wheel.folder)) != wheel.source_sha256:
            raise DetzipError("changed while the layer was being built; run again", wheel.folder)
    if len(selection.local) != len(keyed):
        raise DetzipError("changed while the layer was being built; run again", lock)


def _same_local_files(local: object, deps: Dependencies, memo: Memo) -> bool:
    """Whether every remembered local package's files still have the remembered digest (each
    folder hashed again, by its stat memo while that vouches for it)."""
    if not isinstance(local, list):
        return False
    from detzip.deps._source import local_files

    for item in local:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(part, str) for part in item)
            and Path(item[0]).is_dir()
        ):
            return False
        if local_files(Path(item[0]), deps.never_pack, memo)[2] != item[1]:
            return False
    return True
