"""The lock readers (detzip.deps.locks), imported directly: every format gives the same pins
for a target, groups add their packages, hashes are the files' sha256, and a lock's format is
told from its name or refused naming the option."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from detzip.deps.locks.loading import detect_format, load
from detzip.deps.targets import Target
from detzip.errors import DetzipError

from .wheelfactory import Repo, sha256_file

FORMATS = ("requirements", "poetry", "pylock", "uv")
PY311 = Target("python3.11", "x86_64")
PY312_ARM = Target("python3.12", "arm64")


def _versions(pins: Sequence[Any]) -> dict[str, str]:
    return {pin.name: pin.version for pin in pins}


@pytest.mark.parametrize("kind", FORMATS)
def test_every_lock_reader_gives_the_same_pins(repo: Repo, tmp_path: Path, kind: str) -> None:
    lock = repo.write(kind, tmp_path)
    on_311 = load(lock, PY311)
    on_312 = load(lock, PY312_ARM)
    assert on_311.format == kind and lock.absolute() in on_311.inputs
    # beta carries `python_version < "3.12"`; devtool is in the dev group only
    assert _versions(on_311.pins) == {
        "alpha": "1.0.0",
        "beta": "0.5",
        "gamma": "3.1",
        "native": "2.0",
    }
    assert _versions(on_312.pins) == {"alpha": "1.0.0", "gamma": "3.1", "native": "2.0"}
    assert [pin.name for pin in on_311.pins] == sorted(pin.name for pin in on_311.pins)


@pytest.mark.parametrize("kind", ["poetry", "uv"])
def test_groups_add_their_packages(repo: Repo, tmp_path: Path, kind: str) -> None:
    lock = repo.write(kind, tmp_path)
    assert "devtool" not in _versions(load(lock, PY311).pins)
    assert _versions(load(lock, PY311, groups=["dev"]).pins)["devtool"] == "9.9"


def test_lock_hashes_are_the_files_sha256(repo: Repo, tmp_path: Path) -> None:
    lock = repo.write("poetry", tmp_path)
    gamma = next(pin for pin in load(lock, PY311).pins if pin.name == "gamma")
    wheels = next(p for p in repo.packages if p.name == "gamma").wheels
    assert gamma.accepted_hashes == {sha256_file(w) for w in wheels}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("poetry.lock", "poetry"),
        ("uv.lock", "uv"),
        ("pylock.toml", "pylock"),
        ("pylock.prod.toml", "pylock"),
        ("requirements-prod.txt", "requirements"),
        ("deps.in", "requirements"),
    ],
)
def test_detect_format(name: str, kind: str) -> None:
    assert detect_format(Path(name)) == kind


def test_unknown_lock_name_names_the_format_option() -> None:
    with pytest.raises(DetzipError) as raised:
        detect_format(Path("Pipfile.lock"))
    assert raised.value.settings[0].option == "format"


def test_a_package_pinned_twice_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("alpha==1.0\nalpha==2.0\n")
    with pytest.raises(DetzipError, match="pinned twice"):
        load(lock, PY311)


BOM = b"\xef\xbb\xbf"  # what Windows editors put before UTF-8 text


@pytest.mark.parametrize("kind", ["poetry", "pylock", "uv"])
def test_a_toml_lock_with_a_bom_reads_as_without(repo: Repo, tmp_path: Path, kind: str) -> None:
    plain = repo.write(kind, tmp_path / "plain")
    bom = tmp_path / "bom" / plain.name
    bom.parent.mkdir()
    bom.write_bytes(BOM + plain.read_bytes())
    assert load(bom, PY311).pins == load(plain, PY311).pins


def test_a_requirements_file_with_a_bom_reads_as_without(repo: Repo, tmp_path: Path) -> None:
    """The BOM leaves the first line alone (here a local package, whose pyproject.toml, with a
    BOM too, still names it)."""
    plain = repo.write("requirements", tmp_path)
    (tmp_path / "libs" / "thing").mkdir(parents=True)
    (tmp_path / "libs" / "thing" / "pyproject.toml").write_bytes(
        BOM + b'[project]\nname = "mypkg"\nversion = "1"\n'
    )
    text = plain.read_bytes()
    plain.write_bytes(b"./libs/thing\n" + text)
    bom = tmp_path / "requirements-bom.txt"
    bom.write_bytes(BOM + b"./libs/thing\n" + text)
    pins = load(bom, PY311).pins
    assert pins == load(plain, PY311).pins
    assert _versions(pins)["mypkg"] == ""  # named by its pyproject.toml, not by its folder
