"""Errors a user can act on.

Every error detzip raises for bad input is a :class:`DetzipError` whose message is one line that
names the file and says what to do. The CLI prints it and exits with its ``exit_code``.

A message that tells the user to set an option does not spell it: it carries a :class:`Setting`
(the option's name in the option table and the value to give), and each front door renders it in
its own words — ``--upload s3`` on the command line, ``upload = "s3"`` in ``[tool.detzip]`` and
Terraform, ``upload='s3'`` in Python (what ``str(error)`` shows).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import NamedTuple

__all__ = [
    "CompressorMismatchError",
    "DetzipError",
    "Setting",
    "Spelling",
    "literal",
    "python_spelling",
    "speaking",
    "warn",
]


class Setting(NamedTuple):
    """An option a message refers to, by its name in the option table, and the value to give.

    ``value`` None names the option alone (``--cache``, ``cache``).
    """

    option: str
    value: object = None


Spelling = Callable[[Setting], str]
"""How a front door writes a :class:`Setting`."""


def python_spelling(setting: Setting) -> str:
    """The API's spelling: the keyword argument, ``upload='s3'`` (or just ``upload``)."""
    if setting.value is None:
        return setting.option
    return f"{setting.option}={setting.value!r}"


def literal(text: str) -> str:
    """``text`` as it is, inside a message that has settings (its braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


_SPEAKING: ContextVar[Spelling] = ContextVar("detzip_spelling", default=python_spelling)


@contextlib.contextmanager
def speaking(spell: Spelling) -> Iterator[None]:
    """While the block runs, errors and warnings render their settings as ``spell`` does (a
    front door says so once; ``str(error)`` and the ``detzip`` logger's warnings follow)."""
    token = _SPEAKING.set(spell)
    try:
        yield
    finally:
        _SPEAKING.reset(token)


class DetzipError(Exception):
    """Bad input or usage: the message is one line that names the file and the fix.

    ``message`` may hold ``{}`` fields, one per entry of ``settings``: the options it tells the
    user to set, rendered by :meth:`render` in a front door's spelling.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        path: str | os.PathLike[str] | None = None,
        *,
        settings: Sequence[Setting] = (),
    ) -> None:
        self.path = None if path is None else os.fspath(path)
        self.template = message
        self.settings = tuple(settings)
        super().__init__(self.render(python_spelling))

    def __str__(self) -> str:
        return self.render(_SPEAKING.get())

    def render(self, spell: Spelling) -> str:
        """The message with every setting written as ``spell`` writes it; always one line."""
        text = self.template
        if self.settings:
            text = text.format(*(spell(setting) for setting in self.settings))
        if self.path is not None:
            text = f"{self.path}: {text}"
        # one line, always: fold what a library's message spreads over several
        return " ".join(part.strip() for part in text.splitlines() if part.strip())

    def _copy(self) -> DetzipError:
        # not copy.copy: it would call the class with the message alone, and a subclass may
        # take more (pip's failure takes pip's output)
        error = type(self).__new__(type(self), *self.args)
        error.__dict__.update(self.__dict__)
        return error

    def spelled(self, spell: Spelling) -> DetzipError:
        """The same error with its settings written out in ``spell``'s words, for good: an
        error about a file (``[tool.detzip]``) speaks that file's language at every door."""
        if not self.settings:
            return self
        error = self._copy()
        text = self.template.format(*(spell(setting) for setting in self.settings))
        error.template, error.settings = text, ()
        return error

    def about(self, path: str | os.PathLike[str]) -> DetzipError:
        """The same error about ``path`` instead (a staging file's error is its output's)."""
        error = self._copy()
        error.path = os.fspath(path)
        error.args = (error.render(python_spelling),)
        return error

    def prefixed(self, prefix: str) -> DetzipError:
        """The same error (class, settings, exit code) with ``prefix`` before the path."""
        head = prefix + (f"{self.path}: " if self.path is not None else "")
        if self.settings:
            head = literal(head)
        error = self._copy()
        error.template, error.path = head + self.template, None
        error.args = (error.render(python_spelling),)
        return error


class CompressorMismatchError(DetzipError):
    """This machine's build of the pinned compressor does not produce the expected bytes."""


def warn(
    message: str,
    path: str | os.PathLike[str] | None = None,
    *,
    settings: Sequence[Setting] = (),
) -> None:
    """Warn on the ``detzip`` log with a message made as a :class:`DetzipError`'s is: one line
    naming the file, its settings written in the words of the door speaking when it is shown."""
    from detzip import _log

    _log.warning("%s", DetzipError(message, path, settings=settings))
