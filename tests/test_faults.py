"""Faults and hostile input: nothing wrong is ever served, an input is never overwritten, and a
bad input is one `detzip: error:` line (exit 2, stdout empty, the output path untouched).

Offline: wheels and locks come from tests/wheelfactory.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from detzip import DetzipError, _fs, build_function, build_layer

from .conftest import assert_one_line_error, make_tree, run_cli
from .wheelfactory import Locked, Repo, Wheel, demo_repo, pylock_toml, sha256_file


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return demo_repo(tmp_path_factory.mktemp("wheels"))


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
    assert [p["version"] for p in layer.options["packages"]] == ["1.2.3"]


# -- inputs are never overwritten --------------------------------------------------------------


def test_a_function_output_that_is_a_source_file_is_refused(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "def handler(e, c): return 1\n"})
    before = (src / "app.py").read_bytes()
    result = run_cli("function", str(src), "-o", str(src / "app.py"))
    assert_one_line_error(result, str(src / "app.py"), "input")
    assert (src / "app.py").read_bytes() == before


def test_a_previous_output_inside_the_tree_is_still_fine(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    first = build_function(src, src / "build.zip", cache=False)
    again = build_function(src, src / "build.zip", cache=False)
    assert first.sha256 == again.sha256
    assert "build.zip" not in zipfile.ZipFile(src / "build.zip").namelist()


@pytest.mark.parametrize("target", ["lock", "included", "constraints"])
def test_a_layer_output_that_is_the_lock_or_a_file_it_reads_is_refused(
    repo: Repo, tmp_path: Path, target: str
) -> None:
    folder = tmp_path / "lock"
    lock = repo.write("requirements", folder)
    body = lock.read_text()
    (folder / "base.txt").write_text("\n".join(body.splitlines()[2:]) + "\n")
    (folder / "constraints.txt").write_text("")
    lock.write_text("\n".join(body.splitlines()[:2]) + "\n-r base.txt\n-c constraints.txt\n")
    out = {
        "lock": lock,
        "included": folder / "base.txt",
        "constraints": folder / "constraints.txt",
    }[target]
    before = out.read_bytes()
    cache = tmp_path / "cache"
    for attempt in range(2):  # a miss, then with the resolution remembered (the hit path)
        if attempt:
            ok = run_cli("layer", "-r", str(lock), "-o", str(tmp_path / "ok.zip"),
                         *_offline(repo, cache), env={"DETZIP_CACHE": ""})  # fmt: skip
            assert ok.returncode == 0, ok.stderr
        result = run_cli("layer", "-r", str(lock), "-o", str(out), *_offline(repo, cache),
                         env={"DETZIP_CACHE": ""})  # fmt: skip
        assert_one_line_error(result, str(out), "input")
        assert out.read_bytes() == before


def test_an_output_inside_the_cache_folder_is_refused(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    cache = tmp_path / "cache"
    result = run_cli(
        "function", str(src), "-o", str(cache / "artifacts" / "x.zip"), "--cache-dir", str(cache)
    )
    assert_one_line_error(result, "cache")
    assert not (cache / "artifacts" / "x.zip").exists()


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
    assert out.read_bytes() == old_bytes or proc.returncode == 0
    again = subprocess.run([*argv, "--level", "9"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
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
