"""A source folder as a build sees it: its files with their digests, walked now or as the memo
of the last walk remembers them.

:func:`walk` asks the tree's memo (:class:`detzip._memo.TreeMemo`) first: while no folder the
last walk listed has changed, the files are only stat'ed, each digest remembered while its stat
is unchanged. Otherwise the tree is walked (:func:`detzip.inputs.tree.collect`) and, with a
memo, each file hashed (or taken from the memo by its stat). Without a memo nothing is read:
whoever zips the files hashes them (:meth:`Walked.read` hashes them here).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from detzip._memo import Remembered, TreeMemo
from detzip.errors import DetzipError
from detzip.inputs.tree import TreeSpec, collect
from detzip.zip.entries import Entry, FromFile, fingerprint_of

__all__ = ["TreeItem", "Walked", "fingerprint_items", "walk"]


class TreeItem(NamedTuple):
    """One path a source folder packs: a file, or an empty ``folder``. ``sha256`` is a file's
    content digest, None while it is not known (no memo: it is hashed when zipped)."""

    name: str
    executable: bool
    sha256: str | None
    folder: bool = False


class Walked:
    """One source folder's files: ``digests`` (each file's sha256 by archive name, where
    known), and the very files keyed — walked now, or as the memo remembered them."""

    __slots__ = ("_entries", "_remembered", "digests", "folder")

    def __init__(
        self,
        folder: Path,
        digests: dict[str, str],
        entries: list[Entry] | None = None,
        remembered: list[Remembered] | None = None,
    ) -> None:
        self.folder = folder
        self.digests = digests
        self._entries = entries
        self._remembered = remembered

    def entries(self) -> list[Entry]:
        """The entries, in walk order."""
        if self._entries is None:
            assert self._remembered is not None
            self._entries = [
                Entry.directory(name)
                if sha is None
                else Entry.file(name, Path(path), executable=x, size_hint=size)
                for name, x, sha, path, size in self._remembered
            ]
        return self._entries

    def items(self) -> list[TreeItem]:
        """What is packed, each file with its digest if known."""
        if self._remembered is not None:
            return [TreeItem(name, x, sha, sha is None) for name, x, sha, _, _ in self._remembered]
        return [
            TreeItem(e.name, e.executable, self.digests.get(e.name), e.is_dir)
            for e in self.entries()
        ]

    def read(self, known: Mapping[str, str] | None = None) -> None:
        """Complete the digests: each file's from ``known`` (as the writer read it), else read
        now (unreadable: a DetzipError naming it)."""
        for entry in self.entries():
            if isinstance(entry.source, FromFile) and entry.name not in self.digests:
                found = None if known is None else known.get(entry.name)
                self.digests[entry.name] = found or _sha256(entry.source.path)

    def fingerprint(self) -> dict[str, object]:
        """The fingerprint of what is packed (every file's digest known): what
        :func:`~detzip.zip.entries.fingerprint` gives for the same entries."""
        if self._remembered is None:
            return fingerprint_items(self.items())
        return fingerprint_of(  # a hit's path: no TreeItem per file
            (name, x, b"directory" if sha is None else sha.encode())
            for name, x, sha, _, _ in sorted(self._remembered)
        )


def walk(folder: Path, tree: TreeSpec, memo: TreeMemo | None) -> Walked:
    """A source folder's files: from the memo when no folder it listed changed, else walked
    (each file's digest from the memo while its stat is unchanged, else read); with no memo,
    walked and left for whoever reads the files to hash."""
    found = None if memo is None else memo.snapshot(tree.never_pack)
    if found is not None:  # no folder changed since the last walk: its files, each stat'ed
        digests = {name: sha for name, _, sha, _, _ in found if sha is not None}
        return Walked(folder, digests, remembered=found)
    stats: dict[str, os.stat_result] = {}
    listed: list[tuple[str, os.stat_result]] = []
    skipped: list[str] = []
    walked = collect(folder, tree, stats=stats, listed=listed, skipped=skipped)
    digests = {}
    if memo is not None:
        for entry in walked:
            if isinstance(entry.source, FromFile):
                try:
                    sha = memo.digest(entry.name, entry.source.path, stats.get(entry.name))
                except OSError as exc:
                    raise _unreadable(exc, entry.source.path) from None
                digests[entry.name] = sha
        files = {e.name: str(e.source.path) for e in walked if isinstance(e.source, FromFile)}
        memo.walked(listed, files, (e.name for e in walked if e.source is None), skipped)
    return Walked(folder, digests, entries=walked)


def fingerprint_items(items: Iterable[TreeItem]) -> dict[str, object]:
    """The fingerprint of ``items`` (each file's sha256 known): what
    :func:`~detzip.zip.entries.fingerprint` gives for the same entries."""
    pieces = []
    for name, executable, sha, folder in sorted(items):
        assert folder or sha is not None, f"{name}: hashed before it is fingerprinted"
        pieces.append((name, executable, b"directory" if folder else str(sha).encode()))
    return fingerprint_of(pieces)


def _sha256(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise _unreadable(exc, path) from None


def _unreadable(exc: OSError, path: Path) -> DetzipError:
    return DetzipError(f"cannot read ({exc.strerror}); fix its permissions or exclude it", path)
