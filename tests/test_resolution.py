"""The resolution (detzip.deps.resolution), imported directly: the choice of a wheel per package
for the target (the best tag chosen, or the option to fix named), excluded packages left out,
and a lock made for another machine answered with how to lock for the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detzip.cache.local import Cache
from detzip.deps.locks.loading import load
from detzip.deps.request import Dependencies
from detzip.deps.resolution import choose, resolve
from detzip.deps.store import WheelStore
from detzip.deps.targets import Target
from detzip.errors import DetzipError

from .conftest import assert_one_line_error, run_cli
from .wheelfactory import Repo, Wheel, sha256_file

FORMATS = ("requirements", "poetry", "pylock", "uv")
PY311 = Target("python3.11", "x86_64")
PY312_ARM = Target("python3.12", "arm64")


def _deps(repo: Repo, lock: Path, **kw: Any) -> Dependencies:
    return Dependencies(lock, runtime="python3.11", **repo.find_links, **kw)


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
    resolution = resolve(
        deps, WheelStore(tmp_path / "s", tmp_path / "r"), Cache(tmp_path / "c").memo
    )
    assert [p["name"] for p in resolution.description["packages"]] == ["alpha", "beta", "gamma"]
    assert resolution.description["exclude_packages"] == ["native"]


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
