"""The wheel store (detzip.deps.store), imported directly: missing wheels are fetched once and
then served, bytes the lock does not list are never stored, and stored files leave no
temporaries."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from detzip.deps import pip
from detzip.deps.locks.loading import load
from detzip.deps.store import Wanted, WheelStore
from detzip.deps.targets import Target
from detzip.errors import DetzipError

from .wheelfactory import Repo, Wheel, sha256_file

PY311 = Target("python3.11", "x86_64")


def test_store_fetches_missing_wheels_once_then_serves_them(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WheelStore(tmp_path / "wheels", tmp_path / "resolved")
    pins = load(repo.write("requirements", tmp_path), PY311).pins
    options = [*load(repo.write("requirements", tmp_path), PY311).pip_options]
    wanted = [Wanted(pin) for pin in pins]  # left to pip: no file chosen
    first = store.ensure(wanted, PY311, options)
    assert [w.name for w in first] == ["alpha", "beta", "gamma", "native"]
    for wheel in first:
        assert hashlib.sha256(wheel.path.read_bytes()).hexdigest() == wheel.sha256
        assert wheel.path == tmp_path / "wheels" / wheel.sha256[:2] / wheel.sha256 / wheel.filename

    def no_pip(*args: object, **kw: object) -> None:
        raise AssertionError("a warm store must not run pip")

    monkeypatch.setattr(pip, "run", no_pip)
    assert store.ensure(wanted, PY311, options) == first


def test_store_refuses_bytes_the_lock_does_not_list(repo: Repo, tmp_path: Path) -> None:
    pins = load(repo.write("poetry", tmp_path), PY311).pins
    alpha = next(pin for pin in pins if pin.name == "alpha")
    wrong = type(alpha)(alpha.name, alpha.version, (), None, frozenset({"0" * 64}))
    store = WheelStore(tmp_path / "wheels", tmp_path / "resolved")
    with pytest.raises(DetzipError, match=r"(?i)hash|does not list"):  # pip or the store
        store.ensure([Wanted(wrong)], PY311, ["--no-index", "--find-links", str(repo.folder)])
    assert not any((tmp_path / "wheels").rglob("*.whl")), "nothing unverified is stored"


def test_store_add_and_get(tmp_path: Path) -> None:
    store = WheelStore(tmp_path / "w", tmp_path / "r")
    wheel = Wheel("solo", "1.0", files={"solo.py": "X = 1\n"}).build(tmp_path / "in")
    digest = sha256_file(wheel)
    assert store.get(digest) is None
    stored = store.add(wheel, digest)
    assert store.get(digest) == stored and stored.read_bytes() == wheel.read_bytes()
    kept = sorted(p.name for p in stored.parent.iterdir())
    assert kept == [".verified", wheel.name], "the wheel and its verdict, no temporary left"
