"""What the stages ask of a memo, declared below them all: the cache implements it
(:mod:`detzip.cache.memo`, :mod:`detzip.cache.stats`), the tree walk and the dependency
resolution use it, and none of them imports another for it.

A memo only shortens the way to an answer that could be worked out again: forgetting
everything is always correct. :data:`NO_MEMO` is the memo of a build with the cache off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = ["NO_MEMO", "GitFiles", "Memo", "Remembered", "Snapshot", "TreeMemo"]

Remembered = tuple[str, bool, str | None, str, int]
"""A remembered walk's item: (archive name, executable, sha256, path, size) for a file, and
(archive name, False, None, "", 0) for an empty folder."""


GitFiles = tuple[str, dict[str, tuple[bool, str | None, str]]]
"""What git's index said of a walk's tracked files: the work tree's top, and by archive name
(exec bit from the index; the blob packed, "" when it is the working file's bytes, None when
the file is an uncommitted edit git cleans, which no snapshot may stand for; and the sha256 of
the blob's bytes, "" unless a blob is packed)."""


class Snapshot:
    """A remembered walk that still holds: its items (made when first asked for: a hit whose
    fingerprint is remembered needs none), the ``fingerprint`` of them if remembered, what
    git said of its tracked files, and (``top``, if remembered) the exec bit of each file at
    the archive's top level (a custom runtime's ``bootstrap`` is checked on every build)."""

    __slots__ = ("_git", "_items", "_load", "fingerprint", "top")

    def __init__(
        self,
        items: Callable[[], list[Remembered]],
        fingerprint: dict[str, object] | None,
        git: Callable[[], GitFiles | None],
        top: dict[str, bool] | None = None,
    ) -> None:
        self._load = items
        self._items: list[Remembered] | None = None
        self._git = git
        self.fingerprint = fingerprint
        self.top = top

    def items(self) -> list[Remembered]:
        """(archive name, executable, sha256, path, size) for each file, (name, False, None,
        "", 0) for each empty folder."""
        if self._items is None:
            self._items = self._load()
        return self._items

    def git(self) -> GitFiles | None:
        """What git's index said of the walk's tracked files (None: not in a git work tree)."""
        return self._git()


class TreeMemo(Protocol):
    """Remembers a tree's last walk and each file's sha256 by its stat (the cache's stat memo,
    :class:`detzip.cache.stats.StatMemo`, which says when it may be trusted)."""

    def snapshot(self, never_pack: Collection[tuple[int, int]]) -> Snapshot | None:
        """The remembered walk, each file stat'ed now (None: walk again)."""

    def digest(self, name: str, path: str | Path, info: os.stat_result | None = None) -> str:
        """A file's sha256: remembered while its stat is unchanged, else read now."""

    def hashes(
        self, name: str, path: str | Path, info: os.stat_result | None, object_format: str
    ) -> tuple[str, str]:
        """A file's sha256 and git blob id (``object_format``), remembered as :meth:`digest`."""

    def walked(
        self,
        folders: Iterable[tuple[str, os.stat_result]],
        items: list[Remembered],
        skipped: Iterable[str],
        git: GitFiles | None = None,
    ) -> None:
        """Remember a walk: the folders it listed, its items (each file's digest taken by
        :meth:`digest` or :meth:`hashes`) and the paths it left out as detzip's own; and, in a
        git work tree, what git's index said of the files it tracks (the index and config
        files are among the ``folders``)."""

    def fingerprinted(self, fingerprint: dict[str, object]) -> None:
        """Remember the fingerprint of the last snapshot's or walk's items."""

    def save(self) -> None:
        """Keep what this run learnt."""

    def forget(self) -> None:
        """Trust nothing remembered (a file it vouched for had other bytes)."""


class Memo(Protocol):
    """Remembers a value for a request while its input files keep their bytes, and gives a
    tree's stat memo (the local cache's is :class:`detzip.cache.memo.Memo`)."""

    def recall(self, kind: str, request: Mapping[str, Any]) -> Any:
        """The value remembered for ``request``, or None."""

    def remember(
        self, kind: str, request: Mapping[str, Any], inputs: Sequence[Path], value: Any
    ) -> None:
        """Remember ``value`` for ``request`` while the ``inputs`` keep their bytes."""

    def tree(self, root: Path, describe: Mapping[str, Any]) -> TreeMemo | None:
        """The stat memo of the tree at ``root`` walked as ``describe`` says; None: no memo."""


class _NoMemo:
    """Remembers nothing (the artifact cache is off: every input is read again)."""

    def recall(self, kind: str, request: Mapping[str, Any]) -> Any:
        return None

    def remember(
        self, kind: str, request: Mapping[str, Any], inputs: Sequence[Path], value: Any
    ) -> None:
        return None

    def tree(self, root: Path, describe: Mapping[str, Any]) -> TreeMemo | None:
        return None


NO_MEMO: Memo = _NoMemo()
"""The memo that remembers nothing."""
