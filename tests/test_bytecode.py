"""Bytecode for faster cold starts (detzip.inputs.bytecode, --compile): hash-based pycs compiled
by the target's Python, byte-identical whatever the hash seed, build folder or number of workers.
Only python3.11 exists on these machines: the targets here are python3.11."""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from detzip import build_function, build_layer

from .conftest import assert_one_line_error, make_tree, run_cli
from .wheelfactory import Repo

HERE = f"python{sys.version_info[0]}.{sys.version_info[1]}"  # this interpreter's runtime
TAG = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"


def _service(root: Path, files: int = 0) -> Path:
    tree = {
        "app.py": "import json\nfrom lib import util\n\ndef handler(event, context):\n"
                  "    return json.dumps(util.double(event))\n",
        "lib/__init__.py": "",
        "lib/util.py": "def double(x):\n    return [x, x]\n",
        "data/config.json": "{}",
    }  # fmt: skip
    tree.update({f"gen/m{i:03d}.py": f"VALUE = {i}\nNAMES = {['n' * (i % 7)]!r}\n"
                 for i in range(files)})  # fmt: skip
    return make_tree(root, tree)


def _pycs(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n.endswith(".pyc")}


def test_each_py_gets_a_hash_based_pyc_of_the_target(tmp_path: Path) -> None:
    src = _service(tmp_path / "src")
    built = build_function(src, tmp_path / "f.zip", compile=True, runtime=HERE, cache=False)
    pycs = _pycs(built.path)
    assert sorted(pycs) == [f"__pycache__/app.{TAG}.pyc", f"lib/__pycache__/__init__.{TAG}.pyc",
                            f"lib/__pycache__/util.{TAG}.pyc"]  # fmt: skip
    data = pycs[f"__pycache__/app.{TAG}.pyc"]
    source = (src / "app.py").read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(data[4:8], "little") == 0b11  # hash-based, checked
    assert data[8:16] == importlib.util.source_hash(source)
    code = marshal.loads(data[16:])
    assert code.co_filename == "/var/task/app.py"  # where Lambda will show it in tracebacks
    assert built.pyc_size == sum(len(d) for d in pycs.values())
    assert built.description["bytecode"]["python"] == ".".join(map(str, sys.version_info[:3]))
    unchecked = build_function(src, tmp_path / "u.zip", compile=True, runtime=HERE,
                               invalidation="unchecked-hash", cache=False)  # fmt: skip
    flags = _pycs(unchecked.path)[f"__pycache__/app.{TAG}.pyc"][4:8]
    assert int.from_bytes(flags, "little") == 0b01 and unchecked.key != built.key


def test_an_import_from_a_read_only_extraction_uses_the_pycs(tmp_path: Path) -> None:
    src = _service(tmp_path / "src")
    built = build_function(src, tmp_path / "f.zip", compile=True, runtime=HERE, cache=False)
    task = tmp_path / "task"
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(task)
    for path in sorted(task.rglob("*"), reverse=True):  # /var/task is read-only
        path.chmod(stat.S_IREAD | (stat.S_IEXEC if path.is_dir() else 0))
    try:
        done = subprocess.run(
            [sys.executable, "-v", "-c", "import app; print(app.handler(1, None))"],
            cwd=task, capture_output=True, text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
    finally:
        for path in task.rglob("*"):
            path.chmod(0o755)
    assert done.returncode == 0 and done.stdout.strip() == "[1, 1]", done.stderr
    for module in (f"__pycache__/app.{TAG}.pyc", f"lib/__pycache__/util.{TAG}.pyc"):
        assert f"code object from '{task / module}'" in done.stderr, done.stderr[-2000:]


@pytest.mark.slow
def test_the_bytes_depend_on_the_sources_only(tmp_path: Path) -> None:
    """Hash seeds, build folders and how files are split between workers change nothing."""
    one = _service(tmp_path / "a" / "src", files=240)
    two = tmp_path / "elsewhere" / "deeper" / "src"
    shutil.copytree(one, two)
    results = []
    for src, seed, cores in ((one, "1", "1"), (two, "987654", "2"), (one, "random", "2")):
        # the compile workers inherit the seed; the worker count follows the cores
        code = ("import os, sys; cores = int(sys.argv[1]); os.cpu_count = lambda: cores; "
                "from detzip.cli import main; sys.argv = ['detzip', *sys.argv[2:]]; "
                "raise SystemExit(main())")  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-c", code, cores, "function", str(src), "-o",
             str(tmp_path / f"{seed}.zip"), "--compile", "--runtime", HERE, "--no-cache", "--json"],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        results.append(json.loads(done.stdout)["sha256"])
    assert len(set(results)) == 1


@pytest.mark.slow
def test_a_layer_is_compiled_where_lambda_extracts_it(repo: Repo, tmp_path: Path) -> None:
    lock = repo.write("uv", tmp_path / "lock")
    layer = build_layer(lock, tmp_path / "l.zip", runtime=HERE, find_links=[str(repo.folder)],
                        no_index=True, cache_dir=tmp_path / "c", compile=True)  # fmt: skip
    pycs = _pycs(layer.path)
    name = f"python/alpha/__pycache__/__init__.{TAG}.pyc"
    assert name in pycs
    assert marshal.loads(pycs[name][16:]).co_filename == "/opt/python/alpha/__init__.py"
    assert all(TAG in n for n in pycs)  # the wheels' own bytecode stays out, as by default
    plain = build_layer(lock, tmp_path / "p.zip", runtime=HERE, find_links=[str(repo.folder)],
                        no_index=True, cache_dir=tmp_path / "c")  # fmt: skip
    assert plain.key != layer.key and not _pycs(plain.path)


def test_only_the_packed_sources_are_compiled(tmp_path: Path) -> None:
    src = _service(tmp_path / "src")
    (src / "scripts").mkdir()
    (src / "scripts" / "py2_only.py").write_text("print 'old'\n")
    built = build_function(src, tmp_path / "f.zip", compile=True, runtime=HERE,
                           exclude=["scripts/"], cache=False)  # fmt: skip
    assert not any("py2_only" in name for name in _pycs(built.path))
    out = tmp_path / "g.zip"
    refused = run_cli("function", str(src), "-o", str(out), "--compile", "--runtime", HERE)
    assert_one_line_error(refused, "scripts/py2_only.py: does not compile for Python",
                          "SyntaxError", "--exclude scripts/py2_only.py")  # fmt: skip
    assert not out.exists()


def test_a_missing_or_wrong_interpreter_is_exit_2(tmp_path: Path) -> None:
    src = _service(tmp_path / "src")
    missing = run_cli("function", str(src), "-o", str(tmp_path / "a.zip"), "--compile",
                      "--runtime", "python3.13", env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert_one_line_error(missing, "needs a Python 3.13 interpreter", "uv python install 3.13",
                          "--python")  # fmt: skip
    wrong = run_cli("function", str(src), "-o", str(tmp_path / "b.zip"), "--compile",
                    "--runtime", "python3.12", "--python", sys.executable)  # fmt: skip
    assert_one_line_error(wrong, "--python", "is Python 3.11", "bytecode for 3.12")
    nothing = run_cli("function", str(src), "-o", str(tmp_path / "c.zip"), "--compile",
                      "--runtime", HERE, "--python", str(tmp_path / "nope"))  # fmt: skip
    assert_one_line_error(nothing, "--python", "is not a Python interpreter")
    assert not list(tmp_path.glob("*.zip"))
