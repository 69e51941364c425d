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
from typing import BinaryIO

from detzip.errors import DetzipError, Setting

__all__ = [
    "INCOMING",
    "TEMP_SUFFIX",
    "atomic_output",
    "copy_file",
    "fsync_dir",
    "is_dead",
    "prepare_output",
    "replacing",
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


def prepare_output(path: Path) -> Path:
    """Check that ``path`` can be written as a file and create its parent directories."""
    if path.is_dir():
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


@contextlib.contextmanager
def _committed(fd: int, temp: str, path: Path, *, durable: bool) -> Iterator[BinaryIO]:
    """Write through ``fd`` (which holds the temporary's lock), then rename it to ``path``
    before letting go of the lock; ``durable`` also fsyncs the file and then its folder."""
    try:
        with os.fdopen(fd, "wb", buffering=_CHUNK) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
            os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
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
