"""Invariants, by hypothesis: the bytes depend on names, contents and exec bits only."""

from __future__ import annotations

import os
import shutil
import time
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from detzip import build_function

NAME_CHARS = st.characters(
    codec="utf-8", categories=("Lu", "Ll", "Lo", "Nd"), exclude_characters="\0/"
) | st.sampled_from("._- +=@")
NAMES = st.text(NAME_CHARS, min_size=1, max_size=10).filter(
    lambda n: n not in (".", "..") and len(n.encode()) < 100
)
PATHS = st.lists(NAMES, min_size=1, max_size=4).map(tuple)


def nfc(name: str) -> str:
    """What detzip names a path in the archive (names are NFC, as git stores them)."""
    return unicodedata.normalize("NFC", name)


def _key(path: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(nfc(part) for part in path)


@st.composite
def trees(draw: st.DrawFn) -> dict[str, Any]:
    """{path: (content, executable)} for files and {path: None} for empty dirs, no conflicts.
    Names may be in any normalisation form; no two are the same name in form C (detzip refuses
    such a tree, as test_tree tests)."""
    files: dict[tuple[str, ...], tuple[bytes, bool]] = {}
    for path in draw(st.lists(PATHS, max_size=12, unique_by=_key)):
        # a path can't be both a file and a folder
        if any(
            _key(path)[: len(other)] == _key(other) or _key(other)[: len(path)] == _key(path)
            for other in files
        ):
            continue
        files[path] = (
            draw(st.binary(max_size=300) | st.text(max_size=300).map(str.encode)),
            draw(st.booleans()),
        )
    dirs = [
        path
        for path in draw(st.lists(PATHS, max_size=3, unique_by=_key))
        if not any(
            _key(other)[: len(path)] == _key(path) or _key(path)[: len(other)] == _key(other)
            for other in files
        )
    ]
    tree: dict[str, Any] = {"/".join(p): v for p, v in files.items()}
    for path in dirs:
        if not any(
            _key(other) != _key(path) and _key(other)[: len(path)] == _key(path) for other in dirs
        ):
            tree["/".join(path) + "/"] = None
    return tree


@contextmanager
def environment(tz: str, umask: int) -> Iterator[None]:
    old_tz = os.environ.get("TZ")
    old_mask = os.umask(umask)
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        os.umask(old_mask)
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()


def materialize(
    root: Path, tree: dict[str, Any], *, reverse: bool, modes: st.DataObject, mtimes: bool
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    items = sorted(tree.items(), reverse=reverse)
    for name, value in items:
        path = root / name
        if value is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        content, executable = value
        path.write_bytes(content)
        choices = (
            (0o755, 0o700, 0o744, 0o711, 0o775)
            if executable
            else (0o644, 0o600, 0o640, 0o664, 0o400)
        )
        path.chmod(modes.draw(st.sampled_from(choices)))
        if mtimes:
            stamp = modes.draw(st.integers(0, 4_000_000_000))
            os.utime(path, (stamp, stamp))


SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.slow
@SETTINGS
@given(
    tree=trees(),
    data=st.data(),
    tz=st.sampled_from(["UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati"]),
)
def test_bytes_do_not_depend_on_the_filesystem(
    tmp_path_factory: Any, tree: dict[str, Any], data: st.DataObject, tz: str
) -> None:
    base = tmp_path_factory.mktemp("prop")
    first, second = base / "a" / "src", base / "elsewhere" / "deeper" / "src"
    materialize(first, tree, reverse=False, modes=data, mtimes=False)
    with environment("UTC", 0o022):
        one = build_function(first, base / "one.zip", default_excludes=False)
    with environment(tz, data.draw(st.sampled_from([0o077, 0o002, 0o027]))):
        materialize(second, tree, reverse=True, modes=data, mtimes=True)
        two = build_function(second, base / "two.zip", default_excludes=False)
    assert one.sha256 == two.sha256
    assert (base / "one.zip").read_bytes() == (base / "two.zip").read_bytes()
    shutil.rmtree(base)


@pytest.mark.slow
@SETTINGS
@given(tree=trees(), data=st.data())
def test_extraction_gives_back_names_contents_and_exec_bits(
    tmp_path_factory: Any, tree: dict[str, Any], data: st.DataObject
) -> None:
    base = tmp_path_factory.mktemp("rt")
    materialize(base / "src", tree, reverse=False, modes=data, mtimes=False)
    artifact = build_function(base / "src", base / "out.zip", default_excludes=False)
    with zipfile.ZipFile(artifact.path) as archive:
        assert archive.testzip() is None
        infos = {info.filename: info for info in archive.infolist()}
        # format 2: a folder has an entry exactly when it is empty; the others are implied;
        # names come back in normalisation form C
        named = {nfc(name): value for name, value in tree.items()}
        empty = {
            name
            for name, value in named.items()
            if value is None and not any(o != name and o.startswith(name) for o in named)
        }
        files = {name for name, value in named.items() if value is not None}
        assert set(infos) == files | empty
        for name in empty:
            assert infos[name].is_dir()
        for name in files:
            content, executable = named[name]
            assert archive.read(name) == content
            assert (infos[name].external_attr >> 16) == (0o100755 if executable else 0o100644)
    shutil.rmtree(base)


PATTERN_PARTS = st.sampled_from(
    ["*", "**", "?", "[ab]", "a", "b.py", "tests", "x", ".md", "!", "/", "\\*", "[!c]", "dir/"]
)
PATTERNS = st.lists(st.lists(PATTERN_PARTS, min_size=1, max_size=4).map("".join), max_size=6)


MATCHER_EXAMPLES = 300
_compared: list[int] = []  # the number of patterns of each case that compiled and was compared


@settings(max_examples=MATCHER_EXAMPLES, deadline=None)
@given(patterns=PATTERNS, paths=st.lists(PATHS, min_size=1, max_size=8), folder=st.booleans())
def _fast_matcher_agrees_with_pathspec(
    patterns: list[str], paths: list[tuple[str, ...]], folder: bool
) -> None:
    import pathspec

    from detzip.errors import DetzipError
    from detzip.inputs._patterns import compile_patterns
    from detzip.inputs.tree import DEFAULT_EXCLUDES

    try:
        matcher = compile_patterns([(DEFAULT_EXCLUDES, "default_excludes"), (patterns, "exclude")])
    except DetzipError:
        matcher = None  # not a valid pattern: refused either way, nothing to compare
    assume(matcher is not None)
    assert matcher is not None
    spec = pathspec.GitIgnoreSpec.from_lines([*DEFAULT_EXCLUDES, *patterns])
    for parts in paths:
        path = "/".join(parts) + ("/" if folder else "")
        assert matcher.match_file(path) == spec.match_file(path), (patterns, path)
    _compared.append(len(patterns))


@pytest.mark.slow
def test_the_fast_matcher_agrees_with_pathspec() -> None:
    _compared.clear()
    _fast_matcher_agrees_with_pathspec()
    # Hypothesis runs MATCHER_EXAMPLES cases that pass assume() (it gives up if too few do).
    # Most of them must have compared patterns of the user's, not the default excludes alone:
    # if every non-empty list were refused, the matcher would not be tested at all.
    with_patterns = sum(1 for count in _compared if count)
    assert with_patterns >= MATCHER_EXAMPLES // 2, (with_patterns, len(_compared))


def test_the_same_patterns_compile_once_and_a_bad_one_is_still_named() -> None:
    """A process (a layer's local packages, a project's functions) compiles each set of
    patterns once, whatever file or option each came from; an invalid one is never kept."""
    from detzip.errors import DetzipError
    from detzip.inputs._patterns import compile_patterns

    first = compile_patterns([(["*.tmp", "cache/"], "exclude")])
    again = compile_patterns([(["*.tmp"], "default_excludes"), (["cache/"], "/a/.detzipignore")])
    assert again is first
    assert compile_patterns([(["*.tmp"], "exclude")]) is not first
    for _ in range(2):
        try:
            compile_patterns([(["*.tmp"], "exclude"), (["!"], "/src/.detzipignore")])
        except DetzipError as exc:
            assert str(exc).startswith("/src/.detzipignore: '!' is not a valid pattern")
        else:
            raise AssertionError("an invalid pattern was accepted")
