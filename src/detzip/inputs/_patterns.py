"""Gitignore-style patterns (pathspec), with an invalid one named where it came from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from detzip.errors import DetzipError, Setting, literal

if TYPE_CHECKING:
    import pathspec


def compile_patterns(
    sources: Iterable[tuple[Iterable[str], str]],
) -> pathspec.GitIgnoreSpec:
    """One matcher from ``(patterns, origin)`` pairs, in order. ``origin`` is a file's path or
    an option's name (``exclude``, ``include``): an invalid pattern is an error naming it."""
    import pathspec  # here: the slowest import on a build's path

    given = [(list(patterns), origin) for patterns, origin in sources]
    try:
        return pathspec.GitIgnoreSpec.from_lines([p for patterns, _ in given for p in patterns])
    except (ValueError, TypeError):
        pass
    for patterns, origin in given:  # find the culprit and say where it came from
        for pattern in patterns:
            try:
                pathspec.GitIgnoreSpec.from_lines([pattern])
            except (ValueError, TypeError) as exc:
                reason = literal(f"{pattern!r} is not a valid pattern ({exc})")
                if "/" in origin or "." in origin:  # a file
                    raise DetzipError(f"{reason}; fix it", origin) from None
                raise DetzipError(f"{reason}; fix {{0}}", settings=[Setting(origin)]) from None
    raise DetzipError("the patterns do not compile together; check them")
