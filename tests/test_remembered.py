"""The resolved set remembered while the lock is unchanged (detzip.deps.remembered), imported
directly: the same description whatever the lock format, remembered with the files it was read
from, and a remembered resolution that reads no lock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from detzip.deps.remembered import resolved_set
from detzip.deps.request import Dependencies
from detzip.errors import DetzipError

from .wheelfactory import Repo

FORMATS = ("requirements", "poetry", "pylock", "uv")


class _Memo:
    """A memo in memory that records what was asked of it."""

    def __init__(self, value: Any = None) -> None:
        self.value = value
        self.remembered: list[tuple[str, Mapping[str, Any], Sequence[Path], Any]] = []

    def recall(self, kind: str, request: Mapping[str, Any]) -> Any:
        return self.value

    def remember(
        self, kind: str, request: Mapping[str, Any], inputs: Sequence[Path], value: Any
    ) -> None:
        self.remembered.append((kind, request, inputs, value))

    def tree(self, root: Path, describe: Mapping[str, Any]) -> None:
        return None  # local packages' files are walked and read


def _deps(repo: Repo, lock: Path, **kw: Any) -> Dependencies:
    return Dependencies(lock, runtime="python3.11", **repo.find_links, **kw)


@pytest.mark.parametrize("kind", FORMATS)
def test_resolution_is_the_same_whatever_the_format(repo: Repo, tmp_path: Path, kind: str) -> None:
    store = tmp_path / "store"
    memo = _Memo()
    resolution = resolved_set(_deps(repo, repo.write(kind, tmp_path)), memo, store, tmp_path / "r")
    packages = resolution.description["packages"]
    assert [p["name"] for p in packages] == ["alpha", "beta", "gamma", "native"]
    native = next(p for p in packages if p["name"] == "native")
    # python3.11 runs on Amazon Linux 2 (glibc 2.26): manylinux_2_28 does not run there
    assert (
        native["wheel"] == "native-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    assert resolution.description["runtime"] == "python3.11"
    # the description is remembered with the files it was read from
    [(what, _, inputs, value)] = memo.remembered
    assert what == "dependencies" and value["description"] == resolution.description
    assert inputs == resolution.inputs and value["inputs"] == [str(p) for p in inputs]


def test_a_remembered_resolution_does_not_read_the_lock(repo: Repo, tmp_path: Path) -> None:
    described = {"packages": [], "runtime": "python3.11"}
    remembered = {"description": described, "inputs": ["/somewhere/poetry.lock"]}
    missing = tmp_path / "gone" / "poetry.lock"
    resolution = resolved_set(
        _deps(repo, missing), _Memo(remembered), tmp_path / "s", tmp_path / "r"
    )
    assert resolution.description is described
    assert resolution.inputs == (Path("/somewhere/poetry.lock"),)
    with pytest.raises(DetzipError, match="no such lock"):
        resolution.wheels()  # only a build reads the lock (and would fail here)
