"""Atomic writes: a path only ever holds a complete file.

Every file detzip writes — an output zip, a cache entry, a stored wheel, a memo — is written to a
temporary file in the same folder and renamed over its path when complete. If anything fails (or
the process is killed) the path keeps what it held; on an exception the temporary file is removed.
Temporary files end in :data:`TEMP_SUFFIX` (cache folders also start them with ``.incoming-``), so
``detzip cache prune`` and the source-tree walk can recognise them.

A temporary is closed before it is renamed (Windows renames no open file), so its writer's
liveness is not a lock on the temporary itself but on its lock file beside it (the same name
with ``~`` after the process id), held from before the temporary exists until after it is renamed
or removed: create and lock the lock file, create the temporary, write it, close it, rename it,
then let go of the lock and remove the lock file. A sweep removes a temporary only once it has
taken its lock file from a dead writer. What differs by system is in :mod:`detzip._platform`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from detzip import _platform
from detzip.errors import DetzipError, Setting, literal

__all__ = [
    "INCOMING",
    "TEMP_SUFFIX",
    "NeverPack",
    "atomic_output",
    "atomic_path",
    "check_output_name",
    "copy_file",
    "fsync_dir",
    "hold",
    "is_dead",
    "never_pack",
    "prepare_output",
    "publish",
    "regular_file",
    "release",
    "remove_if_dead",
    "replacing",
    "staged_output",
    "staging",
    "sweep",
    "temporary",
    "umask",
    "write_bytes",
    "write_file",
]

TEMP_SUFFIX = ".detzip-tmp"
#: the prefix of temporary files inside the cache
INCOMING = ".incoming-"
_CHUNK = 1 << 20


def temporary(folder: Path, prefix: str) -> tuple[int, str]:
    """A new, empty, closed file in ``folder`` named ``<prefix><pid>-<random><TEMP_SUFFIX>``,
    and the open descriptor of its lock file (``<prefix><pid>~<random><TEMP_SUFFIX>``), which
    holds the lock for as long as it is open: its writer lives. A temporary whose lock is free
    belongs to a dead process: :func:`sweep` removes it. Write it by its path, close it before
    renaming it (Windows renames no open file), then :func:`release` the descriptor. (This is
    :func:`tempfile.mkstemp` plus the lock, without importing tempfile and random on a cache
    hit's path.)"""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC
    for _ in range(100):
        tag = f"{os.getpid()}-{os.urandom(6).hex()}"
        path = os.path.join(folder, f"{prefix}{tag}{TEMP_SUFFIX}")
        try:
            fd = hold(_lock_file(path), new=True)
        except FileExistsError:
            continue
        if fd is None:  # a sweep took the lock file before it was held: another name
            continue
        try:
            os.close(os.open(path, flags, 0o600))
        except BaseException:
            release(fd, path)
            raise
        return fd, path
    raise FileExistsError(f"no free temporary name in {folder}")


def staging(folder: Path, prefix: str) -> Path:
    """A temporary path for a whole file built elsewhere and renamed here:
    ``<prefix><pid>.staged<TEMP_SUFFIX>``, whose lock file :func:`staged_output` holds."""
    return folder / f"{prefix}{os.getpid()}.staged{TEMP_SUFFIX}"


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: the end of a temporary's name: its process id, then a random tag or "staged"
_TEMP = re.compile(r"(\d)(?:-([0-9a-f]{12})|\.(staged))" + re.escape(TEMP_SUFFIX) + "$")
_STAGED = re.compile(r"\.(\d+)\.staged" + re.escape(TEMP_SUFFIX) + "$")


def _lock_file(temp: str | os.PathLike[str]) -> str:
    """The lock file of the temporary ``temp``: its name with ``~`` after the process id (as
    long as the temporary's, so an output name that leaves room for one leaves room for both)."""
    temp = os.fspath(temp)
    found = _TEMP.search(temp)
    assert found is not None, temp
    return f"{temp[: found.start()]}{found[1]}~{found[2] or found[3]}{TEMP_SUFFIX}"


def hold(
    path: str | os.PathLike[str], *, new: bool, wait: bool = False, mode: int = 0o600
) -> int | None:
    """Open (create; with ``new``, only a new file) and lock the file ``path`` (with ``wait``,
    waiting for its holder): its descriptor, holding the lock, or None if another holds it
    or it was removed before the lock was taken. Taken over if it is there and free (``new``
    false): its holder is dead."""
    flags = os.O_RDWR | os.O_CREAT | (os.O_EXCL if new else 0) | _CLOEXEC
    fd = os.open(path, flags, mode)
    try:
        if wait:
            _platform.wait_lock(fd)
        # still at its path: a sweep or a prune may have removed it before the lock
        locked = wait or _platform.try_lock(fd)
        if locked and os.path.samestat(os.fstat(fd), os.stat(path)):
            return fd
    except FileNotFoundError:  # (removed: None)
        pass
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def release(fd: int, temp: str | os.PathLike[str]) -> None:
    """Let go of the temporary ``temp``'s lock (``fd``, from :func:`temporary` or
    :func:`staged_output`) and remove its lock file, once ``temp`` is renamed or removed."""
    with contextlib.suppress(OSError):
        _platform.unlock(fd)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(_lock_file(temp))


def _claim(path: str | os.PathLike[str], guarded: Path | None = None) -> bool | None:
    """Take the lock file ``path`` if nobody holds it — its holder is gone — and then, while
    holding it, remove the file it guards (``guarded``), then itself: True if taken, False if
    held (or it cannot be told), None if there is no such file.

    Under the lock because names come back: a staged file's name is its process id's, and a
    sweep may act on a name it listed a while ago. A writer makes a temporary only once it
    holds the lock file, so what a sweep removes while holding it is never a live writer's.
    The lock file goes while locked where the system allows it (POSIX: a writer that opened it
    just before finds it gone, see :func:`hold`), else just after (Windows, where it goes only
    if no writer has it open)."""
    try:
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return False
    try:
        if not _platform.try_lock(fd):
            return False  # held: its writer is alive
        if guarded is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(guarded)
        try:
            os.unlink(path)
            removed = True
        except OSError:  # (Windows: not while open)
            removed = False
        with contextlib.suppress(OSError):
            _platform.unlock(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    if not removed:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return True  # another sweep's
        except OSError:
            return False  # opened since it was let go: a new writer's, which holds it now
    return True


def _free(path: Path) -> bool:
    """Whether nobody holds a lock on the file ``path`` (which is left as it is)."""
    try:
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return False
    try:
        if not _platform.try_lock(fd):
            return False  # held: its writer is alive
        with contextlib.suppress(OSError):
            _platform.unlock(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _dead_without_lock_file(path: Path) -> bool:
    """Whether the temporary ``path``, which has no lock file, is dead: a staged file of a
    detzip before lock files if its process is gone (see
    :func:`detzip._platform.legacy_writer_alive`); another temporary if it is not locked
    itself (as a detzip before lock files kept it): a lock file goes only after its temporary."""
    staged = _STAGED.search(path.name)
    if staged:
        try:
            return not _platform.legacy_writer_alive(int(staged.group(1)))
        except OverflowError:
            return False
    return _free(path)


def is_dead(path: Path) -> bool:
    """Whether the temporary ``path`` belongs to a process that is gone: its lock file's lock
    is free (the lock file is then removed: the temporary is what is left to remove). Never
    true for a live writer's file. Also for a file locked itself: a lock file, a scratch
    folder's owner file, a temporary of a detzip before lock files."""
    if _TEMP.search(path.name):
        claimed = _claim(_lock_file(path))
        return _dead_without_lock_file(path) if claimed is None else claimed
    return _free(path)


def remove_if_dead(path: Path) -> bool:
    """Remove the temporary or lock file ``path`` if its writer is gone; whether it was. (A
    temporary is removed while its lock file is held, see :func:`_claim`.)"""
    if not _TEMP.search(path.name):
        return bool(_claim(path))
    try:
        claimed = _claim(_lock_file(path), guarded=path)
        if claimed is None and _dead_without_lock_file(path):
            path.unlink()
            return True
    except OSError:  # (renamed into place just now: its writer finished)
        return False
    return bool(claimed)


def sweep(folder: Path, prefix: str) -> int:
    """Remove the temporaries named ``<prefix>…<TEMP_SUFFIX>`` in ``folder`` whose writers are
    dead (killed, or out of power), and their lock files; returns how many temporaries. A live
    writer's files are left alone."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(TEMP_SUFFIX)]
    except OSError:
        return 0
    # sorted, a temporary comes before its lock file ("-" and "." sort before "~"), which
    # goes with it: then only a lock file left alone by a killed writer counts on its own
    return sum(remove_if_dead(folder / name) for name in sorted(names))


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


@functools.cache
def umask() -> int:
    """This process's umask, read once (reading it means setting it: a thread creating a file
    at that moment would get the wrong mode; detzip never changes it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: what a temporary adds to an output's name, at most: ".NAME.<pid>.staged.detzip-tmp" and the
#: writer's ".<that>.<pid>-<12 hex>.detzip-tmp"
_ONE_TEMP = len(".") + len(".4294967295-000000000000") + len(TEMP_SUFFIX)
_TEMP_OVERHEAD = len(".4294967295.staged") + len(TEMP_SUFFIX) + _ONE_TEMP


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


def check_output_name(path: Path, *, nested: bool = True) -> None:
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
    overhead = _TEMP_OVERHEAD if nested else _ONE_TEMP  # (a staged file's own temporary)
    if len(os.fsencode(path.name)) + overhead > name_max:
        raise DetzipError(
            f"the file name is too long ({len(os.fsencode(path.name))} bytes; detzip needs room "
            f"for a temporary name beside it: at most {name_max - overhead}); choose a "
            "shorter {0}",
            literal(str(path)[:80] + "…"),
            settings=[Setting("output")],
        )


def prepare_output(path: Path, *, nested: bool = True) -> Path:
    """Check that ``path`` can be written as a file and create its parent directories."""
    check_output_name(path, nested=nested)
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
    """Write the temporary ``temp`` (whose lock ``fd`` holds), close it, rename it to ``path``,
    and only then let go of the lock: a sweep never takes a temporary its writer still needs.
    ``durable`` (the user's outputs) also fsyncs the file and then its folder, and turns an
    OSError of the file into a :class:`DetzipError`: the block must not let OSErrors of its own
    escape (an input it reads says so in a DetzipError)."""
    try:
        try:
            with open(temp, "wb", buffering=_CHUNK) as handle:
                yield cast(BinaryIO, _UserOutput(handle, path)) if durable else handle
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            # closed: Windows renames no open file
            os.chmod(temp, 0o666 & ~umask())
            _platform.replace(temp, path)
            if durable:
                fsync_dir(path.parent)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            if durable and isinstance(exc, OSError):  # a full disk, even while closing the file
                raise _unwritable_file(exc, path) from None
            raise
    finally:
        release(fd, temp)


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
    runs left beside it are removed first. (A build checked its output's name for the staged
    file and its temporary both: here only this file's temporary needs room.)"""
    fd, temp = _beside(path)
    with _committed(fd, temp, path, durable=True) as handle:
        yield handle


def _beside(path: Path) -> tuple[int, str]:
    """A new temporary beside the user's output ``path`` (checked and its folder made), once
    the temporaries killed runs left there are swept; see :func:`temporary`."""
    prepare_output(path, nested=False)
    # a hidden name keeps its dot: the temporary of a staged ".out.zip.…" is ".out.zip.…"
    hidden = path.name if path.name.startswith(".") else f".{path.name}"
    sweep(path.parent, f"{hidden}.")
    try:
        return temporary(path.parent, f"{hidden}.")
    except OSError as exc:
        raise _unwritable("write in", exc, path) from None


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Like :func:`atomic_output`, yielding the temporary's path instead of an open file: the
    block writes it (closed and fsynced) and may check it; it is renamed to ``path`` when the
    block exits cleanly, and removed when it raises."""
    fd, temp = _beside(path)
    try:
        try:
            yield Path(temp)
            os.chmod(temp, 0o666 & ~umask())
            _platform.replace(temp, path)
            fsync_dir(path.parent)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            if isinstance(exc, OSError):
                raise _unwritable_file(exc, path) from None
            raise
    finally:
        release(fd, temp)


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
        fd = _hold_staged(staged)
    except OSError as exc:
        raise _unwritable("write in", exc, output) from None
    try:
        yield staged
    except DetzipError as exc:  # the staging file is the user's output, to them
        raise (exc.about(output) if exc.path == str(staged) else exc) from None
    finally:
        with contextlib.suppress(OSError):
            staged.unlink()
        release(fd, staged)  # (after: a staged file is never there without its lock)


def _hold_staged(staged: Path) -> int:
    """The descriptor holding the lock file of ``staged`` (this process's only one there)."""
    pause = 0.001
    while True:
        fd = hold(_lock_file(staged), new=False)
        if fd is not None:
            return fd
        if pause > 2:  # (held for seconds: this process is building this output already)
            raise BlockingIOError(errno.EAGAIN, "another build of this output is under way")
        import time  # (a sweep held it, or took it, a moment ago: its name is this one)

        time.sleep(pause)
        pause *= 2


def publish(staged: Path, output: Path) -> None:
    """Put the complete, fsynced, closed ``staged`` file at ``output`` (a rename, then its
    folder fsynced: a power loss leaves the old file or the new one)."""
    _platform.replace(staged, output)
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
