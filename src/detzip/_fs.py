"""Atomic writes: a path only ever holds a complete file.

Every file detzip writes — an output zip, a cache entry, a stored wheel, a memo — is written to a
temporary file in the same folder and renamed over its path when complete. If anything fails (or
the process is killed) the path keeps what it held; on an exception the temporary file is removed.
Temporary files end in :data:`TEMP_SUFFIX` (cache folders also start them with ``.incoming-``), so
``detzip cache prune`` and the source-tree walk can recognise them.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from detzip.errors import DetzipError, Setting, literal

__all__ = [
    "INCOMING",
    "TEMP_SUFFIX",
    "NeverPack",
    "atomic_output",
    "check_output_name",
    "copy_file",
    "fsync_dir",
    "is_dead",
    "never_pack",
    "prepare_output",
    "publish",
    "regular_file",
    "replacing",
    "staged_output",
    "staging",
    "sweep",
    "temporary",
    "write_bytes",
    "write_file",
]

TEMP_SUFFIX = ".detzip-tmp"
#: the prefix of temporary files inside the cache
INCOMING = ".incoming-"
_CHUNK = 1 << 20


def temporary(folder: Path, prefix: str) -> tuple[int, str]:
    """A new, empty file in ``folder`` named ``<prefix><pid>-<random><TEMP_SUFFIX>``: its open
    file descriptor, which holds an exclusive lock on it for as long as it is open, and its
    path. A temporary nobody holds locked belongs to a dead process: :func:`sweep` removes it.
    (This is :func:`tempfile.mkstemp` plus the lock, without importing tempfile and random
    on a cache hit's path.)"""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = f"{prefix}{os.getpid()}-{os.urandom(6).hex()}{TEMP_SUFFIX}"
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        _lock(fd)
        return fd, path
    raise FileExistsError(f"no free temporary name in {folder}")


def staging(folder: Path, prefix: str) -> Path:
    """A temporary path for a whole file built elsewhere and renamed here (no open handle to
    lock): ``<prefix><pid>.staged<TEMP_SUFFIX>``, dead once that process is."""
    return folder / f"{prefix}{os.getpid()}.staged{TEMP_SUFFIX}"


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: temporaries are only ever removed by their owner
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


_STAGED = re.compile(r"\.(\d+)\.staged" + re.escape(TEMP_SUFFIX) + "$")


def is_dead(path: Path) -> bool:
    """Whether the temporary ``path`` belongs to a process that is gone: its lock is free (or,
    for a staged file, its process id no longer runs). Never true for a live writer's file."""
    staged = _STAGED.search(path.name)
    if staged:
        try:
            os.kill(int(staged.group(1)), 0)
        except ProcessLookupError:
            return True
        except (OSError, OverflowError):
            return False  # alive under another user, or a number that is no process id
        return False
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: its writer is alive
    finally:
        os.close(fd)
    return True


def sweep(folder: Path, prefix: str) -> int:
    """Remove the temporaries named ``<prefix>…<TEMP_SUFFIX>`` in ``folder`` whose writers are
    dead (killed, or out of power); returns how many. A live writer's files are left alone."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(TEMP_SUFFIX)]
    except OSError:
        return 0
    removed = 0
    for name in names:
        path = folder / name
        if is_dead(path):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: what a temporary adds to an output's name, at most: ".NAME.<pid>.staged.detzip-tmp" and the
#: writer's ".<that>.<pid>-<12 hex>.detzip-tmp"
_TEMP_OVERHEAD = (
    len(".")
    + len(".4294967295.staged")
    + len(TEMP_SUFFIX)
    + len(".4294967295-000000000000")
    + len(TEMP_SUFFIX)
)


def regular_file(path: Path, what: str = "a zip file") -> Path:
    """``path``, if it is a regular file (not a folder, a FIFO or a device, which could block a
    reader forever); else a :class:`DetzipError` saying what to give instead."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DetzipError("no such file; check the path", path) from None
    except OSError as exc:
        raise DetzipError(f"cannot read ({exc.strerror}); check the path", path) from None
    if stat.S_ISDIR(mode):
        raise DetzipError(f"is a directory; give {what}", path)
    if not stat.S_ISREG(mode):
        raise DetzipError(f"is not a regular file (a pipe or a device); give {what}", path)
    return path


def check_output_name(path: Path) -> None:
    """Refuse an output path that is not UTF-8, or a file name too long to write beside a
    temporary (the file system's NAME_MAX, usually 255 bytes, less what a temporary name adds)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # (bytes that are not UTF-8, kept by Python as surrogates)
        raise DetzipError(
            "the path is not valid UTF-8, and the result, the cache's record and Terraform carry "
            "it as text; choose a UTF-8 {0}",
            literal(os.fsencode(path).decode("utf-8", "backslashreplace")),
            settings=[Setting("output")],
        ) from None
    name_max = 255
    with contextlib.suppress(OSError, ValueError, AttributeError):
        name_max = os.pathconf(path.parent if path.parent.is_dir() else ".", "PC_NAME_MAX")
    if len(os.fsencode(path.name)) + _TEMP_OVERHEAD > name_max:
        raise DetzipError(
            f"the file name is too long ({len(os.fsencode(path.name))} bytes; detzip needs room "
            f"for a temporary name beside it: at most {name_max - _TEMP_OVERHEAD}); choose a "
            "shorter {0}",
            literal(str(path)[:80] + "…"),
            settings=[Setting("output")],
        )


def prepare_output(path: Path) -> Path:
    """Check that ``path`` can be written as a file and create its parent directories."""
    check_output_name(path)
    try:
        directory = path.is_dir()
    except OSError as exc:
        raise DetzipError(
            f"cannot use this path ({exc.strerror}); choose another {{0}}",
            literal(str(path)[:80] + "…"),
            settings=[Setting("output")],
        ) from None
    if directory:
        raise DetzipError("the output path is a directory; give a file name such as out.zip", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable("create", exc, path) from None
    return path


def _unwritable(doing: str, exc: OSError, path: Path) -> DetzipError:
    return DetzipError(
        f"cannot {doing} the output directory ({exc.strerror}); choose another {{0}}",
        path,
        settings=[Setting("output")],
    )


class _UserOutput:
    """The user's output file: an :class:`OSError` while writing it (a full disk, a quota) is a
    :class:`DetzipError` naming it, not a traceback."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self._handle = handle
        self._path = path

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            raise _unwritable_file(exc, self._path) from None


def _unwritable_file(exc: OSError, path: Path) -> DetzipError:
    return DetzipError(
        f"cannot write the output ({exc.strerror}); free some space or choose another {{0}}",
        path,
        settings=[Setting("output")],
    )


@contextlib.contextmanager
def _committed(fd: int, temp: str, path: Path, *, durable: bool) -> Iterator[BinaryIO]:
    """Write through ``fd`` (which holds the temporary's lock), then rename it to ``path``
    before letting go of the lock. ``durable`` (the user's outputs) also fsyncs the file and
    then its folder, and turns an OSError of the file into a :class:`DetzipError`: the block
    must not let OSErrors of its own escape (an input it reads says so in a DetzipError)."""
    try:
        with os.fdopen(fd, "wb", buffering=_CHUNK) as handle:
            yield cast(BinaryIO, _UserOutput(handle, path)) if durable else handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
            os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if durable and isinstance(exc, OSError):  # a full disk, even while closing the file
            raise _unwritable_file(exc, path) from None
        raise


@contextlib.contextmanager
def replacing(path: Path, prefix: str = INCOMING) -> Iterator[BinaryIO]:
    """A binary file opened for writing, renamed to ``path`` when the block exits cleanly.

    For detzip's own folders: an :class:`OSError` is the caller's to handle.
    """
    fd, temp = temporary(path.parent, prefix)
    with _committed(fd, temp, path, durable=False) as handle:
        yield handle


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """Like :func:`replacing`, for a path the user named: a folder that cannot be made or
    written is a :class:`DetzipError` naming the ``output`` option, the file and the rename are
    fsynced (a power loss leaves the old file or the new one), and temporaries that killed
    runs left beside it are removed first."""
    prepare_output(path)
    # a hidden name keeps its dot: the temporary of a staged ".out.zip.…" is ".out.zip.…"
    hidden = path.name if path.name.startswith(".") else f".{path.name}"
    sweep(path.parent, f"{hidden}.")
    try:
        fd, temp = temporary(path.parent, f"{hidden}.")
    except OSError as exc:
        raise _unwritable("write in", exc, path) from None
    with _committed(fd, temp, path, durable=True) as handle:
        yield handle


@contextlib.contextmanager
def staged_output(output: Path) -> Iterator[Path]:
    """A path beside ``output`` for a zip made in steps — written, recorded, checked — and then
    put at ``output`` by :func:`publish`. Whatever the block does not publish is removed; an
    error about the staging file is about ``output`` to the user. Temporaries that killed runs
    left beside ``output`` are removed first."""
    prepare_output(output)
    sweep(output.parent, f".{output.name}.")
    staged = staging(output.parent, f".{output.name}.")
    try:
        yield staged
    except DetzipError as exc:  # the staging file is the user's output, to them
        raise (exc.about(output) if exc.path == str(staged) else exc) from None
    finally:
        with contextlib.suppress(OSError):
            staged.unlink()


def publish(staged: Path, output: Path) -> None:
    """Put the complete, fsynced ``staged`` file at ``output`` (a rename, then its folder
    fsynced: a power loss leaves the old file or the new one)."""
    os.replace(staged, output)
    fsync_dir(output.parent)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to the user's output ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as handle:
        handle.write(data)


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` in one of detzip's folders atomically, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as handle:
        handle.write(data)


def copy_file(source: Path, path: Path) -> None:
    """Copy ``source`` to ``path`` in one of detzip's folders atomically, creating the folder."""
    import shutil

    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as handle, open(source, "rb") as src:
        shutil.copyfileobj(src, handle, _CHUNK)


NeverPack = frozenset[tuple[int, int]]
"""The (device, inode) of detzip's own files and folders — the output, the cache folder, a
project's output folder — which no walk packs, however it reaches them."""


def never_pack(*paths: Path) -> NeverPack:
    """The :data:`NeverPack` of ``paths`` (those that exist)."""
    found = set()
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        found.add((info.st_dev, info.st_ino))
    return frozenset(found)
