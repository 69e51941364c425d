"""A cold miss's fetch: each pip's wheels are checked as soon as that pip is done, while the
others still download, and a checked download is renamed into the store rather than copied.
Nothing of that may weaken a check or change a byte: a wheel whose bytes the lock does not list
is refused (naming it, nothing written), a pip that fails mid-way leaves nothing in the store or
the cache, a hit starts no pip, and the layer is the same bytes as one pip at a time, copied.

pip itself is stood in for here (a fake ``pip download`` that serves wheels from a folder), so
that the bytes it hands over, and when it fails, are the test's to choose.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from detzip.cli import main
from detzip.deps import pip, store

from .wheelfactory import Wheel

NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """The wheels the lock pins, each in its own folder (what the fake pip hands over)."""
    folder = tmp_path / "served"
    for number, name in enumerate(NAMES):
        files: dict[str, bytes | str] = {f"{name}/__init__.py": f"N = {number}\n"}
        files[f"{name}/data.bin"] = bytes(range(256))
        Wheel(name, "1.0", files=files).build(folder / name)
    return folder


def _lock(tmp_path: Path, served: Path) -> Path:
    lines = []
    for name in NAMES:
        (wheel,) = (served / name).iterdir()
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}==1.0 --hash=sha256:{digest}\n")
    lock = tmp_path / "requirements.txt"
    lock.write_text("".join(lines))
    return lock


Fake = Callable[[Sequence[str]], None]


@pytest.fixture
def fake_pip(served: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """``pip download`` served from ``served``: the names each call was asked for."""
    calls: list[list[str]] = []
    hooks: dict[str, Fake] = {}

    def run(
        args: Sequence[str],
        *,
        what: str,
        env: Mapping[str, str] | None = None,
        echo: bool = True,
    ) -> None:
        assert args[0] == "download", args
        wanted = Path(args[list(args).index("-r") + 1]).read_text()
        out = Path(args[list(args).index("-d") + 1])
        names = re.findall(r"^([a-z]+)==", wanted, re.M)
        calls.append(names)
        hook = hooks.get("before")
        if hook is not None:
            hook(names)
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            for wheel in (served / name).iterdir():
                shutil.copy(wheel, out / wheel.name)

    monkeypatch.setattr(pip, "run", run)
    monkeypatch.setattr(store, "DOWNLOADS", 2)
    monkeypatch.setenv("DETZIP_CACHE", "")  # the local cache keeps artifacts too
    run.hooks = hooks  # type: ignore[attr-defined]
    yield calls


def _build(lock: Path, out: Path, cache: Path) -> int:
    argv = ["layer", "-r", str(lock), "-o", str(out), "--runtime", "python3.12"]
    return main([*argv, "--cache-dir", str(cache)])


def _stored(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "wheels").rglob("*.whl"))


def test_the_layer_is_the_same_bytes_with_two_pips_as_with_one_and_copied(
    tmp_path: Path, served: Path, fake_pip: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = _lock(tmp_path, served)
    assert _build(lock, tmp_path / "two.zip", tmp_path / "cache-two") == 0
    assert sorted(map(len, fake_pip)) == [2, 3]  # two pips, each with its share
    assert len(_stored(tmp_path / "cache-two")) == len(NAMES)
    fake_pip.clear()
    monkeypatch.setattr(store, "DOWNLOADS", 1)
    monkeypatch.setattr(store, "_moved", lambda source, final: False)  # copied, as before
    assert _build(lock, tmp_path / "one.zip", tmp_path / "cache-one") == 0
    assert fake_pip == [NAMES]
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    assert _stored(tmp_path / "cache-one") == _stored(tmp_path / "cache-two")


def test_a_moved_wheel_is_readable_as_a_copied_one_and_its_download_is_gone(
    tmp_path: Path, served: Path, fake_pip: list[list[str]]
) -> None:
    assert _build(_lock(tmp_path, served), tmp_path / "layer.zip", tmp_path / "cache") == 0
    for wheel in (tmp_path / "cache" / "wheels").rglob("*.whl"):
        verdict = wheel.parent / ".verified"  # written (and its mode set) as a copy is
        assert stat.S_IMODE(wheel.stat().st_mode) == stat.S_IMODE(verdict.stat().st_mode)
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == wheel.parent.name


def test_a_hit_starts_no_pip(tmp_path: Path, served: Path, fake_pip: list[list[str]]) -> None:
    lock = _lock(tmp_path, served)
    assert _build(lock, tmp_path / "layer.zip", tmp_path / "cache") == 0
    assert fake_pip
    fake_pip.clear()
    (tmp_path / "layer.zip").unlink()
    assert _build(lock, tmp_path / "layer.zip", tmp_path / "cache") == 0
    assert fake_pip == []
    assert list((tmp_path / "cache").glob("artifacts/**/*.zip"))
    # the artifact cache held it; with it gone, the stored wheels serve: still no pip
    shutil.rmtree(tmp_path / "cache" / "artifacts")
    (tmp_path / "layer.zip").unlink()
    assert _build(lock, tmp_path / "layer.zip", tmp_path / "cache") == 0
    assert fake_pip == []


def test_a_wheel_whose_bytes_the_lock_does_not_list_is_refused_naming_it(
    tmp_path: Path,
    served: Path,
    fake_pip: list[list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    lock = _lock(tmp_path, served)
    (wheel,) = (served / "delta").iterdir()  # the index now serves other bytes for delta
    Wheel("delta", "1.0", files={"delta/__init__.py": "EVIL = 1\n"}).build(tmp_path / "other")
    shutil.copy(tmp_path / "other" / wheel.name, wheel)
    capsys.readouterr()
    out = tmp_path / "layer.zip"
    assert _build(lock, out, tmp_path / "cache") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("detzip: error: ")
    assert "which the lock does not list for delta 1.0" in err[0], err[0]
    assert not out.exists()
    assert _stored(tmp_path / "cache") == []  # not even the wheels that matched
    assert not list((tmp_path / "cache").glob("artifacts/**/*.zip"))


def test_a_pip_that_fails_mid_way_leaves_nothing_in_the_store_or_the_cache(
    tmp_path: Path,
    served: Path,
    fake_pip: list[list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    lock = _lock(tmp_path, served)
    other_done = threading.Event()

    def before(names: Sequence[str]) -> None:
        if "bravo" in names:  # fails once the other pip is done (its wheels being checked)
            assert other_done.wait(30)
            raise pip.PipFailed(
                "pip failed while downloading bravo==1.0: ERROR: HTTP error 503", "503"
            )
        other_done.set()

    pip.run.hooks["before"] = before  # type: ignore[attr-defined]
    capsys.readouterr()
    out = tmp_path / "layer.zip"
    assert _build(lock, out, tmp_path / "cache") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bravo" in err[0] and "503" in err[0], err
    assert not out.exists()
    assert _stored(tmp_path / "cache") == []
    assert not list((tmp_path / "cache").glob("artifacts/**/*.zip"))
