"""A wheel's members are checked, not only its hash (issue 31): every case is a wheel with its
correct sha256 in the lock, so the hash does not save us. Each member must inflate to the size
and CRC-32 its central directory records (what pip checks as it installs), a method pip cannot
read and a ``.data`` scheme pip does not know are refused, and pip's modes are followed. The
verdict is kept with the stored wheel: a warm build inflates nothing.

Wheels are forged byte by byte (tests/wheelfactory.py ``forged_wheel``); pip is the oracle where
the case is pip's own refusal (marked slow).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from detzip import DetzipError, build_layer
from detzip.inputs import _verify
from detzip.zip import members

from .conftest import assert_one_line_error, run_cli
from .wheelfactory import Forged, Locked, forged_wheel, pylock_toml, requirements_txt, zeros_bomb

GOOD = b"def hello():\n    return 'hello'\n" * 20
MiB = 1 << 20


def _deflated(data: bytes) -> bytes:
    engine = zlib.compressobj(6, zlib.DEFLATED, -15)
    return engine.compress(data) + engine.flush()


#: forged members, by case: (the member, what the one-line refusal must say)
BROKEN: dict[str, tuple[Forged, list[str]]] = {
    "bad-crc": (Forged(GOOD, crc=zlib.crc32(GOOD) ^ 1), ["does not match its CRC-32"]),
    "bad-crc-stored": (
        Forged(GOOD, method=zipfile.ZIP_STORED, crc=zlib.crc32(GOOD) ^ 1),
        ["does not match its CRC-32"],
    ),
    "size-lie-small": (Forged(GOOD, size=100), ["records 100 bytes unzipped", "inflates to 640"]),
    "size-lie-bomb": (
        Forged(bytes(300 * MiB), raw=zeros_bomb(300 * MiB), crc=0, size=100),
        ["records 100 bytes unzipped", "more than 262,144,000", "zip bomb"],
    ),
    "size-short": (Forged(GOOD, size=len(GOOD) + 10), ["inflates to 640"]),
    "truncated-stream": (Forged(GOOD, raw=_deflated(GOOD)[:-3]), ["wheel mod-1.0"]),
    "trailing-bytes": (Forged(GOOD, raw=_deflated(GOOD) + b"junk"), ["trailing bytes"]),
    "shrink": (Forged(GOOD, method=1, raw=b"\x00" * 40), ["method 1 (shrink)"]),
    "deflate64": (Forged(GOOD, method=9, raw=b"\x00" * 40), ["method 9 (deflate64)"]),
    "bzip2-bad-crc": (
        Forged(GOOD, method=zipfile.ZIP_BZIP2, crc=zlib.crc32(GOOD) ^ 1),
        ["does not match its CRC-32"],
    ),
    "lzma-bad-crc": (
        Forged(GOOD, method=zipfile.ZIP_LZMA, crc=zlib.crc32(GOOD) ^ 1),
        ["does not match its CRC-32"],
    ),
    "encrypted": (Forged(GOOD, flags=0x1), ["encrypted"]),
    "local-name-differs": (Forged(GOOD, local_name="mod/other.py"), ["local header"]),
}


def _wheel(folder: Path, member: Forged, where: str = "mod/__init__.py") -> Path:
    return forged_wheel(folder, "mod", "1.0", {where: member})


def _pylock(tmp_path: Path, wheel: Path) -> Path:
    lock = tmp_path / "pylock.toml"
    lock.write_text(pylock_toml([Locked("mod", "1.0", [wheel])]))
    return lock


def _layer(tmp_path: Path, lock: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "layer", "-r", str(lock), "-o", str(out), "--runtime", "python3.11",
        "--cache-dir", str(tmp_path / "cache"), *args,
    )  # fmt: skip


def _stored(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "wheels").rglob("*.whl"))


@pytest.mark.parametrize("recompress", [False, True], ids=["copy", "recompress"])
@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_member_is_refused_naming_the_wheel_and_the_member(
    tmp_path: Path, case: str, recompress: bool
) -> None:
    member, needles = BROKEN[case]
    lock = _pylock(tmp_path, _wheel(tmp_path / "w", member))
    out = tmp_path / "layer.zip"
    out.write_bytes(b"the previous output")
    result = _layer(tmp_path, lock, out, *(["--recompress"] if recompress else []))
    assert_one_line_error(result, "wheel mod-1.0-py3-none-any.whl", "'mod/__init__.py'", *needles)
    line = result.stderr
    assert "fetch it again" not in line and "truncated or has trailing" not in line, line
    assert "pin another version of mod" in line and "--exclude-package mod" in line
    assert out.read_bytes() == b"the previous output", "the output is untouched"
    assert _stored(tmp_path) == [], "a wheel that fails is never stored"
    assert not list((tmp_path / "cache").rglob("*.zip")), "nothing cached"


def test_the_refusal_comes_before_anything_is_written_from_a_requirements_lock(
    tmp_path: Path,
) -> None:
    """The issue's path: pip downloads it from --find-links with the lock's correct hash."""
    wheel = _wheel(tmp_path / "w", BROKEN["bad-crc"][0])
    lock = tmp_path / "requirements.txt"
    lock.write_text(requirements_txt([Locked("mod", "1.0", [wheel])], tmp_path / "w"))
    out = tmp_path / "layer.zip"
    result = _layer(tmp_path, lock, out, "--find-links", str(tmp_path / "w"), "--no-index")
    assert_one_line_error(result, "mod-1.0-py3-none-any.whl", "CRC-32")
    assert not out.exists() and _stored(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("case", ["bad-crc", "size-lie-small", "bzip2-bad-crc", "shrink"])
def test_pip_refuses_the_same_wheels(tmp_path: Path, case: str) -> None:
    """The oracle: pip's installer reads members with zipfile, which checks sizes and CRC-32."""
    wheel = _wheel(tmp_path / "w", BROKEN[case][0])
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target",
         str(tmp_path / "t"), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout
    err = result.stderr.lower()
    assert any(
        word in err for word in ("bad crc", "not supported", "error -3", "badzipfile", "bad")
    ), result.stderr


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bzip2", "lzma"])
def test_a_bzip2_or_lzma_member_is_inflated_checked_and_packed_as_deflate(
    tmp_path: Path, method: int
) -> None:
    lock = _pylock(tmp_path, _wheel(tmp_path / "w", Forged(GOOD, method=method)))
    out = tmp_path / "layer.zip"
    result = _layer(tmp_path, lock, out, "--json")
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as archive:
        info = archive.getinfo("python/mod/__init__.py")
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert archive.read(info) == GOOD  # (zipfile checks the CRC-32 as it reads)
    assert json.loads(result.stdout)["unzipped_size"] >= len(GOOD)


def test_the_unzipped_size_is_the_checked_one(tmp_path: Path) -> None:
    """Sizes reach the limits only from checked members: a zip of a bomb never exists, and a
    true large member is counted whole."""
    big = bytes(3 * MiB)
    lock = _pylock(tmp_path, _wheel(tmp_path / "w", Forged(big, raw=zeros_bomb(3 * MiB))))
    out = tmp_path / "layer.zip"
    result = _layer(tmp_path, lock, out, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["unzipped_size"] >= len(big)
    with zipfile.ZipFile(out) as archive:
        assert archive.getinfo("python/mod/__init__.py").file_size == len(big)


def test_an_unknown_data_scheme_is_refused_as_pip_refuses_it(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "w", Forged(GOOD), where="mod-1.0.data/stuff/mod/extra.py")
    result = _layer(tmp_path, _pylock(tmp_path, wheel), tmp_path / "layer.zip")
    assert_one_line_error(
        result, "wheel mod-1.0-py3-none-any.whl", "unknown scheme folder 'stuff'", "Unknown scheme"
    )
    assert not (tmp_path / "layer.zip").exists()


def test_a_loose_file_in_data_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "w", Forged(GOOD), where="mod-1.0.data/loose.py")
    result = _layer(tmp_path, _pylock(tmp_path, wheel), tmp_path / "layer.zip")
    assert_one_line_error(result, "'mod-1.0.data/loose.py'", "loose")


@pytest.mark.parametrize(
    ("mode", "executable"),
    [
        (0o100644, False),
        (0o100755, True),
        (0o120777, False),  # a symlink's mode: pip installs a file of its text, 0644
        (0o000755, False),  # permission bits without a file type: pip ignores them
        (0, False),
    ],
    ids=["file", "exec", "symlink", "no-type", "none"],
)
def test_exec_bits_follow_pip(tmp_path: Path, mode: int, executable: bool) -> None:
    wheel = _wheel(tmp_path / "w", Forged(b"#!/bin/sh\n", mode=mode), where="mod/run.sh")
    out = tmp_path / "layer.zip"
    result = _layer(tmp_path, _pylock(tmp_path, wheel), out)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as archive:
        packed = archive.getinfo("python/mod/run.sh").external_attr >> 16
    assert stat.S_ISREG(packed)
    assert stat.S_IMODE(packed) == (0o755 if executable else 0o644)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [0o120777, 0o100755, 0o000755])
def test_exec_bits_agree_with_pip_install(tmp_path: Path, mode: int) -> None:
    """pip as the oracle: what it installs is what the layer holds."""
    wheel = _wheel(tmp_path / "w", Forged(b"#!/bin/sh\n", mode=mode), where="mod/run.sh")
    target = tmp_path / "t"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
         str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    pip_exec = bool(os.stat(target / "mod" / "run.sh").st_mode & 0o100)
    out = tmp_path / "layer.zip"
    assert _layer(tmp_path, _pylock(tmp_path, wheel), out).returncode == 0
    with zipfile.ZipFile(out) as archive:
        ours = bool((archive.getinfo("python/mod/run.sh").external_attr >> 16) & 0o100)
    assert ours == pip_exec


# -- the verdict, kept with the stored wheel ---------------------------------------------------


def _api(tmp_path: Path, lock: Path, name: str, **kw: Any) -> Any:
    return build_layer(lock, tmp_path / name, runtime="python3.11",
                       cache_dir=tmp_path / "cache", cache=False, **kw)  # fmt: skip


def test_a_warm_build_recalls_the_verdict_and_inflates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = _pylock(tmp_path, _wheel(tmp_path / "w", Forged(GOOD)))
    first = _api(tmp_path, lock, "a.zip")
    [stored] = _stored(tmp_path)
    verdict = json.loads((stored.parent / ".verified").read_text())
    assert verdict["checks"] == _verify.CHECKS and verdict["sha256"] == stored.parent.name

    def inflate(*args: object) -> None:
        raise AssertionError("a warm build inflated a member")

    monkeypatch.setattr(members, "verify", inflate)
    assert _api(tmp_path, lock, "b.zip").sha256 == first.sha256


@pytest.mark.parametrize("how", ["missing", "other-sha", "old-checks", "garbage", "fewer-members"])
def test_a_missing_or_foreign_verdict_means_the_wheel_is_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    lock = _pylock(tmp_path, _wheel(tmp_path / "w", Forged(GOOD)))
    _api(tmp_path, lock, "a.zip")
    [stored] = _stored(tmp_path)
    kept = stored.parent / ".verified"
    data = json.loads(kept.read_text())
    if how == "missing":
        kept.unlink()
    elif how == "other-sha":
        kept.write_text(json.dumps({**data, "sha256": "0" * 64}))
    elif how == "old-checks":
        kept.write_text(json.dumps({**data, "checks": 0}))
    elif how == "garbage":
        kept.write_text("{")
    else:
        kept.write_text(json.dumps({**data, "members": data["members"] - 1}))
    calls: list[str] = []
    real = members.verify

    def counting(buffer: Any, info: zipfile.ZipInfo, pieces: Any) -> None:
        calls.append(info.filename)
        real(buffer, info, pieces)

    monkeypatch.setattr(members, "verify", counting)
    _api(tmp_path, lock, "b.zip")
    assert "mod/__init__.py" in calls
    assert json.loads(kept.read_text()) == data, "a fresh verdict is kept"


def test_a_wheel_stored_before_there_were_checks_is_checked_at_its_use(tmp_path: Path) -> None:
    """A store filled by an older detzip: the broken wheel is in it with the lock's sha256."""
    wheel = _wheel(tmp_path / "w", BROKEN["bad-crc"][0])
    from .wheelfactory import sha256_file

    digest = sha256_file(wheel)
    folder = tmp_path / "cache" / "wheels" / digest[:2] / digest
    folder.mkdir(parents=True)
    (folder / wheel.name).write_bytes(wheel.read_bytes())
    with pytest.raises(DetzipError, match="does not match its CRC-32") as raised:
        _api(tmp_path, _pylock(tmp_path, wheel), "a.zip")
    assert "mod/__init__.py" in str(raised.value)
    assert not (tmp_path / "a.zip").exists()
    assert not (folder / ".verified").exists()


# -- detzip check reads true sizes -------------------------------------------------------------


def _zip_with(tmp_path: Path, member: Forged, name: str = "python/mod/__init__.py") -> Path:
    """A layer-shaped zip (not a wheel) holding one forged member."""
    wheel = forged_wheel(tmp_path / "z", "mod", "1.0", {name: member})
    return wheel.rename(tmp_path / "layer.zip")


@pytest.mark.parametrize("case", ["bad-crc", "size-lie-bomb", "shrink", "truncated-stream"])
def test_detzip_check_refuses_a_zip_whose_members_lie(tmp_path: Path, case: str) -> None:
    layer = _zip_with(tmp_path, BROKEN[case][0])
    result = run_cli("check", "--layer", str(layer))
    assert_one_line_error(result, str(layer), "'python/mod/__init__.py'", "rebuild it")


def test_detzip_check_passes_a_sound_zip_with_a_bzip2_member(tmp_path: Path) -> None:
    layer = _zip_with(tmp_path, Forged(GOOD, method=zipfile.ZIP_BZIP2))
    result = run_cli("check", "--layer", str(layer), "--json")
    assert result.returncode == 0, result.stderr
