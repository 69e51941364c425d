"""Every command and code block in README.md works as written (run in a copy of the repo)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SRC

ROOT = SRC.parent
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(
        ROOT / "examples", copy / "examples", ignore=shutil.ignore_patterns(".build", ".terraform*")
    )
    return copy


def commands() -> list[str]:
    return [
        line.split("&& ", 1)[-1]
        for block in blocks("console")
        for line in block.splitlines()
        if ("detzip " in line and "pip install" in line) or line.startswith("detzip ")
    ]


def needs_network(text: str) -> bool:
    """Layer builds fetch wheels from PyPI; everything else runs offline."""
    return " -r " in text or "needs PyPI" in text or "detzip build" in text


def _run_commands(repo_copy: Path, network: bool) -> int:
    ran = 0
    for command in commands():
        if needs_network(command) != network:
            continue
        argv = [sys.executable, "-m", "detzip", *command.split()[1:]]
        result = subprocess.run(argv, cwd=repo_copy, capture_output=True, text=True)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout
        ran += 1
    return ran


@pytest.mark.slow
def test_detzip_commands(repo_copy: Path) -> None:
    assert _run_commands(repo_copy, network=False) >= 4


@pytest.mark.slow
@pytest.mark.network
def test_detzip_commands_that_fetch(
    repo_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DETZIP_CACHE_DIR", str(tmp_path / "cache"))
    assert _run_commands(repo_copy, network=True) >= 1


def test_python_blocks(repo_copy: Path) -> None:
    found = blocks("python")
    fences = [line for line in README.splitlines() if line.lstrip().startswith("```python")]
    assert len(found) == len(fences) > 0, "a python block the pattern does not see"
    ran = 0
    for block in found:
        if not needs_network(block):
            done = subprocess.run([sys.executable, "-c", block], cwd=repo_copy,
                                  capture_output=True, text=True)  # fmt: skip
            assert done.returncode == 0 and done.stderr == "", done.stderr
            ran += 1
    assert ran >= 1


@pytest.mark.slow
@pytest.mark.network
def test_python_blocks_that_fetch(repo_copy: Path, tmp_path: Path) -> None:
    env = {**os.environ, "DETZIP_CACHE_DIR": str(tmp_path / "cache")}
    ran = 0
    for block in blocks("python"):
        if needs_network(block):
            done = subprocess.run([sys.executable, "-c", block], cwd=repo_copy, env=env,
                                  capture_output=True, text=True)  # fmt: skip
            assert done.returncode == 0, done.stderr
            # the examples run clean: no warning of detzip's (pip's own notes aside)
            ours = [line for line in done.stderr.splitlines() if not line.startswith("WARNING: ")]
            assert ours == [], ours
            ran += 1
    assert ran >= 1


@pytest.mark.slow
@pytest.mark.network
def test_quick_start_builds_the_service_as_shown(repo_copy: Path, tmp_path: Path) -> None:
    """The quick start's table: the same artifacts, sizes and sha256 (a fresh cache: miss)."""
    shown = blocks("text")[0].strip().splitlines()
    result = subprocess.run(
        [sys.executable, "-m", "detzip", "build", "--config", "examples/service"],
        cwd=repo_copy,
        capture_output=True,
        text=True,
        env={**os.environ, "DETZIP_CACHE_DIR": str(tmp_path / "cache"), "DETZIP_CACHE": ""},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == shown


def test_single_function_prints_the_hash(repo_copy: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "detzip", "function", "examples/hello", "-o", "build/hello.zip"],
        cwd=repo_copy,
        capture_output=True,
        text=True,
        check=True,
    )
    digest = subprocess.run(
        [sys.executable, "-m", "detzip", "hash", "build/hello.zip"],
        cwd=repo_copy,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert f"base64sha256  {digest}" in result.stdout


def test_the_project_example_is_the_service_config() -> None:
    import tomllib

    shown = blocks("toml")[0]  # the first: the others show single keys
    service = tomllib.loads((ROOT / "examples" / "service" / "pyproject.toml").read_text())
    assert tomllib.loads(shown)["tool"]["detzip"] == service["tool"]["detzip"]


def test_the_layout_block_names_every_module_that_exists() -> None:
    """The README's file list and the package cannot drift apart."""
    [block] = [b for b in blocks("text") if b.startswith("src/detzip/")]
    package = SRC / "detzip"
    named = set(re.findall(r"\b([a-z_]+\.py)\b", block))
    folders = set(re.findall(r"^  ([a-z]+)/", block, flags=re.M))
    assert folders == {p.name for p in package.iterdir() if p.is_dir() and p.name[0] != "_"}
    top = {p.name for p in package.glob("*.py") if not p.name.startswith("__")}
    public = {name for name in top if not name.startswith("_")}
    assert public <= named, public - named
    assert named <= top, named - top
    lines = block.splitlines()
    for folder in folders:  # every module of a stage is named in its line and continuations
        start = next(i for i, line in enumerate(lines) if line.startswith(f"  {folder}/"))
        described = [lines[start]]
        for line in lines[start + 1 :]:
            if not line.startswith("     "):
                break
            described.append(line)
        words = set(re.findall(r"[a-z0-9_]+", "\n".join(described)))
        modules = {p.stem for p in (package / folder).glob("*.py") if not p.name.startswith("_")}
        assert modules <= words, (folder, modules - words)


def test_the_hosted_workflow_runs_the_offline_suite_the_readme_names() -> None:
    """The workflow for GitHub-hosted runners (it cannot run here): the three systems, and the
    very commands the README gives for the offline suite."""
    workflow = (ROOT / ".github" / "workflows" / "tests.yml").read_text(encoding="utf-8")
    assert "os: [ubuntu-latest, macos-latest, windows-latest]" in workflow
    for command in (
        'python -m pip install -e ".[test]"',
        'python -m pytest -m "not network and not e2e"',
    ):
        assert f"run: {command}" in workflow, command
        assert command in README, command
