"""What detzip's own files need from the operating system, where POSIX and Windows differ.

Locks and renames — an exclusive lock on an open file, taken without waiting (:func:`try_lock`) or
waiting (:func:`wait_lock`), which the kernel drops when the handle is closed or its process
dies (kill -9, a power loss); replacing a closed file by another (:func:`replace`); and, for
staged files an older detzip left without a lock file, whether their process may still run
(:func:`legacy_writer_alive`) — and where a system keeps caches (:func:`cache_folder`) and how
it names this machine and this boot (:func:`machine_id`, :func:`boot_id`). Everything else in
detzip is the same on every system: a temporary file is closed before it is renamed, and its
writer's liveness is a lock held on a separate lock file (see :mod:`detzip._fs`).

The system is told by what it offers, not by its name: ``fcntl`` (POSIX: Linux, macOS) gives
``flock``, a whole-file lock held per open file; without it (Windows) ``msvcrt.locking`` gives a
byte-range lock held per handle, and detzip locks byte 0. Both are advisory for detzip's
purpose: its lock files are empty and never read.

Why these few lines rather than a library: the lock is taken on every write, cache hits
included, and a hit must cost little more than Python's start-up — ``filelock`` imports
``threading`` (which a hit must not), and ``psutil`` is a compiled dependency for one probe.
``fcntl`` and ``msvcrt`` are the standard library's own wrappers of the system calls.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "boot_id",
    "cache_folder",
    "legacy_writer_alive",
    "machine_id",
    "replace",
    "try_lock",
    "unlock",
    "wait_lock",
]

try:
    import fcntl as _fcntl
except ImportError:  # Windows
    _fcntl = None  # type: ignore[assignment]
    _msvcrt = __import__("msvcrt")  # (typed as a plain module: its stubs are Windows-only)


if _fcntl is not None:

    def try_lock(fd: int) -> bool:
        """Lock the open file ``fd`` exclusively if nobody else holds it: whether it is now
        held by ``fd``. Another OSError (a file system without locks) is raised."""
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def wait_lock(fd: int) -> None:
        """Lock the open file ``fd`` exclusively, waiting for whoever holds it."""
        _fcntl.flock(fd, _fcntl.LOCK_EX)

    def unlock(fd: int) -> None:
        """Let go of ``fd``'s lock (before closing it)."""
        _fcntl.flock(fd, _fcntl.LOCK_UN)

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        """Rename the closed file ``source`` over ``target``, atomically."""
        os.replace(source, target)

    def legacy_writer_alive(pid: int) -> bool:
        """Whether process ``pid``, which staged a file without a lock file (a detzip before
        lock files), may still run. ``kill(pid, 0)`` sends nothing: it only checks."""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except (OSError, OverflowError):
            return True  # alive under another user, or a number that is no process id
        return True

else:

    def try_lock(fd: int) -> bool:
        """Lock the open file ``fd`` exclusively if nobody else holds it: whether it is now
        held by ``fd``. Another OSError is raised."""
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            _msvcrt.locking(fd, _msvcrt.LK_NBLCK, 1)
        except PermissionError:  # EACCES: another handle holds byte 0
            return False
        return True

    def wait_lock(fd: int) -> None:
        """Lock the open file ``fd`` exclusively, waiting for whoever holds it (polled:
        ``LK_LOCK`` would give up after ten seconds)."""
        import time

        pause = 0.01
        while not try_lock(fd):
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def unlock(fd: int) -> None:
        """Let go of ``fd``'s lock (before closing it, as Windows asks)."""
        os.lseek(fd, 0, os.SEEK_SET)
        _msvcrt.locking(fd, _msvcrt.LK_UNLCK, 1)

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        """Rename the closed file ``source`` over ``target``, atomically. Windows refuses
        while another program has either open (a virus scanner, an indexer, a reader of the
        old file): retried for about two seconds before the error stands."""
        import time

        pause = 0.01
        while True:
            try:
                os.replace(source, target)
                return
            except PermissionError:
                if pause > 1:
                    raise
                time.sleep(pause)
                pause *= 2

    def legacy_writer_alive(pid: int) -> bool:
        """Whether process ``pid``, which staged a file without a lock file, may still run:
        it cannot be told without a signal (``kill(pid, 0)`` here sends CTRL_C_EVENT), so it
        may. None is ever left here: only a detzip before lock files staged a file without
        one, and on Windows it never could (its renames of open files failed); a name a
        sweep listed a while ago may have come back to a live writer since."""
        return True


def cache_folder(name: str) -> Path:
    """Where this system keeps the caches of the program ``name``: ``~/.cache/NAME`` (Linux
    and other POSIX systems), ``~/Library/Caches/NAME`` (macOS), ``%LOCALAPPDATA%\\NAME\\Cache``
    (Windows) — platformdirs' choices, without its import (tempfile, shutil and random: over
    10 ms of every cache hit)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / name
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(local) / name / "Cache"
    return Path.home() / ".cache" / name


def machine_id() -> str:
    """This machine's id: systemd's or D-Bus's, Windows's MachineGuid; '' where there is none
    (macOS: the host name and the boot then say where a value was made)."""
    return _read_id("/etc/machine-id") or _read_id("/var/lib/dbus/machine-id") or _registry_id()


def boot_id() -> str:
    """This boot's id: Linux's, else when the machine booted, to the minute (the clock less the
    time since boot; a clock change or a sleep — macOS's uptime pauses in one — moves it, so
    a value scoped by it is dropped once: never kept across a reboot)."""
    said = _read_id("/proc/sys/kernel/random/boot_id")
    if said:
        return said
    import time

    return f"booted {round((time.time() - time.monotonic()) / 60)}"


def _read_id(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read(200).strip()
    except (OSError, ValueError):
        return ""


def _registry_id() -> str:
    """Windows's ``MachineGuid`` (what its own tools use), else ''."""
    try:
        import winreg
    except ImportError:
        return ""
    try:
        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography")  # type: ignore[attr-defined,unused-ignore]
        with key:
            value, _ = winreg.QueryValueEx(key, "MachineGuid")  # type: ignore[attr-defined,unused-ignore]
    except OSError:
        return ""
    return str(value)
