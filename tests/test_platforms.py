"""Windows' file semantics, simulated on Linux where that is honest (issue 30): detzip's atomic
writes, temporaries, scratch folders and per-key locks under them.

- **Open files**: Windows renames, replaces and deletes no file that a handle has open (Python
  opens files without ``FILE_SHARE_DELETE``: WinError 32). Simulated by refusing those calls
  for a file that any process has open, read from ``/proc/*/fd`` — whatever opened it.
- **Locks**: no ``fcntl``; ``msvcrt.locking`` locks a byte range from the file position, held
  per handle, on a handle opened for reading too (two handles of one process exclude each
  other; closing one drops its locks; a dead process's are dropped); ``LK_NBLCK`` fails with
  EACCES, ``LK_LOCK`` gives up after ten tries a second apart. Simulated with ``flock``, whose
  locks are held per open file description with exactly those properties (``lockf``'s are
  held per process, and need a handle opened for writing): for the one range detzip locks,
  byte 0, the same; the simulation refuses any other range.
- **Signals**: ``os.kill(pid, 0)`` on Windows sends CTRL_C_EVENT; under the simulation it
  ends the process with status 70.

What cannot be simulated — the real NTFS and the real Windows kernel — is for the hosted
workflow's windows runner.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detzip import Cache, build_function

from .conftest import SRC, make_tree

#: the simulation, as source: run in this process (open files only) or at the start of a
#: fresh one (all three); ``patch(owner, name, value)`` applies a change.
SIMULATION = r'''
import errno, os, sys, time, types

def _open_files(own_only=False):
    """(st_dev, st_ino) of every regular file a process has open."""
    found = set()
    pids = ["self"] if own_only else [p for p in os.listdir("/proc") if p.isdigit()]
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                info = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if info.st_mode & 0o170000 == 0o100000:
                found.add((info.st_dev, info.st_ino))
    return found

def _refused(path, dir_fd=None):
    try:
        info = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) in _open_files()

def _sharing_violation(path):
    return PermissionError(errno.EACCES, "[WinError 32] The process cannot access the file "
                           "because it is being used by another process", os.fsdecode(path))

def windows_files(patch):
    real = {name: getattr(os, name) for name in ("replace", "rename", "unlink", "remove")}

    def moving(name):
        def move(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
            for path, dir_fd in ((src, src_dir_fd), (dst, dst_dir_fd)):
                if _refused(path, dir_fd):
                    raise _sharing_violation(path)
            return real[name](src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
        return move

    def deleting(name):
        def delete(path, *, dir_fd=None):
            if _refused(path, dir_fd):
                raise _sharing_violation(path)
            return real[name](path, dir_fd=dir_fd)
        return delete

    patch(os, "replace", moving("replace"))
    patch(os, "rename", moving("rename"))
    patch(os, "unlink", deleting("unlink"))
    patch(os, "remove", deleting("remove"))

def windows_locks():
    import fcntl as real
    sys.modules["fcntl"] = None  # import fcntl: ImportError
    msvcrt = types.ModuleType("msvcrt")
    msvcrt.LK_UNLCK, msvcrt.LK_LOCK, msvcrt.LK_NBLCK, msvcrt.LK_RLCK, msvcrt.LK_NBRLCK = range(5)

    def locking(fd, mode, nbytes):
        start = os.lseek(fd, 0, os.SEEK_CUR)
        if (start, nbytes) != (0, 1):  # (flock locks whole files: byte 0 is all it stands for)
            raise NotImplementedError(f"the simulation locks byte 0 only, not {start}+{nbytes}")
        if mode == msvcrt.LK_UNLCK:
            real.flock(fd, real.LOCK_UN)
            return
        tries = 10 if mode in (msvcrt.LK_LOCK, msvcrt.LK_RLCK) else 1
        for attempt in range(tries):
            try:
                real.flock(fd, real.LOCK_EX | real.LOCK_NB)
                return
            except BlockingIOError:
                pass
            if attempt + 1 < tries:
                time.sleep(1)
        raise OSError(errno.EDEADLOCK if tries > 1 else errno.EACCES, "locking violation")

    msvcrt.locking = locking
    sys.modules["msvcrt"] = msvcrt

def no_signal_0():
    real_kill = os.kill

    def kill(pid, sig):
        if sig == 0:
            sys.stderr.write(f"os.kill({pid}, 0): on Windows that sends CTRL_C_EVENT\n")
            sys.stderr.flush()
            os._exit(70)
        return real_kill(pid, sig)

    os.kill = kill
'''

_PRELUDE = (
    SIMULATION
    + f"\nsys.path.insert(0, {str(SRC)!r})\n"
    + "windows_files(setattr); windows_locks(); no_signal_0()\n"
)


def windows(script: str, *args: str) -> subprocess.Popen[str]:
    """``script`` in a fresh Python under the whole simulation, started in the background."""
    return subprocess.Popen(
        [sys.executable, "-c", _PRELUDE + script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    """The standard output of ``proc``, which must succeed."""
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out


@pytest.fixture
def open_files_stay(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process, with Windows' rule: no rename, replace or delete of an open file."""
    simulation: dict[str, Any] = {}
    exec(SIMULATION, simulation)
    simulation["windows_files"](monkeypatch.setattr)
    yield


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".detzip-tmp"))


# -- the simulation is Windows' -------------------------------------------------------------------


def test_the_simulated_rules_are_windows_rules(tmp_path: Path) -> None:
    code = """
import os
path = sys.argv[1]
a = os.open(path, os.O_RDWR | os.O_CREAT)
b = os.open(path, os.O_RDWR)
import msvcrt
msvcrt.locking(a, msvcrt.LK_NBLCK, 1)
r = os.open(path, os.O_RDONLY)
for other in (b, r):  # another handle of this process, even one opened for reading: refused
    try:
        msvcrt.locking(other, msvcrt.LK_NBLCK, 1)
    except PermissionError:
        print("held")
msvcrt.locking(a, msvcrt.LK_UNLCK, 1)
msvcrt.locking(r, msvcrt.LK_NBLCK, 1)  # a handle opened for reading can lock
os.close(r)  # (and its lock goes with it)
msvcrt.locking(b, msvcrt.LK_NBLCK, 1)
try:
    os.replace(path, path + ".new")
except PermissionError as exc:
    print("open", exc.strerror)
os.close(a)
os.close(b)
os.replace(path, path + ".new")
try:
    import fcntl
except ImportError:
    print("no fcntl")
"""
    out = finish(windows(code, str(tmp_path / "f")))
    assert out.splitlines() == [
        "held",
        "held",
        "open [WinError 32] The process cannot access the file because it is being used by "
        "another process",
        "no fcntl",
    ]


# -- an open file is neither renamed nor deleted --------------------------------------------------


def test_a_build_closes_its_temporary_before_renaming_it(
    tmp_path: Path, open_files_stay: None
) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    built = build_function(src, tmp_path / "out" / "fn.zip", cache=False)
    assert (tmp_path / "out" / "fn.zip").stat().st_size == built.size
    assert leftovers(tmp_path) == []


def test_a_cache_store_and_a_hit_copy_close_theirs(tmp_path: Path, open_files_stay: None) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    cache = Cache(tmp_path / "c")
    first = build_function(src, tmp_path / "out" / "fn.zip", cache=cache)
    assert first.cache_entry is not None and first.cache_entry.is_file()  # stored
    again = build_function(src, tmp_path / "out" / "other.zip", cache=cache)
    assert again.cache_hit and again.sha256 == first.sha256  # copied out of the cache
    assert (tmp_path / "out" / "other.zip").read_bytes() == first.cache_entry.read_bytes()
    assert leftovers(tmp_path) == []


def test_a_scratch_folder_is_made_and_removed_with_its_owner_file_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_files_stay: None
) -> None:
    from detzip import _scratch

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    with _scratch.Scratch("fetch") as folder:
        (folder / "sub").mkdir()
        (folder / "sub" / "a.whl").write_bytes(b"x")
        assert (folder / _scratch.OWNER).is_file()
    assert not folder.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


# -- no fcntl: msvcrt locks -------------------------------------------------------------------------


_HOLD = """
from pathlib import Path
from detzip import _fs
folder, prefix = Path(sys.argv[1]), sys.argv[2]
fd, temp = _fs.temporary(folder, prefix)
Path(temp).write_bytes(b"half")
with _fs.staged_output(folder / "f.zip") as staged:
    staged.write_bytes(b"staged")
    print(temp, staged, flush=True)
    sys.stdin.read()  # until told
"""


def _holder(folder: Path, prefix: str) -> tuple[subprocess.Popen[str], Path, Path]:
    proc = windows(_HOLD, str(folder), prefix)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert len(line) == 2, proc.communicate()
    return proc, Path(line[0]), Path(line[1])


def test_temporaries_of_a_killed_run_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    """Without fcntl, a temporary (and a staged file) whose writer was killed goes, and a live
    writer's stays — judged by msvcrt locks, never by a signal."""
    killed, dead_temp, dead_staged = _holder(tmp_path, ".f.zip.")
    live, live_temp, live_staged = _holder(tmp_path, ".f.zip.")
    try:
        killed.kill()  # (TerminateProcess: no cleanup runs)
        killed.communicate(timeout=30)
        sweep = "from detzip import _fs; print(_fs.sweep(Path(sys.argv[1]), '.f.zip.'))"
        swept = finish(windows("from pathlib import Path\n" + sweep, str(tmp_path)))
        assert swept.strip() == "2"  # the dead temporary and the dead staged file
        assert not dead_temp.exists() and not dead_staged.exists()
        assert live_temp.read_bytes() == b"half" and live_staged.read_bytes() == b"staged"
        assert len(leftovers(tmp_path)) == 4  # the live ones and their two lock files
    finally:
        finish(live)  # (stdin closed: it ends, removing its staged file)
    swept = finish(windows("from pathlib import Path\n" + sweep, str(tmp_path)))
    assert swept.strip() == "1" and leftovers(tmp_path) == []  # the temporary it never released


def test_a_live_temporary_is_alive_to_another_handle_of_its_own_process(tmp_path: Path) -> None:
    code = """
import os
from pathlib import Path
from detzip import _fs
fd, temp = _fs.temporary(Path(sys.argv[1]), ".x.")
print(_fs.is_dead(Path(temp)), _fs.sweep(Path(sys.argv[1]), ".x."))
os.close(fd)  # its writer is gone (as after TerminateProcess: the handle closes)
print(_fs.is_dead(Path(temp)), _fs.sweep(Path(sys.argv[1]), ".x."))
"""
    assert finish(windows(code, str(tmp_path))).split() == ["False", "0", "True", "1"]
    assert list(tmp_path.iterdir()) == []


def test_cache_prune_without_fcntl_removes_dead_temporaries_only(tmp_path: Path) -> None:
    (tmp_path / "c" / "artifacts").mkdir(parents=True)
    code = """
import json
from pathlib import Path
from detzip import _fs
from detzip.cache.admin import prune
from detzip.cache.layout import claim
root = Path(sys.argv[1])
claim(root, create=True)
dead_fd, dead = _fs.temporary(root / "artifacts", _fs.INCOMING)
live_fd, live = _fs.temporary(root / "artifacts", _fs.INCOMING)
os.close(dead_fd)  # let go, as a dead writer's handle is
print(prune(root).temporaries, Path(dead).exists(), Path(live).exists())
"""
    assert finish(windows(code, str(tmp_path / "c"))).split() == ["1", "False", "True"]


@pytest.mark.slow
def test_the_per_key_lock_serialises_two_builds_without_fcntl(tmp_path: Path) -> None:
    code = """
import hashlib, time
from pathlib import Path
from detzip import Cache
from detzip.zip.writer import WrittenZip
tmp = Path(sys.argv[1])

def slow(path):
    (tmp / "building").touch()
    time.sleep(1.5)  # holding the key's lock
    path.write_bytes(b"zip bytes")
    return WrittenZip(path, hashlib.sha256(b"zip bytes").hexdigest(), 9, 0, 0)

done = Cache(tmp / "c").artifacts.through("fn", "4" * 64, {}, tmp / sys.argv[2], slow)
print("built" if done.source is None else done.source)
"""
    first = windows(code, str(tmp_path), "a.zip")
    deadline = time.monotonic() + 60
    while not (tmp_path / "building").exists():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = windows(code, str(tmp_path), "b.zip")  # while the first holds the lock
    assert [finish(first).strip(), finish(second).strip()] == ["built", "local"]
    assert (tmp_path / "b.zip").read_bytes() == b"zip bytes"


# -- no signal is a probe -----------------------------------------------------------------------------


def test_a_staged_file_is_judged_without_a_signal(tmp_path: Path) -> None:
    """On Windows ``os.kill(pid, 0)`` is a console Ctrl+C: a staged file is judged by its lock
    file (held while its ``staged_output`` runs), never by asking its process."""
    code = """
import os
from pathlib import Path
from detzip import _fs
out = Path(sys.argv[1]) / "f.zip"
with _fs.staged_output(out) as staged:
    staged.write_bytes(b"x")
    print(_fs.is_dead(staged), _fs.sweep(out.parent, ".f.zip."))
# one without a lock file (a detzip before lock files staged so, on POSIX only: on Windows
# its renames of open files failed), of this very process: not told without a signal, kept
bare = _fs.staging(out.parent, ".f.zip.")
bare.write_bytes(b"x")
print(_fs.is_dead(bare), _fs.sweep(out.parent, ".f.zip."), bare.exists())
"""
    assert finish(windows(code, str(tmp_path))).split() == ["False", "0", "False", "0", "True"]


@pytest.mark.slow
def test_writers_of_one_output_at_once_never_sweep_each_other(tmp_path: Path) -> None:
    """Each write sweeps the temporaries beside the output, and a staged file's name comes
    back with every build of its process: under Windows' rules, no live one is ever taken."""
    code = """
from pathlib import Path
from detzip import _fs
out = Path(sys.argv[1]) / "out.zip"
for i in range(50):
    _fs.write_bytes(out, b"x" * i)
    with _fs.staged_output(out) as staged:
        _fs.write_bytes(staged, b"y")
        _fs.publish(staged, out)
print("ok")
"""
    writers = [windows(code, str(tmp_path)) for _ in range(6)]
    assert [finish(proc).strip() for proc in writers] == ["ok"] * 6
    assert [p.name for p in tmp_path.iterdir()] == ["out.zip"]
