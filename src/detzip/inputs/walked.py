"""A source folder as a build sees it: its files with their digests, walked now or as the memo
of the last walk remembers them.

:func:`walk` asks the tree's memo (:class:`detzip._memo.TreeMemo`) first: while no folder the
last walk listed has changed, the files are only stat'ed, each digest remembered while its stat
is unchanged. Otherwise the tree is walked (:func:`detzip.inputs.tree.collect`) and, with a
memo, each file hashed (or taken from the memo by its stat). Without a memo nothing is read:
whoever zips the files hashes them (:meth:`Walked.read` hashes them here).

In a git work tree (:mod:`detzip.inputs.git`) each tracked file is packed as git stores it:
its exec bit from the index, and its bytes the working file's when they are the index's blob,
else its clean form (a CRLF checkout's committed LF, an uncommitted edit as ``git add`` would
store it), copied out of git into a scratch folder. The memo remembers what git said while the
index and git's config files keep their stat, so a hit asks git nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from detzip import _log as log
from detzip._memo import GitFiles, Remembered, Snapshot, TreeMemo
from detzip.errors import DetzipError
from detzip.inputs.tree import TreeSpec, collect
from detzip.zip.entries import Entry, FromFile, fingerprint_of

if TYPE_CHECKING:
    from detzip._scratch import Scratch
    from detzip.inputs.git import GitTree, Tracked

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

    __slots__ = ("_digests", "_entries", "_exported", "_memo", "_scratch", "_snapshot", "folder")

    def __init__(
        self,
        folder: Path,
        digests: dict[str, str] | None,
        entries: list[Entry] | None = None,
        snapshot: Snapshot | None = None,
        scratch: Scratch | None = None,
        exported: dict[str, Path] | None = None,
        memo: TreeMemo | None = None,
    ) -> None:
        self.folder = folder
        self._digests = digests
        self._entries = entries
        self._snapshot = snapshot  # (remembered: the items, their fingerprint, git's blobs)
        self._scratch = scratch  # holds the files copied out of git while the entries live
        self._exported = exported  # (by name: the blobs already copied out, into ``scratch``)
        self._memo = memo  # told the fingerprint, to give it back while the walk holds

    @property
    def digests(self) -> dict[str, str]:
        """Each file's sha256 by archive name, where known."""
        if self._digests is None:
            assert self._snapshot is not None
            self._digests = {n: sha for n, _, sha, _, _ in self._snapshot.items() if sha}
        return self._digests

    def entries(self) -> list[Entry]:
        """The entries, in walk order."""
        if self._entries is None:
            assert self._snapshot is not None
            blobs = self._blobs()
            self._entries = [
                Entry.directory(name)
                if sha is None
                else Entry.file(name, blobs.get(name, Path(path)), executable=x, size_hint=size)
                for name, x, sha, path, size in self._snapshot.items()
            ]
        return self._entries

    def _blobs(self) -> dict[str, Path]:
        """The remembered files packed from git's blobs, each copied out of git now."""
        if self._exported is not None:
            return self._exported
        git = None if self._snapshot is None else self._snapshot.git()
        if git is None:
            return {}
        top, files = git
        wanted = {name: blob for name, (_, blob, _) in files.items() if blob}
        if not wanted:
            return {}
        from detzip._scratch import Scratch
        from detzip.inputs.git import export_blobs

        self._scratch = Scratch("git")
        copies = export_blobs(Path(top), wanted.values(), self._scratch.path)
        return {name: copies[blob][0] for name, blob in wanted.items()}

    def executable(self, name: str) -> bool | None:
        """Whether the file packed as ``name`` is executable (None: no such file)."""
        if self._snapshot is not None:
            if "/" not in name and self._snapshot.top is not None:  # (no items needed)
                return self._snapshot.top.get(name)
            found = [x for n, x, sha, _, _ in self._snapshot.items() if n == name and sha]
            return found[0] if found else None
        for entry in self.entries():
            if entry.name == name and not entry.is_dir:
                return entry.executable
        return None

    def items(self) -> list[TreeItem]:
        """What is packed, each file with its digest if known."""
        if self._snapshot is not None:
            return [
                TreeItem(name, x, sha, sha is None) for name, x, sha, _, _ in self._snapshot.items()
            ]
        return [
            TreeItem(e.name, e.executable, self.digests.get(e.name), e.is_dir)
            for e in self.entries()
        ]

    def read(self, known: Mapping[str, str] | None = None) -> None:
        """Complete the digests: each file's from ``known`` (as the writer read it), else read
        now (unreadable: a DetzipError naming it)."""
        digests = self.digests
        for entry in self.entries():
            if isinstance(entry.source, FromFile) and entry.name not in digests:
                found = None if known is None else known.get(entry.name)
                digests[entry.name] = found or _sha256(entry.source.path)

    def fingerprint(self) -> dict[str, object]:
        """The fingerprint of what is packed (every file's digest known): what
        :func:`~detzip.zip.entries.fingerprint` gives for the same entries. With a memo, it is
        remembered with the walk, and given back while the walk holds."""
        if self._snapshot is not None:
            if self._snapshot.fingerprint is not None:
                return dict(self._snapshot.fingerprint)
            found = fingerprint_of(  # a hit's path: no TreeItem per file
                (name, x, "directory" if sha is None else sha)
                for name, x, sha, _, _ in sorted(self._snapshot.items())
            )
        else:  # walked now: from the entries (a TreeItem each, sorted as tuples, cost a
            digests = self.digests  # 200,000-file build without a cache a tenth of its time)
            found = fingerprint_of(
                (e.name, e.executable, "directory" if e.source is None else digests[e.name])
                for e in sorted(self.entries(), key=_NAME)
            )
        if self._memo is not None:
            self._memo.fingerprinted(found)
        return found


#: an entry's archive name (a C getter: the sort key of a fingerprint)
_NAME = attrgetter("name")


def walk(folder: Path, tree: TreeSpec, memo: TreeMemo | None) -> Walked:
    """A source folder's files: from the memo when no folder it listed changed, else walked
    (each file's digest from the memo while its stat is unchanged, else read); with no memo,
    walked and left for whoever reads the files to hash."""
    found = None if memo is None else memo.snapshot(tree.never_pack)
    if found is not None:  # no folder changed since the last walk: its files, each stat'ed
        return Walked(folder, None, snapshot=found, memo=memo)
    from detzip.inputs.git import open_git

    git = open_git(folder)
    stats: dict[str, os.stat_result] = {}  # (for the memo and git: neither, no stats kept)
    listed: list[tuple[str, os.stat_result]] = []
    skipped: list[str] = []
    if git is not None:  # while the index and config keep their stat, git says the same
        listed += _stamp(git)
    tracked: dict[str, tuple[Tracked, str]] = {}
    walked = collect(
        folder,
        tree,
        stats=None if memo is None and git is None else stats,
        listed=listed,
        skipped=skipped,
        git=git,
        tracked=tracked,
    )
    digests: dict[str, str] = {}
    scratch = None
    remembered_git: GitFiles | None = None
    if git is not None and tracked:
        scratch, remembered_git = _as_git_stores(walked, tracked, git, digests, stats, memo)
    if memo is not None:
        for entry in walked:
            if isinstance(entry.source, FromFile) and entry.name not in digests:
                try:
                    sha = memo.digest(entry.name, entry.source.path, stats.get(entry.name))
                except OSError as exc:
                    raise _unreadable(exc, entry.source.path) from None
                digests[entry.name] = sha
        items: list[Remembered] = [
            (e.name, e.executable, digests[e.name], _walked_path(e, tracked), _size(e, stats))
            if isinstance(e.source, FromFile)
            else (e.name, False, None, "", 0)
            for e in walked
        ]
        memo.walked(listed, items, skipped, remembered_git)
    _check_scripts(walked)
    return Walked(folder, digests, entries=walked, scratch=scratch, memo=memo)


def _size(entry: Entry, stats: Mapping[str, os.stat_result]) -> int:
    """The file's size as the walk found it (a remembered walk's size hint)."""
    info = stats.get(entry.name)
    return entry.size_hint if info is None else info.st_size


def _check_scripts(entries: list[Entry]) -> None:
    """Warn of an executable whose first line ends in a carriage return: Linux looks for an
    interpreter named ``sh\r`` ("required file not found" on Lambda)."""
    for entry in entries:
        if entry.executable and isinstance(entry.source, FromFile):
            try:
                with open(entry.source.path, "rb") as handle:
                    head = handle.read(256)
            except OSError:
                continue  # (zipping it says why)
            line = head.split(b"\n", 1)[0]
            if head.startswith(b"#!") and line.endswith(b"\r"):
                from detzip.errors import warn

                warn(
                    "is executable and its first line ends in a carriage return (CRLF): "
                    'Lambda cannot start it ("required file not found"); save it with LF line '
                    "endings (and `*.sh text eol=lf` or `bootstrap text eol=lf` in .gitattributes)",
                    entry.source.path,
                )


def _walked_path(entry: Entry, tracked: dict[str, tuple[Tracked, str]]) -> str:
    """The file a remembered walk stats for ``entry``: the working file, also for one packed
    from git's blob (its copy is a scratch file)."""
    assert isinstance(entry.source, FromFile)
    found = tracked.get(entry.name)
    return str(entry.source.path) if found is None else found[1]


def _stamp(git: GitTree) -> list[tuple[str, os.stat_result]]:
    """The index's and git's config files' stats: while they hold, git would say the same."""
    stamped = []
    for path in git.stamp:
        try:
            stamped.append((path, os.stat(path)))
        except OSError:
            continue
    return stamped


def _as_git_stores(
    walked: list[Entry],
    tracked: dict[str, tuple[Tracked, str]],
    git: GitTree,
    digests: dict[str, str],
    stats: dict[str, os.stat_result],
    memo: TreeMemo | None,
) -> tuple[Scratch | None, GitFiles]:
    """Make each tracked file's entry hold its bytes as git stores them (see the module's
    docstring), its digest in ``digests``; returns the scratch folder of the copies made and
    what a memo keeps of it."""
    remembered: dict[str, tuple[bool, str | None, str]] = {}
    differ: dict[
        int, tuple[Entry, str, str]
    ] = {}  # by position: the working bytes are not the blob
    for i, entry in enumerate(walked):
        found = tracked.get(entry.name)
        if found is None or not isinstance(entry.source, FromFile):
            continue
        indexed = found[0]
        path = entry.source.path
        try:
            if memo is not None:
                sha, oid = memo.hashes(entry.name, path, stats.get(entry.name), git.object_format)
            else:
                sha, oid = git.hashes(path)
        except OSError as exc:
            raise _unreadable(exc, path) from None
        if oid == indexed.oid:
            digests[entry.name] = sha
            remembered[entry.name] = (entry.executable, "", "")
        else:
            differ[i] = (entry, sha, oid)
    if not differ:
        return None, (str(git.top), remembered)
    filtered = git.filtered(Path(tracked[e.name][1]) for e, _, _ in differ.values())
    for i, (entry, sha, _) in list(differ.items()):
        if Path(tracked[entry.name][1]) in filtered:  # git-lfs & co: the working bytes are real
            log.info("%s: packed as checked out (git stores it through a filter)", entry.name)
            digests[entry.name] = sha
            remembered[entry.name] = (entry.executable, "", "")
            del differ[i]
    if not differ:
        return None, (str(git.top), remembered)
    from detzip._scratch import Scratch

    scratch = Scratch("git")
    wanted = {i: Path(tracked[entry.name][1]) for i, (entry, _, _) in differ.items()}
    cleaned = git.clean(wanted.values(), scratch.path)
    edited = []
    converted = 0
    for i, (entry, working_sha, working_oid) in differ.items():
        oid, copy, sha = cleaned[wanted[i]]
        if oid == working_oid:  # an edit git stores as it is: the working bytes, remembered
            edited.append(entry.name)
            digests[entry.name] = working_sha
            remembered[entry.name] = (entry.executable, "", "")
            continue
        committed = oid == tracked[entry.name][0].oid
        if committed:
            converted += 1
        else:
            edited.append(entry.name)
        walked[i] = Entry.file(
            entry.name, copy, executable=entry.executable, size_hint=copy.stat().st_size
        )
        digests[entry.name] = sha
        remembered[entry.name] = (entry.executable, oid if committed else None, sha)
    if converted:
        log.info(
            "%s: %d tracked files differ from git's blobs only as checked out (line endings): "
            "packed as git stores them",
            git.top,
            converted,
        )
    for name in edited[:20]:
        log.info("%s: an uncommitted edit, packed as `git add` would store it", name)
    return scratch, (str(git.top), remembered)


def fingerprint_items(items: Iterable[TreeItem]) -> dict[str, object]:
    """The fingerprint of ``items`` (each file's sha256 known): what
    :func:`~detzip.zip.entries.fingerprint` gives for the same entries."""
    pieces = []
    for name, executable, sha, folder in sorted(items):
        assert folder or sha is not None, f"{name}: hashed before it is fingerprinted"
        pieces.append((name, executable, "directory" if folder else str(sha)))
    return fingerprint_of(pieces)


def _sha256(path: Path) -> str:
    try:
        import hashlib  # (a file read: a hit whose memo holds reads none)

        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise _unreadable(exc, path) from None


def _unreadable(exc: OSError, path: Path) -> DetzipError:
    return DetzipError(f"cannot read ({exc.strerror}); fix its permissions or exclude it", path)
