"""pip, run as a subprocess of this interpreter: downloading and resolving for a target.

pip's own configuration (pip.conf, PIP_* variables) is honoured; its output goes to stderr so
that stdout carries only detzip's results.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from detzip import _log as log
from detzip._scratch import Scratch
from detzip.errors import DetzipError, literal

__all__ = ["PipFailed", "build_failure", "resolve", "run"]


class PipFailed(DetzipError):
    """pip exited with an error: the one-line message, and pip's whole ``output`` (for a
    build's real reason, see :func:`build_failure`)."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def run(
    args: Sequence[str], *, what: str, env: Mapping[str, str] | None = None, echo: bool = True
) -> None:
    """``python -m pip ARGS``; a failure is a one-line error that says what was being done.
    pip's output goes to stderr, unless not ``echo`` (a question whose "no" is no failure)."""
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    log.debug("running %s", " ".join(argv))
    try:  # stream pip's progress to our stderr when it is a real file
        sys.stderr.flush()
        out: int = sys.stderr.fileno() if echo else subprocess.PIPE
    except (AttributeError, OSError, ValueError):  # e.g. a notebook's or a test's stream
        out = subprocess.PIPE
    result = subprocess.run(
        argv,
        stdout=out,
        stderr=subprocess.PIPE,
        encoding="utf-8",  # (pip is asked for UTF-8, whatever the locale: Windows's code page
        errors="replace",  # cannot hold every name pip may print)
        stdin=subprocess.DEVNULL,
        env={**(os.environ if env is None else env), "PYTHONIOENCODING": "utf-8"},
    )
    if result.stdout and echo:
        sys.stderr.write(result.stdout)
    if result.returncode != 0:
        if echo:
            sys.stderr.write(result.stderr)
        output = (result.stdout or "") + "\n" + result.stderr
        culprit = _culprit(output)
        at = f" (at {culprit})" if culprit else ""
        raise PipFailed(f"pip failed while {what}{at}: {literal(_cause(output))}", output)
    if result.stderr and echo:
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


#: where a backend's output begins and ends in pip's report of a failed build
_BLOCK_START = re.compile(r"\s*\u2570\u2500> \[\d+ lines? of output\]")
_BLOCK_END = re.compile(r"\s*\[end of output\]")
#: a compiler stand-in of :func:`detzip.deps._pep517.sealed`, as a build ran it
_SHIM = re.compile(r"\S*/no-compilers/([\w+.-]+)")
_SHIM_SAID = re.compile(r"detzip: no compiler \(([\w+.-]+)\) in a Lambda build")
#: files a compiler is given to compile
_SOURCE = re.compile(r"[\w./+-]+\.(?:c|cc|cpp|cxx|c\+\+|m|f|f90|f95|pyx|rs)\b")
#: a line that says what went wrong, in a backend's output
_ERROR_LINE = re.compile(
    r"(?:.*\b(?:fatal )?error\b[:!]?|CMake Error|\w*(?:Error|Exception|Exit)\b:?|"
    r"Could not |.*\bnot found\b|.*\bis required\b|.*\bno such file\b)",
    re.I,
)
#: a backend's lines that say nothing (progress, pip's frame, a traceback's frames)
_NOISE = re.compile(
    r"(?:running |copying |creating |writing |reading |adding |building '|checking |"
    r"-- |\[end of output\]|note: |hint: |\u00d7|\u2502|\u2570\u2500>|"
    r"Traceback \(most recent|File \"|\^+$|~+$)"
)
#: how long a reason may be
_REASON = 300


def build_failure(output: str) -> str:
    """Why a build failed, as one line, from pip's output: the compilers it ran (a Lambda
    build has none: :func:`detzip.deps._pep517.sealed`), else the backend's last lines that say
    what went wrong (a traceback's exception, a CMake error with its text, a missing tool),
    with long command lines cut to the program and its sources."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if _BLOCK_START.match(line)]
    if starts:  # the backend's own output, in pip's frame: the last build's
        block = lines[starts[-1] + 1 :]
        ends = [i for i, line in enumerate(block) if _BLOCK_END.match(line)]
        block = block[: ends[0]] if ends else block
    else:
        block = lines
    tools = sorted({m for line in block for m in _SHIM.findall(line) + _SHIM_SAID.findall(line)})
    if tools:
        sources: list[str] = []
        names = "|".join(map(re.escape, tools))
        ran = re.compile(rf"(?:^|[\s'\"/])(?:{names})(?:'?,|\s)")
        for line in block:  # the compilers' command lines: what they were given
            if _SHIM.search(line) or ran.search(line.strip()):
                sources += [s for s in _SOURCE.findall(line) if s not in sources]
        shown = ", ".join(sources[:3]) + (", …" if len(sources) > 3 else "")
        what = f" to compile {shown}" if shown else ""
        return f"it runs {', '.join(tools)}{what}, and a Lambda build has no compiler"
    said = _said(block)
    if not said:
        return _shorten(_cause(output))
    return _shorten(" — ".join(said))


def _said(block: list[str]) -> list[str]:
    """The last error in a backend's output: its line, and the indented lines that go on with
    it (a CMake error's text); else the last line that says anything."""
    kept: list[tuple[int, str]] = []
    frame: int | None = None  # a traceback's indentation, while in its frames
    for line in block:
        text = line.strip()
        indent = len(line) - len(line.lstrip())
        if not text:
            continue
        if text.startswith("Traceback (most recent"):
            frame = indent
            continue
        if frame is not None and indent > frame:
            continue  # a frame, or its source line
        frame = None
        if _NOISE.match(text) or _GENERIC.match(text):
            continue
        kept.append((indent, text))
    errors = [i for i, (_, text) in enumerate(kept) if _ERROR_LINE.match(text)]
    if not errors:
        return [kept[-1][1]] if kept else []
    head = errors[-1]  # the last error; a header it is indented under (CMake's) goes with it
    while head and kept[head - 1][0] < kept[head][0] and _ERROR_LINE.match(kept[head - 1][1]):
        head -= 1
    said = [kept[head][1]]
    for indent, text in kept[head + 1 : head + 5]:  # its text, indented under it
        if indent <= kept[head][0]:
            break
        said.append(text)
    if len(said) == 1 and len(errors) > 1 and errors[-2] == head - 1:
        return [kept[head - 1][1], said[0]]  # two errors in a row: the first says more
    return [" ".join(said)]


def _shorten(text: str) -> str:
    """``text`` with the compiler stand-ins' folders left out and a long command cut to its
    program and sources, at most :data:`_REASON` characters."""
    text = _SHIM.sub(r"\1", text)
    text = re.sub(r"\[('[^']*'(?:, '[^']*')*)\]", _command, text)
    text = " ".join(text.split())
    if len(text) > _REASON:
        text = text[: _REASON - 60] + " … " + text[-57:]
    return text


def _command(found: re.Match[str]) -> str:
    """A command written as a Python list → its program and the files it compiles."""
    words = re.findall(r"'([^']*)'", found[1])
    if len(words) <= 4:
        return found[0]
    sources = [w for w in words[1:] if _SOURCE.fullmatch(w)]
    return " ".join([words[0].rsplit("/", 1)[-1], "…", *sources[:3]])


def _culprit(output: str) -> str | None:
    """The package pip failed on, when its output says (the last one it named)."""
    for pattern in _CULPRITS:
        found = pattern.findall(output)
        if found:
            return str(found[-1])
    return None


def resolve(
    requirements: Path, target_args: Sequence[str], options: Sequence[str], *, echo: bool = True
) -> list[Any]:
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
            echo=echo,
        )
        items: list[Any] = json.loads(report.read_text(encoding="utf-8"))["install"]
        return items
