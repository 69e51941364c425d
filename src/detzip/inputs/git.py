"""git's view of a source folder: what each tracked file is as git stores it.

One commit must give one zip on every OS. A checkout is not the commit: Git for Windows writes
text files with CRLF (``core.autocrlf``, ``core.eol``, ``text`` attributes), a file system without
exec bits (``core.fileMode=false``) or without symlinks (``core.symlinks=false``) loses them, and
macOS may hand back decomposed (NFD) names. git's index is the truth for a tracked file, so in a
git work tree:

- its **mode** comes from the index: ``100755`` is executable, ``100644`` is not, ``120000`` is a
  link (followed as links are, even where the checkout wrote it as a text file);
- its **content** is the clean form, what ``git add`` would store: the working file's bytes when
  they are the index's blob (the common case, checked by hashing them as git does), else what
  ``git hash-object`` makes of the working file (the committed LF for a CRLF checkout, or an
  uncommitted edit in its clean form) — but files under a filter driver (git-lfs) keep their
  working bytes, the real content that their stored pointer stands for.

Everything is asked of the ``git`` command (a subprocess, like pip): nothing of git's attributes,
config or index format is reimplemented. Untracked files, folders outside a work tree, and
machines without ``git`` are read from the file system as they are (``-v`` says which).

:func:`commit_tree` reads a commit's tree instead (``--from-git REV``): its blobs, modes and links,
whatever the working tree holds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, NamedTuple

from detzip import _log as log
from detzip.errors import DetzipError, literal
from detzip.zip.names import nfc

__all__ = [
    "EXECUTABLE",
    "LINK",
    "REGULAR",
    "SUBMODULE",
    "CommitFile",
    "GitTree",
    "Tracked",
    "commit_tree",
    "export_blobs",
    "open_git",
]

REGULAR, EXECUTABLE, LINK, SUBMODULE = 0o100644, 0o100755, 0o120000, 0o160000

_CHUNK = 1 << 20


class Tracked(NamedTuple):
    """A path in git's index: its mode and its blob's object id."""

    mode: int
    oid: str

    @property
    def is_link(self) -> bool:
        """A symlink (``120000``)."""
        return self.mode == LINK

    @property
    def is_file(self) -> bool:
        """A regular file (``100644`` or ``100755``)."""
        return self.mode in (REGULAR, EXECUTABLE)

    @property
    def executable(self) -> bool:
        """A file git stores executable (``100755``)."""
        return self.mode == EXECUTABLE


class GitTree:
    """git's index for the files under one folder of a work tree, by each file's real path."""

    def __init__(
        self,
        top: Path,
        objects: Path,
        object_format: str,
        files: dict[str, Tracked],
        stamp: list[str],
        *,
        filemode: bool = True,
        commit: str = "",
    ) -> None:
        self.top = top
        self.objects = objects
        self.object_format = object_format
        self.files = files
        self.stamp = stamp
        self.filemode = filemode  # core.fileMode: whether git itself minds exec bits here
        self.commit = commit  # (a commit's tree: its id)

    def tracked(self, real: str | os.PathLike[str]) -> Tracked | None:
        """What the index holds for the file at the real path ``real`` (None: untracked)."""
        return self.files.get(nfc(os.fspath(real)))

    def hashes(self, path: str | os.PathLike[str]) -> tuple[str, str]:
        """The file's sha256 and its git blob id, from one read (``OSError`` if unreadable)."""
        return blob_hashes(path, self.object_format)

    def clean(self, paths: Iterable[Path], into: Path) -> dict[Path, tuple[str, Path, str]]:
        """Each file's clean form — what ``git add`` would store — as (blob id, a copy of its
        bytes in the folder ``into``, their sha256). Objects git makes go to a private object
        folder in ``into``; the repository is only read."""
        wanted = list(paths)
        if not wanted:
            return {}
        objects = into / "objects"
        objects.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "GIT_OBJECT_DIRECTORY": str(objects),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(self.objects),
        }
        names = [os.path.relpath(p, self.top) for p in wanted]
        out = _ask(
            self.top,
            ["hash-object", "-w", "--stdin-paths"],
            stdin=b"".join(os.fsencode(name) + b"\n" for name in names),
            env=env,
        )
        oids = out.decode().split()
        if len(oids) != len(wanted):
            raise DetzipError(
                f"git hash-object gave {len(oids)} ids for {len(wanted)} files", self.top
            )
        copies = _export(self.top, oids, into, env)
        return {p: (oid, *copies[oid]) for p, oid in zip(wanted, oids, strict=True)}

    def filtered(self, paths: Iterable[Path]) -> set[Path]:
        """Which of ``paths`` a filter driver (git-lfs, …) stores in another form."""
        wanted = list(paths)
        if not wanted:
            return set()
        names = [os.path.relpath(p, self.top) for p in wanted]
        out = _ask(
            self.top,
            ["check-attr", "-z", "--stdin", "filter"],
            stdin=b"".join(os.fsencode(n) + b"\0" for n in names),
        )
        fields = out.split(b"\0")
        by_name = dict(zip(names, wanted, strict=True))
        found = set()
        for i in range(0, len(fields) - 2, 3):
            value = fields[i + 2].decode()
            if value not in ("unspecified", "unset", ""):
                found.add(by_name[os.fsdecode(fields[i])])
        return found

    def blob(self, oid: str) -> bytes:
        """A blob's bytes, as the repository stores them."""
        return _ask(self.top, ["cat-file", "blob", oid])


def blob_hashes(path: str | os.PathLike[str], object_format: str) -> tuple[str, str]:
    """A file's sha256 and its git blob id (``object_format``: sha1 or sha256), from one read."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        content = hashlib.sha256()
        blob = hashlib.new(object_format, b"blob %d\0" % size)
        read = 0
        while chunk := handle.read(_CHUNK):
            content.update(chunk)
            blob.update(chunk)
            read += len(chunk)
    if read != size:  # changed while read: no blob id can be right
        return content.hexdigest(), ""
    return content.hexdigest(), blob.hexdigest()


def open_git(folder: Path) -> GitTree | None:
    """git's view of ``folder`` if it is in a git work tree with tracked files, else None
    (no ``git`` on PATH, not a work tree, nothing tracked: the file system is the truth)."""
    if not folder.is_dir():  # (the walk says so)
        return None
    if shutil.which("git") is None:
        log.info("%s: git is not on PATH: files are packed as the file system has them", folder)
        return None
    try:
        out = _git(
            folder,
            ["rev-parse", "--is-inside-work-tree", "--show-toplevel", "--show-object-format",
             "--git-path", "objects", "--git-path", "index", "--git-common-dir"],
        ).decode().splitlines()  # fmt: skip
    except _GitFailed as exc:
        if "not a git repository" not in exc.stderr:
            from detzip.errors import warn

            warn(
                f"git cannot read this folder's repository ({exc.stderr.strip()[:200]}); "
                "its files are packed as the file system has them, which can differ between "
                "checkouts",
                folder,
            )
        else:
            log.info("%s: not in a git work tree: files are packed as they are", folder)
        return None
    if len(out) != 6 or out[0] != "true":
        log.info("%s: not in a git work tree: files are packed as they are", folder)
        return None
    top = Path(os.path.realpath(out[1]))
    objects, index, common = (Path(folder, p) for p in out[3:6])  # relative ones are to folder
    files = _index(folder, top)
    if not files:
        log.info("%s: nothing under it is tracked by git: files are packed as they are", folder)
        return None
    config = _config(folder)
    stamp = [str(index), *(p for p in _config_files(common) if os.path.exists(p))]
    stamp += [p for p in _attributes_files(Path(os.path.realpath(folder)), top, common, files)]
    log.info("%s: in git's work tree %s: tracked files are packed as git stores them", folder, top)
    return GitTree(
        top,
        Path(os.path.abspath(objects)),
        out[2],
        files,
        stamp,
        filemode=config.get("core.filemode", True),
    )


def _index(folder: Path, top: Path) -> dict[str, Tracked]:
    """The index's entries under ``folder`` (stage 0), by real path in NFC."""
    out = _git(folder, ["ls-files", "--stage", "-z", "--full-name", "--", "."])
    files: dict[str, Tracked] = {}
    base = str(top)
    for record in out.split(b"\0"):
        if not record:
            continue
        head, _, name = record.partition(b"\t")
        mode, oid, stage = head.split(b" ")
        if stage != b"0":  # an unresolved merge: the working file is what there is
            continue
        files[nfc(base + "/" + os.fsdecode(name))] = Tracked(int(mode, 8), oid.decode())
    return files


def _config(folder: Path) -> dict[str, bool]:
    try:
        out = _git(folder, ["config", "-z", "--type=bool", "--get-regexp", r"^core\.filemode$"])
    except _GitFailed:  # (none set: exit 1)
        return {}
    found = {}
    for record in out.split(b"\0"):
        key, _, value = record.decode().partition("\n")
        if key:
            found[key.lower()] = value == "true"
    return found


def _config_files(common: Path) -> list[str]:
    """The config files that can change how git cleans a file (repo, user, system)."""
    home = os.environ.get("HOME", "")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files = [str(common / "config"), str(common / "info" / "attributes")]
    files += [os.environ.get("GIT_CONFIG_GLOBAL") or os.path.join(home, ".gitconfig")]
    files += [os.path.join(xdg, "git", "config"), os.path.join(xdg, "git", "attributes")]
    return [os.path.abspath(f) for f in files if f]


def _attributes_files(
    folder: Path, top: Path, common: Path, files: Mapping[str, Tracked]
) -> list[str]:
    """The ``.gitattributes`` that apply to ``folder``'s files: its ancestors' up to the work
    tree's top, and the tracked ones inside it."""
    found = [p for p in files if p.endswith("/.gitattributes")]
    here = folder
    while here.is_relative_to(top):
        candidate = here / ".gitattributes"
        if os.path.exists(candidate):
            found.append(str(candidate))
        if here == top:
            break
        here = here.parent
    return sorted(set(found))


class CommitFile(NamedTuple):
    """A blob of a commit's tree: its path under the folder, mode and object id."""

    path: str
    mode: int
    oid: str


def commit_tree(folder: Path, rev: str) -> tuple[GitTree, list[CommitFile]]:
    """The files of commit ``rev`` under ``folder`` (paths relative to it), as git stores them."""
    if shutil.which("git") is None:
        raise DetzipError(f"from_git {literal(rev)} needs git on PATH; install git", folder)
    try:
        asked = ["rev-parse", "--show-toplevel", "--show-object-format", "--git-path", "objects"]
        out = _git(folder, [*asked, "--show-prefix"]).decode().splitlines()
    except _GitFailed as exc:
        raise DetzipError(
            f"from_git needs a git repository ({exc.stderr.strip()[:200]}); build from the "
            "repository's folder or drop from_git",
            folder,
        ) from None
    if len(out) < 3:
        raise DetzipError("from_git needs a git work tree; build from a checkout", folder)
    top, object_format, objects = Path(os.path.realpath(out[0])), out[1], Path(folder, out[2])
    prefix = out[3] if len(out) > 3 else ""
    try:
        commit = (
            _git(folder, ["rev-parse", "--verify", "--end-of-options", rev + "^{commit}"])
            .decode()
            .strip()
        )
    except _GitFailed:
        raise DetzipError(
            f"from_git: {literal(rev)} is not a commit of this repository; give a commit, "
            "branch or tag that `git rev-parse` knows (fetch it first in a shallow clone)",
            folder,
        ) from None
    listing = _git(folder, ["ls-tree", "-r", "-z", "--full-tree", commit, "--", prefix or "."])
    files = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        head, _, name = record.partition(b"\t")
        mode, _kind, oid = head.split(b" ")
        path = os.fsdecode(name)
        if prefix and not path.startswith(prefix):
            continue
        files.append(CommitFile(path[len(prefix) :], int(mode, 8), oid.decode()))
    git = GitTree(top, Path(os.path.abspath(objects)), object_format, {}, [], commit=commit)
    return git, files


def export_blobs(top: Path, oids: Iterable[str], into: Path) -> dict[str, tuple[Path, str]]:
    """Each blob of the repository at ``top`` copied into the folder ``into``: (its file, its
    sha256)."""
    return _export(top, list(oids), into, os.environ)


def _export(
    top: Path, oids: list[str], into: Path, env: Mapping[str, str]
) -> dict[str, tuple[Path, str]]:
    """``git cat-file --batch``: each object's bytes into a file of ``into`` (streamed: memory
    stays flat whatever the sizes), with its sha256."""
    unique = list(dict.fromkeys(oids))
    found: dict[str, tuple[Path, str]] = {}
    if not unique:
        return found
    blobs = into / "blobs"
    blobs.mkdir(exist_ok=True)
    import threading

    with subprocess.Popen(
        ["git", "cat-file", "--batch"],
        cwd=top,
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # (a missing object is said on stdout, and checked below)
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        # The requests are written while the answers are read: written first, a long list
        # fills git's input pipe while git waits for its full output pipe to be read (a
        # deadlock from about 1,500 files on).
        writer = threading.Thread(
            target=_request, args=(process.stdin, unique), name="detzip-git", daemon=True
        )
        writer.start()
        for oid in unique:
            header = process.stdout.readline().decode().split()
            if len(header) != 3 or header[1] != "blob":
                process.kill()
                raise DetzipError(f"git cannot read object {oid} ({' '.join(header)})", top)
            path = blobs / oid
            digest = _copy(process.stdout, int(header[2]), path)
            process.stdout.read(1)  # the newline after each object
            found[oid] = (path, digest)
        writer.join()
        process.wait()
    return found


def _request(stdin: IO[bytes], oids: list[str]) -> None:
    """Write ``git cat-file --batch``'s requests, then close its input (a git that stopped
    reading, killed on an error, ends this too)."""
    try:
        for start in range(0, len(oids), 512):
            stdin.write("".join(oid + "\n" for oid in oids[start : start + 512]).encode())
        stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass


def _copy(stream: IO[bytes], size: int, path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = stream.read(min(left, _CHUNK))
            if not chunk:
                raise DetzipError("git cat-file ended early", path)
            sha.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return sha.hexdigest()


def _ask(
    cwd: Path, args: list[str], *, stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> bytes:
    """git's output; a failure is a :class:`DetzipError` naming the folder and git's words."""
    try:
        return _git(cwd, args, stdin=stdin, env=env)
    except _GitFailed as exc:
        said = exc.stderr.strip().splitlines()
        raise DetzipError(
            f"git {args[0]} failed ({said[-1][:200] if said else 'no message'}); fix the "
            "repository (see `git status`) or build outside git",
            cwd,
        ) from None


class _GitFailed(Exception):
    def __init__(self, stderr: str) -> None:
        super().__init__(stderr)
        self.stderr = stderr


def _git(
    cwd: Path, args: list[str], *, stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> bytes:
    """git's output (:class:`_GitFailed` with its message if it fails)."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            env=dict(env) if env is not None else {**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
            check=False,
        )
    except OSError as exc:
        raise _GitFailed(str(exc)) from None
    if done.returncode != 0:
        raise _GitFailed(done.stderr.decode("utf-8", "replace"))
    return done.stdout
