"""Write a file so that its final path only ever holds a complete file.

The content goes to a temporary file in the same directory, which is renamed over the target when
complete. If anything fails (or the process is killed) the target is untouched; on an exception
the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from detzip.errors import DetzipError, Setting

TEMP_SUFFIX = ".detzip-tmp"


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
        raise DetzipError(
            f"cannot create the output directory ({exc.strerror}); choose another {{0}}",
            path,
            settings=[Setting("output")],
        ) from None
    return path


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """A binary file opened for writing; renamed to ``path`` when the block exits cleanly."""
    prepare_output(path)
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise DetzipError(
            f"cannot write in the output directory ({exc.strerror}); choose another {{0}}",
            path,
            settings=[Setting("output")],
        ) from None
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            yield handle
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_output(path) as handle:
        handle.write(data)
