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

A hit of a big tree reads little: the memo file holds a *check* section (each listed folder's
stat, each file's stat grouped by folder, the walk's fingerprint) and a *detail* section (each
file's digest, the walk's items, what git said). While every folder and file has its
remembered stat, the walk's items and fingerprint are the remembered ones: each file is
stat'ed by name in its folder (opened once), and the detail is never decoded. Both sections'
sha256s are in the header and checked before either is decoded (``marshal``, fast, is only
ever given the bytes a memo was written with): a damaged memo is ignored like a missing one.

The digests are only a shortcut to the key: the writer still hashes every byte it zips and
refuses a file whose bytes are not the keyed ones (and the memo is then forgotten).
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import stat
import struct
import time
from array import array
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from detzip._fs import write_file
from detzip._memo import GitFiles, Remembered, Snapshot
from detzip.cache.keys import sha256

__all__ = [
    "RACY_NS",
    "VERSION",
    "StatMemo",
    "memo_name",
    "read_memo",
    "scope",
    "stat_of",
    "write_memo",
]

#: the memo file's format; another version is ignored (2: git's index in the walk, blob ids;
#: the default excludes grew, so a walk remembered by 1 may hold files now left out; 3: binary,
#: a check section a hit reads, the walk's items and fingerprint remembered)
VERSION = 3
#: how old a file's mtime and ctime must be, against the start of its hashing, for its digest
#: to be trusted: coarser than any filesystem's timestamps (FAT's 2 s) and small clock skews
RACY_NS = 2_000_000_000

NeverPack = Collection[tuple[int, int]]
"""(device, inode) of what is never packed: the output, the cache"""

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
    _SCOPE.append(sha256("\0".join(parts).encode("utf-8", "replace")).hexdigest())
    return _SCOPE[0]


_SCOPE: list[str] = []  # this process's, once read


def _host() -> str:
    uname = getattr(os, "uname", None)
    if uname is not None:
        return str(uname().nodename)
    return os.environ.get("COMPUTERNAME", "")  # pragma: no cover - Windows


class StatMemo:
    """The remembered digests of one source tree's files, and its last walk, in the file
    ``path``.

    :meth:`snapshot` gives the remembered walk while nothing in it changed; :meth:`digest`
    answers from the memo when it may, else reads and hashes the file; :meth:`save` writes what
    this build learnt; :meth:`forget` removes the file.
    """

    def __init__(
        self, path: Path, *, machine: str | None = None, keep_unseen: bool = False
    ) -> None:
        self.path = path
        self.keep_unseen = keep_unseen  # a memo of many builds' files (outputs): keep them all
        self.machine = machine if machine is not None else scope()
        self.started = time.time_ns()  # before any file is read: the racy rule's reference
        self._check, self._detail = _load(path, self.machine)
        self._known: dict[str, list[Any]] = {}
        self._tree: dict[str, Any] | None = None
        self._seen: dict[str, list[Any]] = {}
        self._read = False  # the detail section decoded (see :meth:`_decode`)
        self._quiet = False  # the remembered walk held as it is: nothing learnt, nothing to save
        self.changed = False

    def _decode(self) -> None:
        """Decode the detail section (each file's digest, the walk's items) once, when first
        needed: a hit whose walk held as it is never needs it."""
        if self._read:
            return
        self._read = True
        self._known, self._tree = _load_detail(self._detail)
        self._detail = None
        self._seen = dict(self._known) if self.keep_unseen else {}

    @property
    def known(self) -> dict[str, list[Any]]:
        """The remembered files: archive name → [size, mtime_ns, ctime_ns, inode, device,
        sha256, when its hashing began (, git blob id)]."""
        self._decode()
        return self._known

    @property
    def tree(self) -> dict[str, Any] | None:
        """The remembered walk (None: none, or not to be trusted)."""
        self._decode()
        return self._tree

    @property
    def seen(self) -> dict[str, list[Any]]:
        """What this build found of the files (saved by :meth:`save`)."""
        self._decode()
        return self._seen

    def snapshot(self, never_pack: Collection[tuple[int, int]]) -> Snapshot | None:
        """The tree as the last walk found it — (archive name, executable, sha256, path, size)
        for each file, (name, False, None, "", 0) for each empty folder — if no folder it
        listed (or left out as a virtualenv) has changed since (their stat unchanged, and
        settled when the walk began: a file added, removed or renamed changes its folder's
        mtime), none is now one to leave out, and what it left out as detzip's own
        (``never_pack``: the output, the cache) still is. Each file is stat'ed now: while every
        one has its remembered stat (and was settled when hashed), the walk's items and
        fingerprint are the remembered ones, and nothing more is read; else each digest is
        taken as :meth:`digest` does and its exec bit from that stat. None: walk the tree
        again.
        """
        check = self._check
        if check is not None and _unchanged(check, never_pack):
            self._quiet = True
            return Snapshot(
                self._remembered, check["fingerprint"], self._remembered_git, check["top"]
            )
        items = self._restat(never_pack)
        if items is None:
            return None
        tree = self.tree
        assert tree is not None
        tree["items"], tree["fingerprint"] = items, None  # (a fresh check section when saved)
        self.changed = True
        return Snapshot(lambda: items, None, self._remembered_git)

    def _remembered(self) -> list[Remembered]:
        tree = self.tree
        assert tree is not None  # (a check section is only written with its walk)
        return [tuple(item) for item in tree["items"]]

    def _remembered_git(self) -> GitFiles | None:
        """What :meth:`walked` was told of git, for the remembered walk."""
        git = None if self.tree is None else self.tree.get("git")
        if git is None:
            return None
        return str(git["top"]), {k: (bool(v[0]), v[1], str(v[2])) for k, v in git["files"].items()}

    def _restat(self, never_pack: Collection[tuple[int, int]]) -> list[Remembered] | None:
        """The remembered walk with each file stat'ed now and its digest taken as
        :meth:`digest` does (None: walk again)."""
        tree = self.tree
        if tree is None:
            return None
        try:
            walked = tree["walked"]
            if not _folders_unchanged(tree["dirs"], tree["skipped"], walked, never_pack):
                return None
            items: list[Remembered] = []
            known, seen = self.known, self.seen
            git = tree.get("git")
            tracked: dict[str, list[Any]] = {} if git is None else git["files"]
            for item in tree["items"]:  # (the hot loop: digest() inlined)
                name, _, sha, path, _ = item
                if type(name) is not str or type(path) is not str:
                    return None
                if sha is None:  # an empty folder
                    items.append((name, False, None, "", 0))
                    continue
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
        except (OSError, ValueError, TypeError, KeyError):  # gone, unreadable, or not a memo
            return None
        return items

    def walked(self, folders: Iterable[tuple[str, os.stat_result]], items: list[Remembered],
               skipped: Iterable[str] = (), git: GitFiles | None = None) -> None:  # fmt: skip
        """Remember a whole walk: the ``folders`` it listed or left out for what they hold
        (path, stat), its ``items`` (as :meth:`snapshot` gives them: each file's working path,
        whose digest :meth:`digest` or :meth:`hashes` took), the paths ``skipped`` as detzip's
        own (the output, the cache), and what ``git``'s index said of the tracked files (its
        index and config among the folders)."""
        self._decode()
        self._tree = {
            "walked": self.started,
            "dirs": [[path, *stat_of(info)] for path, info in folders],
            "items": sorted(items),
            "skipped": sorted(skipped),
            "fingerprint": None,
        }
        if git is not None:
            self._tree["git"] = {"top": git[0], "files": {k: list(v) for k, v in git[1].items()}}
        self._quiet = False
        self.changed = True

    def fingerprinted(self, fingerprint: dict[str, object]) -> None:
        """Remember the fingerprint of the walk's items (as :meth:`snapshot` or :meth:`walked`
        last gave them), given back while the walk holds."""
        if self._quiet:
            return  # (remembered already, with the walk it is of)
        tree = self.tree
        if tree is not None and tree.get("fingerprint") != fingerprint:
            tree["fingerprint"] = dict(fingerprint)
            self.changed = True

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
            digest = _file_digest(handle)
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
        if self._quiet and not self.changed:
            return  # the remembered walk held as it is
        if not self.changed and (self.keep_unseen or len(self.seen) == len(self.known)):
            return
        files = self.seen
        if self.keep_unseen and len(files) > _MOST:  # the most recently hashed half
            recent = sorted(files, key=lambda n: _hashed(files[n]), reverse=True)[: _MOST // 2]
            files = {name: files[name] for name in recent}
        with contextlib.suppress(OSError, ValueError):  # (ValueError: not marshallable)
            write_file(self.path, _encode(self.machine, files, self.tree))
            self.changed = False  # (kept: a memo used again saves only what it learns next)

    def forget(self) -> None:
        """Remove the memo: a file it vouched for had other bytes (edited in a way its stat
        did not show, or during the build). The next build hashes every file."""
        self._read, self._detail, self._check = True, None, None
        self._known, self._tree, self._quiet = {}, None, False
        with contextlib.suppress(OSError):
            self.path.unlink()


#: the most files a memo keeps (an outputs memo collects every output ever checked)
_MOST = 100_000

#: the file: this line, then :data:`_HEAD` (the format's version, the scope it is valid in,
#: the two sections' lengths and sha256s), then the check section and the detail section
_MAGIC = b"detzip-stat-memo\n"
_HEAD = struct.Struct("<I64sQQ32s32s")
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _hashed(entry: object) -> int:
    return entry[6] if _valid(entry) else 0  # type: ignore[index]


def _settled(now: Stat, hashed: int) -> bool:
    """Whether a file with this stat, hashed starting at ``hashed``, was older than the racy
    window then: a later edit within the same timestamp tick cannot hide behind its stat."""
    return max(now[1], now[2]) + RACY_NS <= hashed


def _folders_unchanged(
    dirs: Iterable[Any], skipped: Iterable[Any], walked: int, never_pack: NeverPack
) -> bool:
    """Whether every folder the walk listed has its remembered stat, settled when the walk
    began, and is not now one to leave out; and what it left out as detzip's own still is."""
    for path, *remembered in dirs:
        if type(path) is not str:  # an int would be taken for a file descriptor
            return False
        now = stat_of(os.stat(path))
        if now != tuple(remembered) or not _settled(now, walked):
            return False
        if (now[4], now[3]) in never_pack:  # (device, inode): now one to leave out
            return False
    for path in skipped:  # left out as detzip's own: must still be
        try:
            info = os.stat(path)
        except FileNotFoundError:
            continue  # gone (its folder's listing changed too)
        if (info.st_dev, info.st_ino) not in never_pack:
            return False
    return True


def _unchanged(check: dict[str, Any], never_pack: Collection[tuple[int, int]]) -> bool:
    """Whether the walk the check section describes holds as it is: its folders unchanged
    (:func:`_folders_unchanged`), and every file with its remembered stat, none now one to
    leave out. Each file is stat'ed by name in its folder (opened once) where the platform
    can."""
    try:
        if not _folders_unchanged(check["dirs"], check["skipped"], check["walked"], never_pack):
            return False
        inodes = {inode for _, inode in never_pack}
        by_folder = os.stat in os.supports_dir_fd
        stat_ = os.stat
        for folder, names, sizes, identities in check["groups"]:
            now: list[int] = []
            ids: list[int] = []
            keep, keep_id = now.append, ids.append
            if by_folder:
                fd = os.open(folder, _DIRECTORY)
                try:
                    for name in names.split("\0"):
                        info = stat_(name, dir_fd=fd)
                        keep(info.st_size)
                        keep(info.st_mtime_ns)
                        keep(info.st_ctime_ns)
                        keep_id(info.st_ino)
                        keep_id(info.st_dev)
                finally:
                    os.close(fd)
            else:  # pragma: no cover - Windows
                for name in names.split("\0"):
                    info = stat_(os.path.join(folder, name))
                    now += (info.st_size, info.st_mtime_ns, info.st_ctime_ns)
                    ids += (info.st_ino, info.st_dev)
            if array("q", now).tobytes() != sizes or array("Q", ids).tobytes() != identities:
                return False
            if inodes and any(
                (ids[i + 1], ids[i]) in never_pack
                for i in range(0, len(ids), 2)
                if ids[i] in inodes
            ):
                return False
    except (OSError, ValueError, TypeError, KeyError, OverflowError):
        return False
    return True


def _check_of(files: dict[str, list[Any]], tree: dict[str, Any]) -> dict[str, Any] | None:
    """The check section of a walk: its folders, and each file's stat grouped by folder (the
    items' paths), with the remembered fingerprint; None unless every file's digest is
    remembered and was settled when taken, and git has no say the walk must ask it again."""
    git = tree.get("git")
    if git is not None and any(v[1] is None for v in git["files"].values()):
        return None  # an uncommitted edit git cleans: git must be asked again
    groups: dict[str, tuple[list[str], list[int], list[int]]] = {}
    top: dict[str, bool] = {}
    for name, executable, sha, path, _ in tree["items"]:
        if sha is None:
            continue
        if "/" not in name:
            top[name] = bool(executable)
        entry = files.get(name)
        if entry is None or not _valid(entry) or not _settled(tuple(entry[:5]), entry[6]):
            return None
        folder, base = os.path.split(path)
        if not folder or not base or "\0" in base:
            return None
        names, sizes, ids = groups.setdefault(folder, ([], [], []))
        names.append(base)
        sizes += entry[0:3]
        ids += entry[3:5]
    return {
        "walked": tree["walked"],
        "dirs": [tuple(d) for d in tree["dirs"]],
        "skipped": list(tree["skipped"]),
        "groups": [
            (folder, "\0".join(names), array("q", sizes).tobytes(), array("Q", ids).tobytes())
            for folder, (names, sizes, ids) in groups.items()
        ],
        "fingerprint": tree.get("fingerprint"),
        "top": top,
    }


def _encode(
    machine: str, files: dict[str, list[Any]], tree: dict[str, Any] | None, validate: bool = True
) -> bytes:
    """The memo file's bytes (see :data:`_MAGIC`); a walk without its shape is left out (unless
    not ``validate``: a test's damage, written as it is)."""
    if validate and tree is not None and not _valid_tree(tree):
        tree = None
    check = None
    if tree is not None:
        with contextlib.suppress(ValueError, TypeError, KeyError, OverflowError, AttributeError):
            check = _check_of(files, tree)
    detail = marshal.dumps({"files": files, "tree": tree}, 4)
    head = marshal.dumps(check, 4)
    return b"".join(
        (
            _MAGIC,
            _HEAD.pack(
                VERSION,
                machine.encode("ascii"),
                len(head),
                len(detail),
                sha256(head).digest(),
                sha256(detail).digest(),
            ),
            head,
            detail,
        )
    )


def _load(path: Path, machine: str) -> tuple[dict[str, Any] | None, memoryview | None]:
    """The memo's check section (None: none to trust) and its detail section's bytes (None:
    no memo), or nothing if it is missing, damaged, of another version or machine. Both
    sections' sha256s are checked before anything is decoded: marshal is only ever given the
    bytes a memo was written with."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None, None
    start = len(_MAGIC) + _HEAD.size
    if not data.startswith(_MAGIC) or len(data) < start:
        return None, None
    version, where, checked, detailed, check_sha, detail_sha = _HEAD.unpack_from(data, len(_MAGIC))
    if (
        version != VERSION
        or where != machine.encode("ascii", "replace")
        or len(data) != start + checked + detailed
    ):
        return None, None
    view = memoryview(data)
    head, detail = view[start : start + checked], view[start + checked :]
    if sha256(head).digest() != check_sha or sha256(detail).digest() != detail_sha:
        return None, None
    try:
        check = marshal.loads(head)
    except (ValueError, EOFError, TypeError):
        check = None
    return (check if _valid_check(check) else None), detail


def _load_detail(detail: memoryview | None) -> tuple[dict[str, list[Any]], dict[str, Any] | None]:
    """The detail section's file entries and walk (checked by :func:`_load`)."""
    if detail is None:
        return {}, None
    try:
        memo = marshal.loads(detail)
    except (ValueError, EOFError, TypeError):
        return {}, None
    if not isinstance(memo, dict) or not isinstance(memo.get("files"), dict):
        return {}, None
    files: dict[str, list[Any]] = memo["files"]  # each entry is checked when it is used
    tree = memo.get("tree")
    return files, tree if _valid_tree(tree) else None


def _valid_check(check: object) -> bool:
    return (
        isinstance(check, dict)
        and type(check.get("walked")) is int
        and all(isinstance(check.get(k), list) for k in ("dirs", "skipped", "groups"))
        and (check.get("fingerprint") is None or isinstance(check["fingerprint"], dict))
        and isinstance(check.get("top"), dict)
    )


def _valid_tree(tree: object) -> bool:
    """Whether ``tree`` has a walk's shape (its values are checked as they are used)."""
    return (
        isinstance(tree, dict)
        and type(tree.get("walked")) is int
        and all(isinstance(tree.get(k), list) for k in ("dirs", "items", "skipped"))
        and all(isinstance(name, str) for name in tree["skipped"])
        and all(
            isinstance(item, list | tuple)
            and len(item) == 5
            and type(item[0]) is str
            and type(item[1]) is bool
            and (item[2] is None or (type(item[2]) is str and len(item[2]) == 64))
            and type(item[3]) is str
            and type(item[4]) is int
            for item in tree["items"]
        )
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


def read_memo(path: Path) -> dict[str, Any]:
    """The memo at ``path`` as one mapping (``detzip-stat-memo``: its version, ``scope``,
    ``files``, ``tree``), for inspection and tests; empty if it is not a memo of this format
    whose sha256s hold."""
    try:
        data = path.read_bytes()
        _, where, *_ = _HEAD.unpack_from(data, len(_MAGIC))
    except (OSError, struct.error):
        return {}
    machine = where.decode("ascii", "replace")
    check, detail = _load(path, machine)
    if detail is None:
        return {}
    files, tree = _load_detail(detail)
    return {"detzip-stat-memo": VERSION, "scope": machine, "files": files, "tree": tree,
            "check": check}  # fmt: skip


def write_memo(path: Path, memo: Mapping[str, Any]) -> None:
    """Write ``memo`` (as :func:`read_memo` gives it, whatever its values: for tests that
    damage one) in this format, with a check section if its walk allows one."""
    write_file(path, _encode(str(memo["scope"]), memo["files"], memo.get("tree"), validate=False))


def memo_name(root: Path, describe: Mapping[str, Any]) -> str:
    """The memo file's name for a tree at ``root`` walked as ``describe`` says."""
    payload = json.dumps([os.path.abspath(root), describe], sort_keys=True, default=str).encode()
    return sha256(payload).hexdigest()[:32]


def _file_digest(handle: Any) -> str:
    """The sha256 (hex) of a file being remembered: hashlib's (OpenSSL), imported only when a
    file is read (a hit whose memo holds reads none)."""
    import hashlib

    return hashlib.file_digest(handle, "sha256").hexdigest()
