"""Shared fixtures and helpers: the demo wheel repository, a minimal handler tree, building
source trees, running the CLI, and finding the independent zip readers."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from .motoserver import MotoServer
from .wheelfactory import Repo, demo_repo

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nothing goes to ~/.cache, and builds build: the artifact cache is off unless a test
    turns it on (tests comparing two builds must compare builds, not a build and a hit)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DETZIP_CACHE_DIR", str(tmp_path_factory.mktemp("detzip-cache")))
        patch.setenv("DETZIP_CACHE", "off")
        yield


def _snapshot(repo: Repo) -> tuple[list[tuple[str, str]], str]:
    files = sorted(
        (str(path.relative_to(repo.folder)), hashlib.sha256(path.read_bytes()).hexdigest())
        for path in repo.folder.rglob("*")
        if path.is_file()
    )
    return files, repr(repo.packages)


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    """The demo wheel repository (:func:`tests.wheelfactory.demo_repo`), made once for the
    session. Tests only read it (locks are written to their own folders): it is checked
    unchanged at the end, so a test that writes into it fails instead of leaking into others."""
    shared = demo_repo(tmp_path_factory.mktemp("wheels"))
    before = _snapshot(shared)
    yield shared
    assert _snapshot(shared) == before, "a test changed the shared demo repository"


def make_tree(
    root: Path, files: Mapping[str, bytes | str], executable: set[str] | None = None
) -> Path:
    """Write ``files`` (relative path → content) under ``root``; names ending in '/' are dirs."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        if executable and name in executable:
            path.chmod(0o755)
    return root


#: app.py of a minimal function whose handler is ``app.handler``
HANDLER = "def handler(event, context):\n    return 1\n"


@pytest.fixture
def handler_tree(tmp_path: Path) -> Path:
    """``tmp_path/src``: a minimal function tree, app.py defining ``handler(event, context)``."""
    return make_tree(tmp_path / "src", {"app.py": HANDLER})


def two_source_folders(root: Path) -> None:
    """A function (functions/api, app.handler) that imports from a second folder, libs/common
    (with tests/ to leave out): a function gathered from two source folders."""
    (root / "functions/api").mkdir(parents=True)
    (root / "functions/api/app.py").write_text(
        "from common.util import greet\n\ndef handler(event, context):\n    return greet()\n"
    )
    (root / "libs/common/tests").mkdir(parents=True)
    (root / "libs/common/__init__.py").write_text("")
    (root / "libs/common/util.py").write_text("def greet():\n    return 'hi'\n")
    (root / "libs/common/tests/test_util.py").write_text("assert True\n")


def require_tool(name: str) -> str:
    """The tool's path; in CI (.ci/run installs it) a missing tool fails instead of skipping."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")
    return found


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m detzip ARGS`` in a fresh interpreter."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "detzip", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        input=input,
        timeout=300,
    )


def run_cli_unprivileged(
    *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """:func:`run_cli` bound by file permissions: as root, without the capabilities that
    bypass them (``setpriv``); skipped where that cannot be arranged."""
    if os.geteuid() != 0:
        return run_cli(*args, env=env)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's permission bypass")
    return subprocess.run(
        [setpriv, "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m",
         "detzip", *args],
        env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("detzip: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def run_in_layer(layer: Path, scratch: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Extract ``layer`` and run ``code`` in a fresh isolated interpreter (``-I``) whose only
    extra path is the extracted ``python/`` — the import check."""
    out = scratch / "extracted"
    with zipfile.ZipFile(layer) as archive:
        archive.extractall(out)
    prelude = f"import sys; sys.path.insert(0, {str(out / 'python')!r}); "
    return subprocess.run(
        [sys.executable, "-I", "-c", prelude + code], capture_output=True, text=True
    )


def run_extracted(layer: Path, tmp: Path, code: str, root: str = "python") -> str:
    """Run ``code`` with python3.11 against the zip extracted under ``tmp`` (``root``: the folder
    on the path, ``python`` for a layer as Lambda's /opt, ``""`` for a function); its stdout."""
    where = tmp / f"opt-{layer.stem}"
    shutil.rmtree(where, ignore_errors=True)
    with zipfile.ZipFile(layer) as archive:
        archive.extractall(where)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(where / root), "PYTHONNOUSERSITE": "1"}
    python = shutil.which("python3.11") or sys.executable
    done = subprocess.run([python, "-S", "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# -- moto's S3 on loopback, for the modules that test the shared cache ------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    running = MotoServer()
    yield running
    running.stop()


@pytest.fixture
def bucket(
    server: MotoServer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-")
    server.client().create_bucket(Bucket=name)
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    return name
