"""The interpreter that compiles bytecode for a runtime: exactly the runtime's minor version.

A pyc is only valid for the Python that wrote it (its magic number), so bytecode for
``python3.12`` is compiled by a Python 3.12 — given with ``python``, else ``python3.12`` on
``PATH``, else one ``uv python find 3.12`` knows — never by another. Its full version goes into
the key: a new patch release may compile differently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from detzip._datatype import datatype
from detzip.errors import DetzipError, Setting, literal

__all__ = ["Interpreter", "find_interpreter"]

_PROBE = (
    "import importlib.util, json, sys; print(json.dumps({'version': '%d.%d.%d' % "
    "sys.version_info[:3], 'implementation': sys.implementation.name, "
    "'magic': importlib.util.MAGIC_NUMBER.hex()}))"
)


@datatype
class Interpreter:
    """A Python to compile with: its path, full version (``3.11.7``) and pyc magic number."""

    path: str
    version: str
    magic: str

    @property
    def minor(self) -> str:
        """``3.11``."""
        return ".".join(self.version.split(".")[:2])

    def describe(self) -> dict[str, str]:
        """What the bytecode depends on, for the key (not the path: any 3.11.7 compiles alike)."""
        return {"python": self.version, "magic": self.magic}


def find_interpreter(python: str, given: str | None = None) -> Interpreter:
    """A CPython ``python`` (``"3.12"``) to compile with: ``given`` (a path or command), else
    ``python3.12`` on PATH, else uv's. None found, or another version, is exit 2 saying how to
    get one."""
    if given:
        found = _probe(given)
        if found is None:
            raise DetzipError(
                f"{{0}} {literal(given)} is not a Python interpreter that runs here; give the "
                f"path of a Python {python}",
                settings=[Setting("python")],
            )
        if found.minor != python:
            raise DetzipError(
                f"{{0}} {literal(given)} is Python {found.version}, but the runtime needs "
                f"bytecode for {python}; give a Python {python}",
                settings=[Setting("python")],
            )
        return found
    for candidate in _candidates(python):
        found = _probe(candidate)
        if found is not None and found.minor == python:
            return found
    raise DetzipError(
        f"compiling bytecode for python{python} needs a Python {python} interpreter, and none was "
        f"found (python{python} on PATH, uv python find {python}); install one (uv python install "
        f"{python}, or your system's package) or give it with {{0}}",
        settings=[Setting("python")],
    )


def _candidates(python: str) -> list[str]:
    found = []
    on_path = shutil.which(f"python{python}")
    if on_path:
        found.append(on_path)
    uv = shutil.which("uv")
    if uv:
        where = _output([uv, "python", "find", "--no-python-downloads", python])
        if where:
            found.append(where)
    return found


def _probe(command: str) -> Interpreter | None:
    path = command if os.sep in command else (shutil.which(command) or command)
    try:
        info = json.loads(_output([path, "-I", "-S", "-c", _PROBE]) or "null")
    except ValueError:
        return None
    if not isinstance(info, dict) or info.get("implementation") != "cpython":
        return None
    return Interpreter(os.path.abspath(path), str(info["version"]), str(info["magic"]))


def _output(argv: list[str]) -> str:
    """What a short command prints, stripped ('' if it cannot run or fails)."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
