"""pip, run as a subprocess of this interpreter: downloading and resolving for a target.

pip's own configuration (pip.conf, PIP_* variables) is honoured; its output goes to stderr so
that stdout carries only detzip's results.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detzip import _log as log
from detzip.errors import DetzipError

__all__ = ["resolve", "run"]


def run(args: Sequence[str], *, what: str) -> None:
    """``python -m pip ARGS``; a failure is a one-line error that says what was being done."""
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    log.debug("running %s", " ".join(argv))
    try:  # stream pip's progress to our stderr when it is a real file
        sys.stderr.flush()
        out: int = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # e.g. a notebook's or a test's stream
        out = subprocess.PIPE
    result = subprocess.run(
        argv, stdout=out, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    if result.stdout:
        sys.stderr.write(result.stdout)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        last = next(
            (line.strip() for line in reversed(result.stderr.splitlines()) if "ERROR" in line),
            (result.stderr.strip().splitlines() or ["pip failed"])[-1],
        )
        raise DetzipError(f"pip failed while {what}: {last}")
    if result.stderr:
        sys.stderr.write(result.stderr)


def resolve(requirements: Path, target_args: Sequence[str], options: Sequence[str]) -> list[Any]:
    """pip's resolution of a requirements file for the target: the report's 'install' items."""
    with tempfile.TemporaryDirectory(prefix="detzip-resolve-") as scratch:
        report = Path(scratch) / "report.json"
        run(
            [
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report),
                "--target",
                str(Path(scratch) / "target"),
                *target_args,
                *options,
                "-r",
                str(requirements),
            ],
            what=f"resolving {requirements} for the target",
        )
        items: list[Any] = json.loads(report.read_text())["install"]
        return items
