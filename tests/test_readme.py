"""Every command and code block in README.md works as written (run in a copy of the repo)."""

from __future__ import annotations

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
    shutil.copytree(ROOT / "examples", copy / "examples")
    return copy


def test_detzip_commands(repo_copy: Path) -> None:
    commands = [
        line.split("&& ", 1)[-1]
        for block in blocks("console")
        for line in block.splitlines()
        if ("detzip " in line and "pip install" in line) or line.startswith("detzip ")
    ]
    assert len(commands) >= 4
    for command in commands:
        argv = [sys.executable, "-m", "detzip", *command.split()[1:]]
        result = subprocess.run(argv, cwd=repo_copy, capture_output=True, text=True)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout


def test_python_blocks(repo_copy: Path) -> None:
    for block in blocks("python"):
        subprocess.run([sys.executable, "-c", block], cwd=repo_copy, check=True)


def test_quick_start_prints_the_hash(repo_copy: Path) -> None:
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
