"""The resolution (detzip.deps.resolution) and the choice of a wheel per package for the target
(detzip.deps._select), imported directly: the same description whatever the lock format, a
remembered resolution that reads no lock, the best tag chosen or the option to fix named, and
a lock made for another machine answered with how to lock for the target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from detzip.cache.local import Cache
from detzip.deps._select import choose, select
from detzip.deps.locks.loading import load
from detzip.deps.request import Dependencies
from detzip.deps.resolution import resolve
from detzip.deps.store import WheelStore
from detzip.deps.targets import Target
from detzip.errors import DetzipError

from .conftest import assert_one_line_error, run_cli
from .wheelfactory import Repo, Wheel, sha256_file

FORMATS = ("requirements", "poetry", "pylock", "uv")
PY311 = Target("python3.11", "x86_64")
PY312_ARM = Target("python3.12", "arm64")


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

    def tree_memo(self, root: Path, describe: Mapping[str, Any]) -> None:
        return None  # local packages' files are walked and read


def _deps(repo: Repo, lock: Path, **kw: Any) -> Dependencies:
    return Dependencies(lock, runtime="python3.11", **repo.find_links, **kw)


@pytest.mark.parametrize("kind", FORMATS)
def test_resolution_is_the_same_whatever_the_format(repo: Repo, tmp_path: Path, kind: str) -> None:
    store = tmp_path / "store"
    memo = _Memo()
    resolution = resolve(_deps(repo, repo.write(kind, tmp_path)), memo, store, tmp_path / "r")
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
    resolution = resolve(_deps(repo, missing), _Memo(remembered), tmp_path / "s", tmp_path / "r")
    assert resolution.description is described
    assert resolution.inputs == (Path("/somewhere/poetry.lock"),)
    with pytest.raises(DetzipError, match="no such lock"):
        resolution.wheels()  # only a build reads the lock (and would fail here)


def test_choose_prefers_the_best_tag_then_refuses_with_the_option(
    repo: Repo, tmp_path: Path
) -> None:
    pins = {pin.name: pin for pin in load(repo.write("uv", tmp_path), PY311).pins}
    assert choose(pins["gamma"], PY311).filename == "gamma-3.1-cp38-abi3-manylinux2014_x86_64.whl"
    assert choose(pins["gamma"], PY312_ARM).filename == (
        "gamma-3.1-cp38-abi3-manylinux2014_aarch64.whl"
    )
    with pytest.raises(DetzipError) as raised:
        choose(pins["native"], Target("python3.13", "x86_64"))
    assert raised.value.settings[0].option == "exclude_packages"


def test_excluded_packages_leave_the_description(repo: Repo, tmp_path: Path) -> None:
    deps = _deps(repo, repo.write("poetry", tmp_path), exclude_packages=["Native"])
    selection = select(deps, WheelStore(tmp_path / "s", tmp_path / "r"), Cache(tmp_path / "c"))
    assert [p["name"] for p in selection.description["packages"]] == ["alpha", "beta", "gamma"]
    assert selection.description["exclude_packages"] == ["native"]


def test_a_lock_made_for_another_machine_says_to_lock_for_the_target(tmp_path: Path) -> None:
    wheel = Wheel("fastjson", "1.0", "cp311-cp311-manylinux_2_17_x86_64",
                  files={"fastjson.py": ""}).build(tmp_path)  # fmt: skip
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "pip"\n[[packages]]\nname = "fastjson"\n'
        f'version = "1.0"\n[[packages.wheels]]\nname = "{wheel.name}"\nurl = "{wheel.as_uri()}"\n'
        f'hashes = {{sha256 = "{sha256_file(wheel)}"}}\n'
    )
    result = run_cli("layer", "-r", str(lock), "-o", str(tmp_path / "l.zip"), "--runtime",
                     "python3.12", "--no-index")  # fmt: skip
    assert_one_line_error(result, "fastjson 1.0 has no wheel for python3.12",
                          "lock for the target", "--python-version 3.12")  # fmt: skip
