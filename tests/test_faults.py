"""Faults and hostile input: nothing wrong is ever served, a bad input is one `detzip: error:`
line (exit 2, stdout empty, the output path untouched), a kill or a full disk leaves the old
output or the new one (an output that would overwrite an input: test_builder).

Offline: wheels and locks come from tests/wheelfactory.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detzip import Cache, DetzipError, _fs, build_function, build_layer

from .conftest import (
    assert_one_line_error,
    make_tree,
    require_tool,
    run_cli,
    run_cli_unprivileged,
)
from .wheelfactory import Locked, Repo, Wheel, pylock_toml, sha256_file


def _layer(repo: Repo, lock: Path, out: Path, store: Path, **kw: Any) -> Any:
    """A python3.11 layer from the test wheels only (offline)."""
    return build_layer(
        lock,
        out,
        runtime="python3.11",
        find_links=[str(repo.folder)],
        no_index=True,
        cache_dir=store,
        **kw,
    )


def _offline(repo: Repo, cache: Path) -> list[str]:
    """The same, as CLI flags."""
    return ["--runtime", "python3.11", "--find-links", str(repo.folder), "--no-index",
            "--cache-dir", str(cache)]  # fmt: skip


def _stored(cache: Path, name: str) -> Path:
    [wheel] = sorted((cache / "wheels").rglob(f"{name}-*.whl"))
    return wheel


def _artifacts(cache: Path) -> list[str]:
    folder = cache / "artifacts"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# -- stored wheels are verified when used ------------------------------------------------------


@pytest.mark.parametrize("kind", ["requirements", "poetry", "uv", "pylock"])
def test_a_tampered_stored_wheel_is_refused_and_nothing_cached(
    repo: Repo, tmp_path: Path, kind: str
) -> None:
    cache = tmp_path / "cache"
    lock = repo.write(kind, tmp_path / "lock")
    _layer(repo, lock, tmp_path / "good.zip", cache, cache=False)
    stored = _stored(cache, "alpha")
    # still a valid wheel of the same name, with code injected
    evil = Wheel("alpha", "1.0.0", files={"alpha/__init__.py": "import os; os.system('id')\n"})
    stored.write_bytes(evil.build(tmp_path / "evil").read_bytes())

    out = tmp_path / "layer.zip"
    with pytest.raises(DetzipError) as raised:
        _layer(repo, lock, out, cache)
    message = str(raised.value)
    assert stored.name in message and "changed after it was fetched" in message
    assert str(stored.parent) in message  # the fix: which folder to delete
    assert not out.exists()
    assert _artifacts(cache) == [], "nothing is cached under the genuine key"


@pytest.mark.slow
def test_a_zero_byte_stored_wheel_is_one_line(repo: Repo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    lock = repo.write("poetry", tmp_path / "lock")
    _layer(repo, lock, tmp_path / "good.zip", cache, cache=False)
    _stored(cache, "gamma").write_bytes(b"")
    result = run_cli(
        "layer", "-r", str(lock), "-o", str(tmp_path / "x.zip"), *_offline(repo, cache)
    )
    assert_one_line_error(result, "gamma", "changed after it was fetched")
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.slow
def test_an_edited_lock_hash_is_refused_although_the_wheel_is_stored(
    repo: Repo, tmp_path: Path
) -> None:
    """A requirements.txt with hashes leaves the file to pip; its choice is remembered by pin.
    Editing the hash must not be answered from that memory."""
    cache = tmp_path / "cache"
    lock = repo.write("requirements", tmp_path / "lock")
    _layer(repo, lock, tmp_path / "good.zip", cache, cache=False)
    alpha = next(p for p in repo.packages if p.name == "alpha").wheels[0]
    lock.write_text(lock.read_text().replace(sha256_file(alpha), "ab" * 32))
    with pytest.raises(DetzipError, match=r"(?i)hash|does not list"):
        _layer(repo, lock, tmp_path / "x.zip", cache, cache=False)
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.slow
def test_a_stored_wheel_matching_its_hash_still_builds(repo: Repo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    lock = repo.write("uv", tmp_path / "lock")
    first = _layer(repo, lock, tmp_path / "a.zip", cache, cache=False)
    again = _layer(repo, lock, tmp_path / "b.zip", cache, cache=False)
    assert first.sha256 == again.sha256


def test_a_direct_wheel_reference_is_checked_too(tmp_path: Path) -> None:
    wheel = Wheel("solo", "1.0", files={"solo.py": "X = 1\n"}).build(tmp_path / "w")
    lock = tmp_path / "pylock.toml"
    lock.write_text(pylock_toml([Locked("solo", "1.0", [wheel])]))
    cache = tmp_path / "cache"
    build_layer(lock, tmp_path / "a.zip", cache_dir=cache, cache=False)
    stored = _stored(cache, "solo")
    with zipfile.ZipFile(stored, "a") as archive:  # one more member: still a valid wheel
        archive.writestr("solo_extra.py", "Y = 2\n")
    with pytest.raises(DetzipError, match="changed after it was fetched"):
        build_layer(lock, tmp_path / "b.zip", cache_dir=cache, cache=False)


# -- index options reach every pip call --------------------------------------------------------


@pytest.mark.slow
def test_an_unpinned_requirement_resolves_only_where_the_user_said(tmp_path: Path) -> None:
    """--no-index and --find-links must reach the resolve step, not only the download."""
    name = "detzip-probe-unpinned"  # not on PyPI: only the local folder can answer
    Wheel(name, "1.2.3", files={"detzip_probe_unpinned.py": "V = 1\n"}).build(tmp_path / "w")
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"{name}\n")
    layer = build_layer(
        lock,
        tmp_path / "l.zip",
        find_links=[str(tmp_path / "w")],
        no_index=True,
        cache=False,
        cache_dir=tmp_path / "c",
    )
    assert [p["version"] for p in layer.description["packages"]] == ["1.2.3"]


# -- project names stay inside output_dir ------------------------------------------------------


@pytest.mark.parametrize("name", ["../../escape", "/abs/path", "a/b", ".hidden", ""])
def test_an_artifact_name_that_is_not_a_plain_name_is_refused(tmp_path: Path, name: str) -> None:
    make_tree(tmp_path / "p" / "src", {"app.py": "x = 1\n"})
    (tmp_path / "p" / "detzip.toml").write_text(f'[functions.{json.dumps(name)}]\nsource = "src"\n')
    result = run_cli("build", "--config", str(tmp_path / "p"))
    assert_one_line_error(result, "detzip.toml", "name")
    assert not list(tmp_path.rglob("*.zip"))


# -- leftovers of killed runs ------------------------------------------------------------------


def test_a_live_writers_temporary_is_never_swept(tmp_path: Path) -> None:
    fd, temp = _fs.temporary(tmp_path, ".out.zip.")
    assert _fs.sweep(tmp_path, ".out.zip.") == 0 and Path(temp).exists()
    os.close(fd)  # its writer is gone (as after kill -9: the kernel drops the lock)
    assert _fs.sweep(tmp_path, ".out.zip.") == 1 and not Path(temp).exists()


def test_a_staged_file_is_dead_only_when_its_process_is(tmp_path: Path) -> None:
    mine = _fs.staging(tmp_path, ".f.zip.")
    mine.write_bytes(b"x")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    theirs = tmp_path / f".f.zip.{gone.stdout.strip()}.staged{_fs.TEMP_SUFFIX}"
    theirs.write_bytes(b"x")
    assert not _fs.is_dead(mine) and _fs.is_dead(theirs)


def _big_tree(root: Path) -> Path:
    chunk = os.urandom(1 << 20)
    return make_tree(root, {f"blob{i:02d}.bin": chunk[i:] + chunk[:i] for i in range(24)})


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_point_leaves_old_or_new_and_no_leftovers(
    tmp_path: Path, seed: int
) -> None:
    """A build killed at a seeded random moment: the output is the complete old zip or the
    complete new one, and the next build of that output leaves no temporaries behind."""
    import random

    src = _big_tree(tmp_path / "src")
    out = tmp_path / "out" / "f.zip"
    cache = ["--cache-dir", str(tmp_path / "cache")]
    old = run_cli("function", str(src), "-o", str(out), "--compressor", "store", *cache)
    assert old.returncode == 0, old.stderr
    old_bytes = out.read_bytes()
    (src / "blob00.bin").write_bytes(b"changed")
    argv = [sys.executable, "-m", "detzip", "function", str(src), "-o", str(out), *cache]
    proc = subprocess.Popen([*argv, "--level", "9"], stderr=subprocess.DEVNULL)
    time.sleep(random.Random(seed).uniform(0.05, 1.5))
    proc.kill()
    proc.wait(timeout=60)
    assert zipfile.ZipFile(out).testzip() is None
    after_kill = out.read_bytes()
    again = subprocess.run([*argv, "--level", "9"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    # the complete old zip, or the complete new one (a kill may land after the rename)
    assert after_kill in (old_bytes, out.read_bytes())
    assert not [p.name for p in out.parent.iterdir() if p.name.endswith(_fs.TEMP_SUFFIX)]
    prune = run_cli("cache", "prune", *cache)
    assert prune.returncode == 0, prune.stderr
    assert not [p for p in (tmp_path / "cache").rglob(f"*{_fs.TEMP_SUFFIX}")]


def test_cache_prune_removes_dead_temporaries_but_not_live_ones(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "artifacts").mkdir(parents=True)
    dead_fd, dead = _fs.temporary(cache / "artifacts", _fs.INCOMING)
    os.close(dead_fd)
    live_fd, live = _fs.temporary(cache / "artifacts", _fs.INCOMING)
    try:
        result = run_cli("cache", "prune", "--cache-dir", str(cache), "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["removed_temporaries"] == 1
        assert not Path(dead).exists() and Path(live).exists()
    finally:
        os.close(live_fd)


def test_durable_output_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    _fs.write_bytes(tmp_path / "out.zip", b"PK")
    assert len(synced) == 2  # the file, then its folder after the rename


# -- the bytes zipped are the bytes keyed ------------------------------------------------------


def test_a_file_changed_during_the_build_is_an_error_and_nothing_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detzip.inputs.walked import Walked

    src = make_tree(tmp_path / "src", {"app.py": "v = 1\n", "lib.py": "x = 2\n"})
    real = Walked.fingerprint  # where a source tree's content key is computed

    def then_edit(self: Walked) -> dict[str, object]:
        keyed = real(self)
        (src / "lib.py").write_text("x = 'edited after the key was computed'\n")
        return keyed

    monkeypatch.setattr(Walked, "fingerprint", then_edit)
    cache = tmp_path / "cache"
    out = tmp_path / "f.zip"
    with pytest.raises(DetzipError, match="changed while it was being zipped") as raised:
        build_function(src, out, cache=Cache(cache))
    assert raised.value.path == str(src / "lib.py") or str(src / "lib.py") in str(raised.value)
    assert not out.exists() and _artifacts(cache) == []
    monkeypatch.setattr(Walked, "fingerprint", real)
    again = build_function(src, out, cache=Cache(cache))
    assert not again.cache_hit
    assert zipfile.ZipFile(out).read("lib.py").startswith(b"x = 'edited")


def test_the_writer_reports_each_files_digest_as_it_read_it(tmp_path: Path) -> None:
    """What a build compares with the keyed digests (and keys from, with the cache off)."""
    from detzip import Entry, write_zip

    (tmp_path / "a.txt").write_text("now\n")
    entries = [Entry.file("a.txt", tmp_path / "a.txt"), Entry.data("b.txt", b"in memory")]
    written = write_zip(entries, tmp_path / "x.zip")
    assert written.digests == {"a.txt": sha256_file(tmp_path / "a.txt")}


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("solo @ https://example.invalid/x.whl", "not a wheel file name"),
        ("solo @ https://example.invalid/other-1.0-py3-none-any.whl", "a wheel of other"),
    ],
)
def test_a_direct_link_must_name_a_wheel_of_that_package(
    tmp_path: Path, line: str, needle: str
) -> None:
    (tmp_path / "requirements.txt").write_text(line + "\n")
    result = run_cli(
        "layer", "-r", str(tmp_path / "requirements.txt"), "-o", str(tmp_path / "l.zip")
    )
    assert_one_line_error(result, "requirements.txt:1", needle)


# -- corrupted cache records are a miss, never sticky ------------------------------------------


def _corrupt_record(path: Path, how: str) -> None:
    record = json.loads(path.read_text())
    if how == "list":
        path.write_text("[]")
    elif how == "empty":
        path.write_text("{}")
    elif how == "not-json":
        path.write_bytes(b"\xff\xfe{")
    elif how == "no-sha":
        del record["sha256"]
        path.write_text(json.dumps(record))
    elif how == "size-string":
        record["size"] = str(record["size"])
        path.write_text(json.dumps(record))
    elif how == "zip-is-dir":
        zip_path = path.with_suffix(".zip")
        zip_path.unlink()
        zip_path.mkdir()
    elif how == "zip-truncated":
        zip_path = path.with_suffix(".zip")
        zip_path.write_bytes(zip_path.read_bytes()[:10])


@pytest.mark.parametrize(
    "how", ["list", "empty", "not-json", "no-sha", "size-string", "zip-is-dir", "zip-truncated"]
)
def test_a_corrupted_record_is_a_miss_with_a_warning_then_a_hit(tmp_path: Path, how: str) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    cache = tmp_path / "cache"
    argv = ["function", str(src), "-o", str(tmp_path / "f.zip"), "--cache-dir", str(cache)]
    env = {"DETZIP_CACHE": ""}
    first = run_cli(*argv, "--json", env=env)
    assert first.returncode == 0, first.stderr
    [record] = (cache / "artifacts").glob("*.json")
    _corrupt_record(record, how)
    elsewhere = [*argv[:3], str(tmp_path / "g.zip"), *argv[4:]]  # a copy is needed: read it
    again = run_cli(*elsewhere, "--json", env=env)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert again.stderr.startswith("detzip: warning: ") and len(again.stderr.splitlines()) == 1
    rebuilt = json.loads(again.stdout)
    assert not rebuilt["cache_hit"] and rebuilt["sha256"] == json.loads(first.stdout)["sha256"]
    third = run_cli(*argv, "--json", env=env)
    assert third.returncode == 0 and third.stderr == ""
    assert json.loads(third.stdout)["cache_hit"]


# -- a full disk -------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_at_the_output_is_one_line_and_leaves_nothing(
    tmp_path: Path, small_disk: Path
) -> None:
    src = make_tree(tmp_path / "src", {f"b{i}.bin": os.urandom(1 << 20) for i in range(4)})
    out = small_disk / "f.zip"
    result = run_cli("function", str(src), "-o", str(out), "--compressor", "store",
                     env={"DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(tmp_path / "c")})  # fmt: skip
    assert_one_line_error(result, str(out), "No space left")
    assert list(small_disk.iterdir()) == []


def test_a_full_disk_on_a_cache_hit_copy_is_one_line(tmp_path: Path, small_disk: Path) -> None:
    src = make_tree(tmp_path / "src", {f"b{i}.bin": os.urandom(1 << 20) for i in range(4)})
    env = {"DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(tmp_path / "c")}
    built = run_cli("function", str(src), "-o", str(tmp_path / "a.zip"), "--compressor", "store",
                    env=env)  # fmt: skip
    assert built.returncode == 0, built.stderr
    out = small_disk / "f.zip"
    result = run_cli("function", str(src), "-o", str(out), "--compressor", "store", env=env)
    assert_one_line_error(result, str(out), "No space left")
    assert list(small_disk.iterdir()) == []


def test_a_full_cache_disk_costs_a_warning_and_leaks_nothing(
    tmp_path: Path, small_disk: Path
) -> None:
    src = make_tree(tmp_path / "src", {f"b{i}.bin": os.urandom(1 << 20) for i in range(4)})
    result = run_cli(
        "function", str(src), "-o", str(tmp_path / "f.zip"), "--compressor", "store",
        env={"DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(small_disk)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "Traceback" not in result.stderr
    # nothing but the lock, the (complete, tiny) stat memo of the source and the cache's mark
    leaked = [p for p in small_disk.rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert not [p for p in leaked if p.parent.name != "stat-memo" and p.name != "CACHEDIR.TAG"]


@pytest.mark.slow
def test_a_full_cache_disk_while_storing_wheels_costs_a_warning(
    repo: Repo, tmp_path: Path, small_disk: Path
) -> None:
    lock = repo.write("requirements", tmp_path / "lock")
    good = _layer(repo, lock, tmp_path / "good.zip", tmp_path / "good-cache")
    cache = small_disk / "cache"
    cache.mkdir()
    # leave the disk with no room at all (unbuffered: nothing is left to flush at close)
    with open(small_disk / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(bytes(1 << 16))
    out = tmp_path / "l.zip"
    result = run_cli("layer", "-r", str(lock), "-o", str(out), *_offline(repo, cache), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sha256"] == good.sha256
    assert "cannot store wheels" in result.stderr and "Traceback" not in result.stderr
    assert not [p for p in small_disk.rglob("*") if p.is_file() and p.suffix != ".lock"
                and p.name != "filler"]  # fmt: skip


# -- the error contract: every bad input is one line, exit 2, nothing written -------------------


def _contract(result: subprocess.CompletedProcess[str], out: Path, *needles: str) -> None:
    assert_one_line_error(result, *needles)
    assert out.name not in os.listdir(out.parent) if out.parent.is_dir() else True
    assert not list(out.parent.glob("*detzip-tmp*")) if out.parent.is_dir() else True


@pytest.mark.parametrize(
    ("args", "env", "needles"),
    [
        (["--mtime", "nan"], {}, ["--mtime", "'nan'"]),
        (["--mtime", "inf"], {}, ["--mtime", "'inf'"]),
        (["--mtime", "-inf"], {}, ["--mtime"]),
        (["--level", "-1"], {}, ["--level -1"]),
        (["--mtime", "source-date-epoch"], {"SOURCE_DATE_EPOCH": "²"}, ["SOURCE_DATE_EPOCH", "²"]),
        (["--mtime", "source-date-epoch"], {"SOURCE_DATE_EPOCH": "1e9"}, ["SOURCE_DATE_EPOCH"]),
        (["--prefix", "a/" * 35_000], {}, ["--prefix", "69,999 characters", "shorten"]),
        (["--exclude", "!"], {}, ["'!'", "--exclude"]),
    ],
    ids=[
        "mtime-nan",
        "mtime-inf",
        "mtime-minus-inf",
        "level-minus-1",
        "sde-superscript",
        "sde-float",
        "prefix-70000",
        "exclude-bang",
    ],
)
def test_bad_function_options_are_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], needles: list[str]
) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    out = tmp_path / "out" / "f.zip"
    result = run_cli("function", str(src), "-o", str(out), *args, env=env)
    _contract(result, out, *needles)
    assert ".detzipignore" not in result.stderr  # blames the flag, not a file that is not there


def test_an_archive_name_the_zip_format_cannot_hold_is_refused() -> None:
    from detzip.zip.names import MAX_NAME, check_name

    check_name("a/" * 1000 + "b.py", directory=False)
    with pytest.raises(DetzipError, match="65,535 bytes"):
        check_name("a" * (MAX_NAME + 1), directory=False)


@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "cache"])
@pytest.mark.parametrize("length", [150, 170, 190])
def test_an_output_name_up_to_the_limit_builds(tmp_path: Path, length: int, cache: bool) -> None:
    """Names of 166 to 190 bytes were refused with --no-cache, under the name of the staged
    file and a length that was not the user's: its own temporary was checked for a second
    staged file and temporary too."""
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    out = tmp_path / ("a" * (length - 4) + ".zip")
    args = ["--cache-dir", str(tmp_path / "c")] if cache else ["--no-cache"]
    result = run_cli("function", str(src), "-o", str(out), *args, env={"DETZIP_CACHE": ""})
    assert result.returncode == 0, result.stderr
    assert out.is_file()


@pytest.mark.parametrize("length", [300, 234, 191])
def test_an_output_name_too_long_for_its_temporary_is_one_line(tmp_path: Path, length: int) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    out = tmp_path / ("a" * (length - 4) + ".zip")
    result = run_cli("function", str(src), "-o", str(out))
    _contract(result, out, "too long", f"({length} bytes", "at most 190", "--output")
    assert list(tmp_path.iterdir()) == [tmp_path / "src"]


@pytest.mark.parametrize("door", ["cli", "terraform-raw-byte", "terraform-escaped"])
def test_an_output_path_that_is_not_utf8_is_one_line_and_leaves_nothing(
    tmp_path: Path, door: str
) -> None:
    """``-o $'o\\xff.zip'``: a traceback before (UnicodeEncodeError), and a zip without a record
    left in the cache. Python keeps the byte as a surrogate; the result and the record are text."""
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    out = tmp_path / "o\udcff.zip"  # the file name's byte 0xff
    cache = tmp_path / "cache"
    env = {"DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(cache)}
    if door == "cli":
        result = run_cli("function", str(src), "-o", str(out), env=env)
        needles = ["o\\xff.zip", "not valid UTF-8", "--output"]
    else:
        query = {"kind": "function", "source": str(src), "output": str(out)}
        text = json.dumps(query, ensure_ascii=door == "terraform-escaped")
        data = text.encode("utf-8", "surrogateescape")  # the raw byte 0xff on stdin
        done = subprocess.run(
            [sys.executable, "-m", "detzip", "terraform"], input=data, capture_output=True,
            env={**os.environ, **env}, timeout=300,
        )  # fmt: skip
        result = subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
        )
        needles = ["not valid UTF-8", " output"]
    _contract(result, out, *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["src", *["cache"][: cache.exists()]]
    )
    assert not list(cache.rglob("*.zip")), "no zip without its record in the cache"


@pytest.mark.parametrize("name", ["a:b.txt", "c:/x.py"])
def test_a_name_that_starts_with_a_drive_letter_says_why(tmp_path: Path, name: str) -> None:
    """``a:b.txt`` is a valid Linux name; it was refused with "remove the leading '/'". The real
    reason: the zip specification forbids a drive letter, and extractors disagree on it."""
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n", name: "1\n", "ab:c.txt": "2\n"})
    out = tmp_path / "o.zip"
    result = run_cli("function", str(src), "-o", str(out))
    stripped = name[2:].lstrip("/")
    _contract(result, out, "drive letter", "libarchive", repr(stripped), "--prefix")
    placed = run_cli("function", str(src), "-o", str(out), "--prefix", "lib")
    assert placed.returncode == 0, placed.stderr
    with zipfile.ZipFile(out) as archive:
        assert {f"lib/{name}", "lib/ab:c.txt"} <= set(archive.namelist())


def test_a_name_with_a_backslash_says_why(tmp_path: Path) -> None:
    """``a\\b.py`` was packed: Info-ZIP extracts one file, libarchive a folder ``a``."""
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n", "a\\b.py": "1\n"})
    out = tmp_path / "o.zip"
    result = run_cli("function", str(src), "-o", str(out))
    _contract(result, out, "backslash", "'a\\b.py' as 'a/b.py'", "--exclude")
    assert run_cli("function", str(src), "-o", str(out), "--exclude", "a?b.py").returncode == 0


@pytest.mark.parametrize(
    ("name", "extracted"), [("a:b.txt", ["b.txt"]), ("a\\b.py", ["a/", "a/b.py"])]
)
def test_libarchive_extracts_as_the_messages_say(
    tmp_path: Path, name: str, extracted: list[str]
) -> None:
    """The oracle for the two messages above (bsdtar; Info-ZIP keeps the name)."""
    bsdtar = require_tool("bsdtar")
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        archive.writestr(name, "1\n")
    (tmp_path / "x").mkdir()
    subprocess.run([bsdtar, "-xf", str(tmp_path / "d.zip"), "-C", str(tmp_path / "x")],
                   check=True, capture_output=True)  # fmt: skip
    found = sorted(
        p.relative_to(tmp_path / "x").as_posix() + "/" * p.is_dir()
        for p in (tmp_path / "x").rglob("*")
    )
    assert found == extracted


def test_a_layer_exclude_pattern_is_checked_before_any_wheel_is_fetched(
    repo: Repo, tmp_path: Path
) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("not-in-any-index==1.0\n")  # pip would fail on it: it must never run
    out = tmp_path / "l.zip"
    result = run_cli("layer", "-r", str(lock), "-o", str(out), "--exclude", "!",
                     *_offline(repo, tmp_path / "c"))  # fmt: skip
    _contract(result, out, "'!'", "--exclude")
    assert "pip" not in result.stderr


@pytest.mark.parametrize("command", ["hash", "check"])
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "pipe.zip"
    os.mkfifo(fifo)
    result = run_cli(command, str(fifo))  # a read would block forever (run_cli times out)
    assert_one_line_error(result, str(fifo), "not a regular file")


_BAD_LOCKS: dict[str, tuple[str, str | bytes]] = {
    "poetry-package-int": ("poetry.lock", "package = 1\n"),
    "poetry-name-int": ("poetry.lock", '[[package]]\nname = 3\nversion = "1"\ngroups = ["main"]\n'),
    "poetry-files-string": (
        "poetry.lock",
        '[[package]]\nname = "a"\nversion = "1"\nfiles = "x"\ngroups = ["main"]\n',
    ),
    "poetry-no-version": ("poetry.lock", '[[package]]\nname = "a"\ngroups = ["main"]\n'),
    "uv-package-string": ("uv.lock", 'version = 1\npackage = "x"\n'),
    "uv-dependency-int": (
        "uv.lock",
        'version = 1\n[[package]]\nname = "a"\nversion = "1"\nsource = { editable = "." }\n'
        "dependencies = [1]\n",
    ),
    "uv-no-name": ("uv.lock", 'version = 1\n[[package]]\nversion = "1"\n'),
    "pylock-packages-int": ("pylock.toml", 'lock-version = "1.0"\npackages = 3\n'),
    "pylock-url-int": (
        "pylock.toml",
        'lock-version = "1.0"\n[[packages]]\nname = "a"\nversion = "1"\nwheels = [{url = 3}]\n',
    ),
    "pylock-wheels-string": (
        "pylock.toml",
        'lock-version = "1.0"\n[[packages]]\nname = "a"\nversion = "1"\nwheels = "x"\n',
    ),
    "toml-nested-deeply": ("uv.lock", "a = " + "[" * 100_000 + "]" * 100_000 + "\n"),
    "requirements-not-utf8": ("requirements.txt", b"a==1\n\xff\xfe==2\n"),
    "requirements-unbalanced-quote": ("requirements.txt", '--index-url "http://x\na==1\n'),
}


@pytest.mark.parametrize("case", sorted(_BAD_LOCKS))
def test_a_lock_of_the_wrong_shape_is_one_line(repo: Repo, tmp_path: Path, case: str) -> None:
    name, text = _BAD_LOCKS[case]
    lock = tmp_path / name
    lock.write_bytes(text.encode() if isinstance(text, str) else text)
    out = tmp_path / "l.zip"
    result = run_cli("layer", "-r", str(lock), "-o", str(out), *_offline(repo, tmp_path / "c"))
    _contract(result, out, name)
    assert "pip" not in result.stderr  # refused while reading, before any download


def test_a_utf8_bom_in_requirements_is_fine(repo: Repo, tmp_path: Path) -> None:
    plain = repo.write("requirements", tmp_path / "plain")
    bom = tmp_path / "bom" / "requirements.txt"
    bom.parent.mkdir()
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    one = _layer(repo, plain, tmp_path / "1.zip", tmp_path / "c")
    two = _layer(repo, bom, tmp_path / "2.zip", tmp_path / "c")
    assert one.sha256 == two.sha256


@pytest.mark.parametrize(
    "text",
    ["[tool]\ndetzip = 1\n", "[tool]\ndetzip = [1, 2]\n", "tool = 1\n", 'tool = "detzip"\n'],
)
def test_a_project_file_of_the_wrong_shape_is_one_line(tmp_path: Path, text: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    result = run_cli("build", cwd=tmp_path)
    assert_one_line_error(result, "pyproject.toml" if "detzip" in text else "[tool.detzip]")
    assert not (tmp_path / ".build").exists()


@pytest.mark.parametrize("closed", ["subfolder", "source", "file", "ignore-file"])
def test_a_path_without_read_permission_is_one_line(tmp_path: Path, closed: str) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n", "secret/key.py": "k = 1\n"})
    target = {
        "subfolder": src / "secret",
        "source": src,
        "file": src / "app.py",
        "ignore-file": src / ".detzipignore",
    }[closed]
    if closed == "ignore-file":
        target.write_text("*.tmp\n")
    target.chmod(0)
    out = tmp_path / "f.zip"
    try:
        result = run_cli_unprivileged("function", str(src), "-o", str(out), "--no-cache")
    finally:
        target.chmod(0o755)
    _contract(result, out, str(target), "Permission denied", "permissions")
    if closed == "source":
        assert ".detzipignore" not in result.stderr


def test_an_unreadable_folder_that_is_excluded_is_fine(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n", "secret/key.py": "k = 1\n"})
    (src / "secret").chmod(0)
    try:
        result = run_cli_unprivileged(
            "function", str(src), "-o", str(tmp_path / "f.zip"), "--exclude", "secret/", "--json"
        )
    finally:
        (src / "secret").chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert zipfile.ZipFile(tmp_path / "f.zip").namelist() == ["app.py"]


def test_a_terraform_query_nested_deeply_is_one_line() -> None:
    result = run_cli("terraform", input='{"a": ' + "[" * 200_000 + "]" * 200_000 + "}")
    assert_one_line_error(result, "nested too deeply")


def test_a_huge_terraform_query_is_not_read_whole() -> None:
    big = '{"kind": "' + "a" * 60_000_000 + '"}'
    started = time.monotonic()
    result = subprocess.run(
        # VmHWM: this process's peak (ru_maxrss would include pytest's, inherited at fork)
        [sys.executable, "-c", "import re, runpy, sys; sys.argv = ['detzip', 'terraform'];"
         "code = 0\ntry: runpy.run_module('detzip', run_name='__main__')\n"
         "except SystemExit as e: code = e.code\n"
         "status = open('/proc/self/status').read();"
         "print(re.search(r'VmHWM:\\s*(\\d+)', status)[1], file=sys.stderr); sys.exit(code)"],
        input=big, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    *lines, peak_kib = result.stderr.strip().splitlines()
    assert result.returncode == 2 and result.stdout == "" and len(lines) == 1, result.stderr
    assert lines[0].startswith("detzip: error: ") and "1,048,576" in lines[0]
    assert int(peak_kib) < 100 * 1024  # the 60 MB string was never read whole
    assert time.monotonic() - started < 60


# -- an unusable cache folder costs a warning, never the build ---------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("how", ["read-only", "a-file"])
def test_a_layer_builds_with_an_unusable_cache_folder(repo: Repo, tmp_path: Path, how: str) -> None:
    lock = repo.write("requirements", tmp_path / "lock")
    good = _layer(repo, lock, tmp_path / "good.zip", tmp_path / "good-cache")
    cache = tmp_path / "cache"
    if how == "a-file":
        cache.write_text("not a folder")
    else:
        cache.mkdir()
        cache.chmod(0o555)
    out = tmp_path / "l.zip"
    try:
        result = run_cli_unprivileged(
            "layer", "-r", str(lock), "-o", str(out), "--runtime", "python3.11",
            "--find-links", str(repo.folder), "--no-index", "--json",
            env={"DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(cache)},
        )  # fmt: skip
    finally:
        if how == "read-only":
            cache.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sha256"] == good.sha256
    assert "Traceback" not in result.stderr
    assert "cannot store wheels" in result.stderr and "--cache-dir" in result.stderr
    if how == "read-only":
        assert list(cache.iterdir()) == []
    assert not list(Path(tempfile.gettempdir()).glob(f"detzip-wheels-*/{_one_wheel(repo)}"))


def _as_another_user(folder: Path, root_mode: int) -> None:
    """``folder`` as another user's, made with umask 077: every file and folder theirs and
    private (0600, 0700), the top folder ``root_mode`` (0777: a team's shared folder)."""
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, 12345, 12345, follow_symlinks=False)
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)
    folder.chmod(root_mode)


@pytest.mark.slow
@pytest.mark.parametrize("root_mode", [0o777, 0o700], ids=["shared-root", "private-root"])
@pytest.mark.parametrize("kind", ["function", "layer"])
def test_a_cache_folder_of_another_users_umask_077_costs_a_warning(
    repo: Repo, tmp_path: Path, kind: str, root_mode: int
) -> None:
    """The README: a cache folder detzip cannot use costs a warning, never the build. Another
    user's files are unreadable here (no root bypass: run_cli_unprivileged)."""
    cache = tmp_path / "cache"
    lock = repo.write("requirements", tmp_path / "lock")
    src = make_tree(tmp_path / "src", {"app.py": "def handler(e, c):\n    return 1\n"})
    args = {
        "function": ["function", str(src)],
        "layer": ["layer", "-r", str(lock), "--runtime", "python3.11", "--find-links",
                  str(repo.folder), "--no-index"],
    }[kind]  # fmt: skip
    env = {"DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(cache)}
    first = run_cli(*args, "-o", str(tmp_path / "a.zip"), "--json", env=env)
    assert first.returncode == 0, first.stderr
    _as_another_user(cache, root_mode)
    for attempt in range(2):  # (the second run finds what the first could leave)
        out = tmp_path / f"b{attempt}.zip"
        result = run_cli_unprivileged(*args, "-o", str(out), "--json", env=env)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert json.loads(result.stdout)["sha256"] == json.loads(first.stdout)["sha256"]
        lines = result.stderr.strip().splitlines()
        assert lines and all(line.startswith("detzip: warning: ") for line in lines), lines
        assert str(cache) in result.stderr


def _one_wheel(repo: Repo) -> str:
    return "wheels/*/*/" + sorted(p.name for p in repo.folder.glob("*.whl"))[0]


_HOLD_SCRATCH = """
import sys, time
from detzip._scratch import Scratch
scratch = Scratch(sys.argv[1])
print(scratch.path, flush=True)
time.sleep(120)
"""


def _scratch_process(tmp: Path, what: str) -> tuple[subprocess.Popen[str], Path]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_SCRATCH, what], env=env,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_scratch_folders_of_killed_runs_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    """A run killed with SIGKILL cannot remove its scratch folder (pip's report, downloads, a
    local package's build): the next run's first scratch folder sweeps it away, and leaves a
    live run's, another tool's and a non-folder alone."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    killed, dead = _scratch_process(tmp, "fetch")
    live_proc, live = _scratch_process(tmp, "local")
    try:
        assert (dead / ".owner").is_file() and (live / ".owner").is_file()
        (dead / "half-downloaded.whl").write_bytes(b"x" * 1000)
        killed.kill()
        killed.wait(timeout=30)
        (tmp / "detzip-foreign").mkdir()  # no owner file: not ours to judge
        (tmp / "detzip-file").write_text("")
        sweeper = subprocess.run(
            [sys.executable, "-c", "from detzip._scratch import Scratch; Scratch('x').cleanup()"],
            env={**os.environ, "TMPDIR": str(tmp)}, capture_output=True, text=True,
        )  # fmt: skip
        assert sweeper.returncode == 0, sweeper.stderr
        assert not dead.exists()
        assert live.is_dir() and (live / ".owner").is_file()
        assert sorted(p.name for p in tmp.iterdir()) == sorted(
            ["detzip-foreign", "detzip-file", live.name]
        )
    finally:
        for proc in (live_proc, killed):
            proc.kill()
            proc.wait(timeout=30)
            assert proc.stdout is not None
            proc.stdout.close()
    from detzip._scratch import sweep_scratch

    assert sweep_scratch(tmp) == 1 and not live.exists()  # its process is gone now


def test_a_scratch_folder_is_removed_when_its_step_ends(tmp_path: Path) -> None:
    from detzip._scratch import Scratch

    with Scratch("resolve") as folder:
        (folder / "report.json").write_text("{}")
        assert folder.name.startswith("detzip-resolve-")
    assert not folder.exists()
    kept = Scratch("wheels")  # an object: until cleanup (or the end of the process)
    assert kept.path.is_dir()
    kept.cleanup()
    kept.cleanup()
    assert not kept.path.exists()
