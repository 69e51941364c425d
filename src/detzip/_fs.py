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
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from detzip.errors import DetzipError, Setting

__all__ = [
    "INCOMING",
    "TEMP_SUFFIX",
    "atomic_output",
    "copy_file",
    "prepare_output",
    "replacing",
    "temporary",
    "write_bytes",
    "write_file",
]

TEMP_SUFFIX = ".detzip-tmp"
#: the prefix of temporary files inside the cache
INCOMING = ".incoming-"
_CHUNK = 1 << 20


def temporary(folder: Path, prefix: str) -> tuple[int, str]:
    """A new, empty file in ``folder`` named ``<prefix><random><TEMP_SUFFIX>``: its open file
    descriptor and path (what :func:`tempfile.mkstemp` gives, without importing tempfile and
    random on a cache hit's path)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(folder, f"{prefix}{os.urandom(6).hex()}{TEMP_SUFFIX}")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


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
def _committed(fd: int, temp: str, path: Path) -> Iterator[BinaryIO]:
    try:
        with os.fdopen(fd, "wb", buffering=_CHUNK) as handle:
            yield handle
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
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
    with _committed(fd, temp, path) as handle:
        yield handle


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """Like :func:`replacing`, for a path the user named: a folder that cannot be made or
    written is a :class:`DetzipError` naming the ``output`` option."""
    prepare_output(path)
    try:
        fd, temp = temporary(path.parent, f".{path.name}.")
    except OSError as exc:
        raise _unwritable("write in", exc, path) from None
    with _committed(fd, temp, path) as handle:
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
