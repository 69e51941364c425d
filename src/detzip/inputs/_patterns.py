"""Gitignore-style patterns (pathspec), with an invalid one named where it came from."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from detzip.errors import DetzipError, Setting, literal

if TYPE_CHECKING:
    import pathspec


class Matcher:
    """A :class:`pathspec.GitIgnoreSpec` with a fast "no pattern can match" test in front.

    pathspec tries every pattern's regex in turn for every path; a walk asks about thousands of
    paths that almost no pattern matches. One regex that matches whenever any single pattern
    does (their union, sharing the "any folder" prefix gitignore regexes start with) answers
    most paths at once; the others go to the spec itself, which decides as before.
    """

    __slots__ = ("_any", "spec")

    def __init__(self, spec: pathspec.GitIgnoreSpec) -> None:
        self.spec = spec
        self._any = _union(spec)

    def match_file(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated; a folder ends with ``/``) is matched."""
        if self._any is not None and self._any.match(path) is None:
            return False
        return bool(self.spec.match_file(path))


_ANY_FOLDER = "^(?:.+/)?"


def _union(spec: pathspec.GitIgnoreSpec) -> re.Pattern[str] | None:
    """A regex matching (at the start) every path one of the spec's patterns matches; None
    when the patterns are not all anchored string regexes (then every path goes to the spec)."""
    shared: list[str] = []
    alone: list[str] = []
    for pattern in spec.patterns:
        if pattern.include is None:
            continue  # a comment or blank line
        regex = getattr(pattern, "regex", None)
        if not isinstance(regex, re.Pattern) or not isinstance(regex.pattern, str):
            return None
        text = regex.pattern.replace("(?P<ps_d>", "(?:")  # one name may not repeat
        if not text.startswith("^") or "(?P" in text:
            return None
        if text.startswith(_ANY_FOLDER):
            shared.append(text[len(_ANY_FOLDER) :])
        else:
            alone.append(f"(?:{text})")
    branches = ([f"{_ANY_FOLDER}(?:{'|'.join(shared)})"] if shared else []) + alone
    try:
        return re.compile("|".join(branches) or "(?!)")
    except re.error:
        return None


def compile_patterns(
    sources: Iterable[tuple[Iterable[str], str]],
) -> Matcher:
    """One matcher from ``(patterns, origin)`` pairs, in order. ``origin`` is a file's path or
    an option's name (``exclude``, ``include``): an invalid pattern is an error naming it.

    The same patterns give the one matcher already compiled in this process (a layer's local
    packages and a project's functions share the default excludes): compiling is most of what
    pathspec costs a small tree."""
    given = [(list(patterns), origin) for patterns, origin in sources]
    lines = tuple(p for patterns, _ in given for p in patterns)
    found = _COMPILED.get(lines)
    if found is not None:
        return found
    import pathspec  # here: the slowest import on a build's path

    try:
        found = Matcher(pathspec.GitIgnoreSpec.from_lines(lines))
    except (ValueError, TypeError):
        _culprit(given, pathspec.GitIgnoreSpec)
        raise DetzipError("the patterns do not compile together; check them") from None
    _COMPILED[lines] = found
    for patterns, origin in given:
        for pattern in patterns:
            if _WINDOWS_SEPARATOR.search(pattern):
                _say_slash(pattern, origin)
    return found


#: a backslash before a name's character: a Windows separator, not gitignore's escape (which
#: protects a special character: ``\#``, ``\!``, ``\*``, a trailing space…)
_WINDOWS_SEPARATOR = re.compile(r"\\[A-Za-z0-9_.-]")


def _say_slash(pattern: str, origin: str) -> None:
    """Warn that ``pattern`` (from ``origin``) uses a backslash where patterns use ``/``."""
    from detzip.errors import warn

    shown, fixed = literal(f"'{pattern}'"), literal(f"'{pattern.replace(chr(92), '/')}'")
    said = (
        f"{shown} has a backslash: patterns use '/' between folders on every "
        f"OS (a backslash escapes the next character, as in .gitignore), so it matches nothing "
        f"you meant; write {fixed}"
    )
    if "/" in origin or "." in origin:  # a file
        warn(said, origin)
    else:
        warn(f"{said} in {{0}}", settings=[Setting(origin)])


#: the matchers compiled in this process, by their patterns (a matcher is never changed)
_COMPILED: dict[tuple[str, ...], Matcher] = {}


def _culprit(given: list[tuple[list[str], str]], spec: type[pathspec.GitIgnoreSpec]) -> None:
    """Raise the error naming the first invalid pattern and where it came from."""
    for patterns, origin in given:
        for pattern in patterns:
            try:
                spec.from_lines([pattern])
            except (ValueError, TypeError) as exc:
                reason = literal(f"{pattern!r} is not a valid pattern ({exc})")
                if "/" in origin or "." in origin:  # a file
                    raise DetzipError(f"{reason}; fix it", origin) from None
                raise DetzipError(f"{reason}; fix {{0}}", settings=[Setting(origin)]) from None
