"""pip, run as a subprocess of this interpreter: downloading and resolving for a target.

pip's own configuration (pip.conf, PIP_* variables) is honoured; its output goes to stderr so
that stdout carries only detzip's results.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from detzip import _log as log
from detzip._scratch import Scratch
from detzip.errors import DetzipError, literal

__all__ = ["resolve", "run"]


def run(args: Sequence[str], *, what: str, env: Mapping[str, str] | None = None) -> None:
    """``python -m pip ARGS``; a failure is a one-line error that says what was being done."""
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    log.debug("running %s", " ".join(argv))
    try:  # stream pip's progress to our stderr when it is a real file
        sys.stderr.flush()
        out: int = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # e.g. a notebook's or a test's stream
        out = subprocess.PIPE
    result = subprocess.run(
        argv,
        stdout=out,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=None if env is None else dict(env),
    )
    if result.stdout:
        sys.stderr.write(result.stdout)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        output = (result.stdout or "") + "\n" + result.stderr
        culprit = _culprit(output)
        at = f" (at {culprit})" if culprit else ""
        raise DetzipError(f"pip failed while {what}{at}: {literal(_cause(output))}")
    if result.stderr:
        sys.stderr.write(result.stderr)


#: lines that say why, best first: a compiler's or a missing file's, then pip's own verdicts
_CAUSES = (
    re.compile(r"(fatal )?error: .*", re.I),
    re.compile(
        r"ERROR: (No matching distribution|Could not find a version|Could not install"
        r"|HTTP error|Hashes are required|THESE PACKAGES DO NOT MATCH).*"
    ),
    re.compile(r"\w*(Error|Exception): .+"),
    re.compile(r"ERROR: .*\S.*"),
)
#: pip's own summaries, which say that something failed but not why
_GENERIC = re.compile(r"error: [a-z0-9-]+$|ERROR: Failed (building wheel|to build)|note: ")
#: lines that name the package pip was working on
_CULPRITS = (
    re.compile(
        r"(?:No matching distribution found for|Failed to build|"
        r"Failed building wheel for|Could not find a version that satisfies the requirement)"
        r"\s+([A-Za-z0-9][\w.\-\[\]=<>!~]*)"
    ),
    re.compile(r"(?:Building wheel for|Collecting|Processing)\s+([^\s(]+)"),
)


def _cause(output: str) -> str:
    """The one line of pip's output that says why it failed (not a traceback's frame)."""
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.strip() and not _GENERIC.match(line.strip())
    ]
    for pattern in _CAUSES:
        for line in reversed(lines):
            if pattern.match(line) and not line.endswith(("Exception:", "Traceback")):
                return line[:300]
    return (lines or ["pip failed"])[-1][:300]


def _culprit(output: str) -> str | None:
    """The package pip failed on, when its output says (the last one it named)."""
    for pattern in _CULPRITS:
        found = pattern.findall(output)
        if found:
            return str(found[-1])
    return None


def resolve(requirements: Path, target_args: Sequence[str], options: Sequence[str]) -> list[Any]:
    """pip's resolution of a requirements file for the target: the report's 'install' items."""
    with Scratch("resolve") as scratch:
        report = scratch / "report.json"
        run(
            [
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report),
                "--target",
                str(scratch / "target"),
                *target_args,
                *options,
                "-r",
                str(requirements),
            ],
            what=f"resolving {requirements} for the target",
        )
        items: list[Any] = json.loads(report.read_text())["install"]
        return items
