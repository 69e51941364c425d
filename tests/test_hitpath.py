"""What a cache hit imports: none of the modules only a miss, another command, or help needs
(the README's promise that a hit costs little more than Python's start-up); ``--version``
builds no parser; a hit's sha256s are hashlib's digests without loading OpenSSL; and a hit run
as ``python -m detzip`` runs no garbage collection (an in-process caller keeps its collector).
Not timed: what a hit loads and does is counted, so none of it can regress silently."""

from __future__ import annotations

import gc
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detzip.cache.keys import SMALL, sha256, sha256_of_file
from detzip.cache.stats import RACY_NS
from detzip.cli import DEFERRED_COLLECTION, collect_late, main
from tests.conftest import run_cli

#: modules a hit has no use for: stdlib that only a miss, a project, help or S3 needs, and
#: detzip's own writer, readers, resolver and other commands
NOT_ON_A_HIT = (
    "hashlib",
    "concurrent",
    "dataclasses",
    "email",
    "inspect",
    "logging",
    "pathspec",
    "shutil",
    "subprocess",
    "tempfile",
    "threading",
    "tomllib",
    "zipfile",
    "detzip.deps.pip",
    "detzip.handler",
    "detzip.project",
    "detzip.terraform",
    "detzip.why",
    "detzip.zip.reader",
    "detzip.zip.writer",
)

_LOADED = (
    "import contextlib, io, sys\n"
    "from detzip.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    code = main(sys.argv[1:])\n"
    "print(code, ' '.join(sorted(sys.modules)))\n"
)


def _loaded(args: list[str], env: dict[str, str]) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    code, _, names = done.stdout.strip().partition(" ")
    return int(code), set(names.split())


def _tree(root: Path) -> Path:
    """A 5-file function."""
    source = root / "src"
    (source / "lib").mkdir(parents=True)
    (source / "app.py").write_text("def handler(event, context):\n    return 1\n")
    for index in range(4):
        (source / "lib" / f"mod{index}.py").write_text(f"VALUE = {index}\n")
    return source


def test_a_function_hit_imports_nothing_a_miss_or_another_command_needs(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    env = {**os.environ, "DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(tmp_path / "cache")}
    args = ["function", str(source), "-o", str(tmp_path / "fn.zip")]
    first = _loaded(args, env)
    assert first[0] == 0
    assert "detzip.zip.writer" in first[1]  # (a miss: the check below can see a module)
    time.sleep(RACY_NS / 1e9 + 0.1)  # past the stat memo's racy window: a hit trusts it
    for _ in range(2):  # the first hit learns the stats; the second trusts them
        code, loaded = _loaded(args, env)
        assert code == 0
    assert sorted(loaded.intersection(NOT_ON_A_HIT)) == []
    assert not any(name.startswith(("email.", "concurrent.", "pathspec.")) for name in loaded)


def test_version_builds_no_parser() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout == f"detzip {_version()}\n"
    code = (
        "import argparse, sys\n"
        "made = []\n"
        "argparse.ArgumentParser.__init__ = (lambda init: lambda self, *a, **k: "
        "(made.append(1), init(self, *a, **k))[1])(argparse.ArgumentParser.__init__)\n"
        "from detzip.cli import main\n"
        "main(['--version'])\n"
        "print(len(made))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.splitlines()[-1] == "0"


def test_version_after_another_option_still_goes_through_argparse() -> None:
    done = run_cli("-q", "--version")
    assert done.returncode == 0
    assert done.stdout == f"detzip {_version()}\n"


def _version() -> str:
    from detzip import __version__

    return __version__


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL])
def test_the_small_sha256_is_hashlib_s(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    want = hashlib.sha256(data).hexdigest()
    for given in (data, bytearray(data), memoryview(data)):
        assert sha256(given).hexdigest() == want
    grown = sha256(data[: size // 2])
    grown.update(data[size // 2 :])
    assert grown.hexdigest() == want
    assert sha256(data).digest() == bytes.fromhex(want)
    path = tmp_path / "file"
    path.write_bytes(data)
    with open(path, "rb") as handle:
        assert sha256_of_file(handle) == want


def test_python_s_own_sha256_until_its_budget_then_hashlib_s_same_digests() -> None:
    sizes = [0, 1, 64, 1000, SMALL - 2000, 5000, 10]
    code = (
        "import sys\n"
        "from detzip.cache.keys import sha256\n"
        "for size in sys.argv[1:]:\n"
        "    data = bytes(range(256)) * (int(size) // 256) + bytes(int(size) % 256)\n"
        "    print(sha256(data).hexdigest(), '_hashlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, sizes)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    want = []
    for size in sizes:
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        want.append(f"{hashlib.sha256(data).hexdigest()} {size == 5000 or size == 10}")
    assert done.stdout.splitlines() == want  # (5000 bytes more is past the budget: OpenSSL's)


def test_a_hit_through_python_m_runs_no_garbage_collection(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    env = {**os.environ, "DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(tmp_path / "cache")}
    args = ["function", str(source), "-o", str(tmp_path / "fn.zip")]
    assert run_cli(*args, env=env).returncode == 0
    time.sleep(RACY_NS / 1e9 + 0.1)
    assert run_cli(*args, env=env).returncode == 0
    # (compiled first: with PYTHONDONTWRITEBYTECODE set, compiling __main__ from source would
    # collect before the CLI could pause the collector, which no installed detzip does)
    package = Path(collect_late.__code__.co_filename).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    code = (
        "import gc, runpy, sys\n"
        "import detzip\n"  # (what python -m imports before __main__ runs)
        "seen = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and seen.append(info))\n"
        "sys.argv = ['detzip', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('detzip', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, len(seen), gc.get_threshold()[0], file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    exit_code, collections, threshold = done.stderr.split()[-3:]
    assert (exit_code, collections) == ("0", "0")
    assert int(threshold) == DEFERRED_COLLECTION


def test_main_in_process_gives_back_the_caller_s_collector(tmp_path: Path) -> None:
    own = gc.get_threshold()
    callbacks = list(gc.callbacks)
    assert main(["function", str(_tree(tmp_path)), "-o", str(tmp_path / "fn.zip")]) == 0
    assert gc.get_threshold() == own
    assert gc.callbacks == callbacks


def test_the_first_collection_puts_python_s_thresholds_back() -> None:
    own = gc.get_threshold()
    resume = collect_late()
    try:
        assert gc.get_threshold() == (DEFERRED_COLLECTION, *own[1:])
        gc.collect(0)  # (a build that made that many objects: Python's own from then on)
        assert gc.get_threshold() == own
    finally:
        resume()
    assert gc.get_threshold() == own
    before = gc.get_threshold()
    gc.set_threshold(0)  # a caller who disabled automatic collection keeps it so
    try:
        collect_late()()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
