"""Errors a user can act on.

Every error detzip raises for bad input is a :class:`DetzipError` whose message is one line that
names the file and says what to do. The CLI prints it and exits with its ``exit_code``.
"""

from __future__ import annotations

import os


class DetzipError(Exception):
    """Bad input or usage: the message is one line that names the file and the fix."""

    exit_code = 2

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        text = f"{self.path}: {message}" if self.path is not None else message
        # one line, always: fold what a library's message spreads over several
        super().__init__(" ".join(part.strip() for part in text.splitlines() if part.strip()))


class CompressorMismatchError(DetzipError):
    """This machine's build of the pinned compressor does not produce the expected bytes."""
