"""The stat memo: each source file's sha256, trusted while its stat says it is the same file.

A function's cache key needs the sha256 of every file it packs. Reading a 100 MB tree for that
costs most of a hit, so (as git's index does) each file's digest is remembered with its stat —
size, mtime_ns, ctime_ns, inode and device — and used again only while all five are unchanged.

What could still fool it, and what guards against it:

- An edit that keeps the size and lands in the same timestamp tick as the memo's reading of the
  file ("racily clean" in git's words). A digest is trusted only if the file's mtime and ctime
  are at least :data:`RACY_NS` older than the moment its hashing began; otherwise it is read
  again on the next build (a file changed in the last two seconds is always rehashed).
- A memo copied to another machine (a cache folder restored in CI, a container image): inodes
  and times mean nothing there. Every memo names the machine and boot it was written on
  (:func:`scope`: machine id, boot id, host name; where there is no boot id, as on macOS and
  Windows, the minute the machine booted) and is ignored anywhere else. On Windows ``st_ctime``
  is the creation time, not the last change: there, an edit that keeps the size and puts the
  old mtime back (a tool that restores times) would keep its stat, as it does for git.
- A damaged or foreign memo file: anything that is not exactly a memo is ignored (the files
  are hashed as if there were none), never an error.

The digests are only a shortcut to the key: the writer still hashes every byte it zips and
refuses a file whose bytes are not the keyed ones (and the memo is then forgotten).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from detzip._fs import write_file
from detzip._memo import GitFiles, Remembered

__all__ = ["RACY_NS", "VERSION", "StatMemo", "memo_name", "scope", "stat_of"]

#: the memo file's format; another version is ignored (2: git's index in the walk, blob ids;
#: the default excludes grew, so a walk remembered by 1 may hold files now left out)
VERSION = 2
#: how old a file's mtime and ctime must be, against the start of its hashing, for its digest
#: to be trusted: coarser than any filesystem's timestamps (FAT's 2 s) and small clock skews
RACY_NS = 2_000_000_000

Stat = tuple[int, int, int, int, int]
"""(size, mtime_ns, ctime_ns, inode, device)"""


def stat_of(info: os.stat_result) -> Stat:
    """The fields of ``info`` a memo compares."""
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


def scope() -> str:
    """What a memo is valid on: this machine, since its last boot (machine id, boot id, host
    name). Inode numbers and device ids are only meaningful there."""
    if _SCOPE:
        return _SCOPE[0]
    from detzip._platform import boot_id, machine_id

    parts = [machine_id(), boot_id(), _host()]
    _SCOPE.append(hashlib.sha256("\0".join(parts).encode("utf-8", "replace")).hexdigest())
    return _SCOPE[0]


_SCOPE: list[str] = []  # this process's, once read


def _host() -> str:
    uname = getattr(os, "uname", None)
    if uname is not None:
        return str(uname().nodename)
    return os.environ.get("COMPUTERNAME", "")  # pragma: no cover - Windows


class StatMemo:
    """The remembered digests of one source tree's files, in the file ``path``.

    :meth:`digest` answers from the memo when it may, else reads and hashes the file;
    :meth:`save` writes what this build learnt; :meth:`forget` removes the file.
    """

    def __init__(
        self, path: Path, *, machine: str | None = None, keep_unseen: bool = False
    ) -> None:
        self.path = path
        self.keep_unseen = keep_unseen  # a memo of many builds' files (outputs): keep them all
        self.machine = machine if machine is not None else scope()
        self.started = time.time_ns()  # before any file is read: the racy rule's reference
        self.known, self.tree = _load(path, self.machine)
        self.seen: dict[str, list[Any]] = dict(self.known) if keep_unseen else {}
        self.changed = False

    def snapshot(self, never_pack: Collection[tuple[int, int]]) -> list[Remembered] | None:
        """The tree as the last walk found it — (archive name, executable, sha256, path, size)
        for each file, (name, False, None, "", 0) for each empty folder — if no folder it
        listed (or left out as a virtualenv) has changed since (their stat unchanged, and
        settled when the walk began: a file added, removed or renamed changes its folder's
        mtime), none is now one to leave out, and what it left out as detzip's own
        (``never_pack``: the output, the cache) still is. Each file is stat'ed
        now, its digest taken as :meth:`digest` does and its exec bit from that stat. None:
        walk the tree again.
        """
        tree = self.tree
        if tree is None:
            return None
        try:
            walked = tree["walked"]
            for path, *remembered in tree["dirs"]:
                if type(path) is not str:  # an int would be taken for a file descriptor
                    return None
                now = stat_of(os.stat(path))
                if now != tuple(remembered) or not _settled(now, walked):
                    return None
                if (now[4], now[3]) in never_pack:  # (device, inode): now one to leave out
                    return None
            for path in tree["skipped"]:  # left out as detzip's own: must still be
                try:
                    info = os.stat(path)
                except FileNotFoundError:
                    continue  # gone (its folder's listing changed too)
                identity = (info.st_dev, info.st_ino)
                if identity not in never_pack:
                    return None
            items: list[Remembered] = []
            known, seen = self.known, self.seen
            git = tree.get("git")
            tracked: dict[str, list[Any]] = {} if git is None else git["files"]
            for name, path in tree["files"]:  # (the hot loop of a hit: digest() inlined)
                if type(name) is not str or type(path) is not str:
                    return None
                info = os.stat(path)
                if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) in never_pack:
                    return None
                entry = known.get(name)
                executable = bool(info.st_mode & 0o111)
                if (
                    entry is not None
                    and _valid(entry)
                    and entry[0] == info.st_size
                    and entry[1] == info.st_mtime_ns
                    and entry[2] == info.st_ctime_ns
                    and entry[3] == info.st_ino
                    and entry[4] == info.st_dev
                    and max(info.st_mtime_ns, info.st_ctime_ns) + RACY_NS <= entry[6]
                ):
                    seen[name] = entry
                    digest = entry[5]
                    index = tracked.get(name)
                    if index is not None:  # as git's index says (which has not changed)
                        executable, blob, blob_sha = index
                        if blob is None:  # an uncommitted edit git cleans: ask git again
                            return None
                        if blob:
                            digest = blob_sha
                elif name in tracked:  # changed: whether git stores it so, git must say
                    return None
                else:
                    digest = self.digest(name, path, info)
                items.append((name, bool(executable), digest, path, info.st_size))
            items += [(name, False, None, "", 0) for name in tree["empty"]]
        except (OSError, ValueError, TypeError, KeyError):  # gone, unreadable, or not a memo
            return None
        return items

    def walked(self, folders: Iterable[tuple[str, os.stat_result]], files: Mapping[str, str],
               empty: Iterable[str], skipped: Iterable[str] = (),
               git: GitFiles | None = None) -> None:  # fmt: skip
        """Remember a whole walk: the ``folders`` it listed or left out for what they hold
        (path, stat), the ``files`` it packs (archive name → path), the ``empty`` folders'
        archive names, the paths ``skipped`` as detzip's own (the output, the cache), and what
        ``git``'s index said of the tracked files (its index and config among the folders)."""
        self.tree = {
            "walked": self.started,
            "dirs": [[path, *stat_of(info)] for path, info in folders],
            "files": sorted(files.items()),
            "empty": sorted(empty),
            "skipped": sorted(skipped),
        }
        if git is not None:
            self.tree["git"] = {"top": git[0], "files": {k: list(v) for k, v in git[1].items()}}
        self.changed = True

    def git_files(self) -> GitFiles | None:
        """What :meth:`walked` was told of git, for the remembered walk."""
        git = None if self.tree is None else self.tree.get("git")
        if git is None:
            return None
        return str(git["top"]), {k: (bool(v[0]), v[1], str(v[2])) for k, v in git["files"].items()}

    def digest(self, name: str, path: str | Path, info: os.stat_result | None = None) -> str:
        """The sha256 (hex) of the file at ``path``, remembered under ``name``: from the memo
        if its stat is unchanged and old enough, else read now (``OSError`` if unreadable)."""
        if info is None:
            info = os.stat(path)
        now = stat_of(info)
        entry = self.known.get(name)
        if (
            entry is not None
            and _valid(entry)
            and tuple(entry[:5]) == now
            and _settled(now, entry[6])
        ):
            self.seen[name] = entry
            return str(entry[5])
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        self.seen[name] = [*now, digest, self.started]
        self.changed = True
        return digest

    def hashes(
        self, name: str, path: str | Path, info: os.stat_result | None, object_format: str
    ) -> tuple[str, str]:
        """The file's sha256 and its git blob id (``object_format``), remembered as
        :meth:`digest` remembers the sha256 (``OSError`` if unreadable)."""
        if info is None:
            info = os.stat(path)
        now = stat_of(info)
        entry = self.known.get(name)
        if (
            entry is not None
            and _valid(entry)
            and len(entry) == 8
            and type(entry[7]) is str
            and tuple(entry[:5]) == now
            and _settled(now, entry[6])
        ):
            self.seen[name] = entry
            return str(entry[5]), entry[7]
        from detzip.inputs.git import blob_hashes

        digest, oid = blob_hashes(path, object_format)
        self.seen[name] = [*now, digest, self.started, oid]
        self.changed = True
        return digest, oid

    def save(self) -> None:
        """Keep what this build saw (only the files it saw), if anything changed; a failure to
        write is no error (the next build hashes again)."""
        if not self.changed and (self.keep_unseen or len(self.seen) == len(self.known)):
            return
        files = self.seen
        if self.keep_unseen and len(files) > _MOST:  # the most recently hashed half
            recent = sorted(files, key=lambda n: _hashed(files[n]), reverse=True)[: _MOST // 2]
            files = {name: files[name] for name in recent}
        memo: dict[str, Any] = {"detzip-stat-memo": VERSION, "scope": self.machine, "files": files}
        if self.tree is not None:
            memo["tree"] = self.tree
        with contextlib.suppress(OSError):
            write_file(self.path, json.dumps(memo, separators=(",", ":")).encode())
            self.changed = False  # (kept: a memo used again saves only what it learns next)

    def forget(self) -> None:
        """Remove the memo: a file it vouched for had other bytes (edited in a way its stat
        did not show, or during the build). The next build hashes every file."""
        self.known, self.tree = {}, None
        with contextlib.suppress(OSError):
            self.path.unlink()


#: the most files a memo keeps (an outputs memo collects every output ever checked)
_MOST = 100_000


def _hashed(entry: object) -> int:
    return entry[6] if _valid(entry) else 0  # type: ignore[index]


def _settled(now: Stat, hashed: int) -> bool:
    """Whether a file with this stat, hashed starting at ``hashed``, was older than the racy
    window then: a later edit within the same timestamp tick cannot hide behind its stat."""
    return max(now[1], now[2]) + RACY_NS <= hashed


def _load(path: Path, machine: str) -> tuple[dict[str, list[Any]], dict[str, Any] | None]:
    """The memo's file entries and walk, or none if it is missing, damaged, of another
    version or machine."""
    try:
        with open(path, "rb") as handle:
            memo = json.loads(handle.read())
    except (OSError, ValueError, RecursionError):
        return {}, None
    if (
        not isinstance(memo, dict)
        or memo.get("detzip-stat-memo") != VERSION
        or memo.get("scope") != machine
        or not isinstance(memo.get("files"), dict)
    ):
        return {}, None
    files: dict[str, list[Any]] = memo["files"]  # each entry is checked when it is used
    tree = memo.get("tree")
    return files, tree if _valid_tree(tree) else None


def _valid_tree(tree: object) -> bool:
    """Whether ``tree`` has a walk's shape (its values are checked as they are used)."""
    return (
        isinstance(tree, dict)
        and type(tree.get("walked")) is int
        and all(isinstance(tree.get(k), list) for k in ("dirs", "files", "empty", "skipped"))
        and all(isinstance(name, str) for name in (*tree["empty"], *tree["skipped"]))
    )


def _valid(entry: object) -> bool:
    """Whether a file entry has its shape (its stat is compared with a real one's integers)."""
    return (
        type(entry) is list
        and len(entry) in (7, 8)
        and type(entry[5]) is str
        and len(entry[5]) == 64
        and type(entry[6]) is int
    )


def memo_name(root: Path, describe: Mapping[str, Any]) -> str:
    """The memo file's name for a tree at ``root`` walked as ``describe`` says."""
    payload = json.dumps([os.path.abspath(root), describe], sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:32]
