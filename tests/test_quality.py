"""The code standards are part of the test command: mypy --strict and ruff must be clean."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from .conftest import SRC

ROOT = SRC.parent


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "mypy"],
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "ruff", "format", "--check", "."],
    ],
    ids=["mypy", "ruff-check", "ruff-format"],
)
def test_static_checks(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:  # pragma: no cover
        pytest.skip("no interpreter")
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
