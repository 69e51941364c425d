"""Scratch folders: private folders in the system's temp dir for one step of a build (pip's
report, a batch of downloads, a local package's build, wheels that cannot be stored), removed
when the step ends.

A process killed with SIGKILL (or out of power) cannot remove its scratch folder. So each one
holds a file, :data:`OWNER`, locked for as long as its process lives (the kernel drops the lock
with the process), and the first scratch folder a process makes sweeps away the folders whose
lock is free (:func:`sweep_scratch`). Folders of live processes, of other users, and without an
owner file (another tool's, or an older detzip's) are left alone.

The owner file stays open while the folder is in use, and Windows removes no open file: a
folder is emptied first, then its owner file let go, then removed with the folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import weakref
from pathlib import Path
from types import TracebackType

from detzip import _platform
from detzip._fs import hold, remove_if_dead

__all__ = ["OWNER", "PREFIX", "Scratch", "sweep_scratch"]

#: every scratch folder's name starts with this, then what it is for
PREFIX = "detzip-"
#: the file in a scratch folder that its process holds locked
OWNER = ".owner"

_SWEPT: list[bool] = []  # whether this process has swept the temp dir


class Scratch:
    """A new scratch folder ``<temp dir>/detzip-<what>-<random>``: a context manager giving
    its path, or (kept as an object) removed by :meth:`cleanup` or when the process ends."""

    def __init__(self, what: str) -> None:
        if not _SWEPT:
            _SWEPT.append(True)
            sweep_scratch()
        for _ in range(100):
            self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{what}-"))
            try:
                # None: a sweep found it before it was locked and removes it; another folder
                fd = hold(self.path / OWNER, new=True)
            except BaseException:
                shutil.rmtree(self.path, ignore_errors=True)
                raise
            if fd is not None:
                break
        else:
            raise FileExistsError(f"cannot lock a scratch folder in {tempfile.gettempdir()}")
        self._cleanup = weakref.finalize(self, _remove, self.path, fd)

    def cleanup(self) -> None:
        """Remove the folder and everything in it (once; later calls do nothing)."""
        self._cleanup()

    def __enter__(self) -> Path:
        return self.path

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cleanup()


def _remove(path: Path, fd: int) -> None:
    # what it holds first (the folder is never unowned while it holds anything), then the
    # owner file, let go (Windows removes no open file), with the folder
    with contextlib.suppress(OSError), os.scandir(path) as entries:
        for entry in entries:
            if entry.name == OWNER:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    with contextlib.suppress(OSError):
        _platform.unlock(fd)
    os.close(fd)
    shutil.rmtree(path, ignore_errors=True)


def sweep_scratch(folder: Path | None = None) -> int:
    """Remove the scratch folders in ``folder`` (the temp dir by default) that belong to this
    user and whose process is gone; returns how many."""
    folder = Path(tempfile.gettempdir()) if folder is None else folder
    try:
        names = [name for name in os.listdir(folder) if name.startswith(PREFIX)]
    except OSError:
        return 0
    getuid = getattr(os, "getuid", None)
    removed = 0
    for name in names:
        path = folder / name
        try:
            info = os.lstat(path)
            owner = os.lstat(path / OWNER)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or not stat.S_ISREG(owner.st_mode):
            continue
        if getuid is not None and info.st_uid != getuid():
            continue
        if remove_if_dead(path / OWNER):  # (removed while locked: its folder is no one's)
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
