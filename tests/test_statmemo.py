"""The stat memo: a function hit does not reread unchanged files, and is never fooled into a
wrong key by a memo it must not trust (racy edits, other machines, changed stat, damage)."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from detzip import Cache, DetzipError, build_function
from detzip.cache import stats
from detzip.cache.stats import RACY_NS, StatMemo, stat_of


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def remembered(
    memo_path: Path, name: str, path: Path, digest: str, hashed: int, **where: str
) -> None:
    """A memo that vouches for ``path`` as it is now, with ``digest``, hashed at ``hashed``."""
    entry = [*stat_of(path.stat()), digest, hashed]
    memo = {"scope": where.get("scope", stats.scope()), "files": {name: entry}}
    stats.write_memo(memo_path, memo)


def settled(path: Path) -> int:
    info = path.stat()
    return max(info.st_mtime_ns, info.st_ctime_ns) + RACY_NS


@pytest.fixture
def file(tmp_path: Path) -> Path:
    path = tmp_path / "a.py"
    path.write_bytes(b"old = 1\n")
    return path


def test_an_unchanged_settled_file_is_not_read_again(tmp_path: Path, file: Path) -> None:
    memo_path = tmp_path / "memo.json"
    remembered(memo_path, "a.py", file, "f" * 64, settled(file))
    # the memo's word is taken (it says ffff…, which the file is not): nothing was read
    assert StatMemo(memo_path).digest("a.py", file) == "f" * 64


def test_an_edit_in_the_racy_window_is_seen_even_with_the_same_stat(
    tmp_path: Path, file: Path
) -> None:
    memo_path = tmp_path / "memo.json"
    before = file.stat()
    file.write_bytes(b"new = 2\n")  # same size …
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))  # … same mtime
    # the memo recorded the file with exactly today's stat, but hashed it within the
    # timestamp granularity of its mtime: an edit in that tick could hide behind the stat
    remembered(memo_path, "a.py", file, sha(b"old = 1\n"), settled(file) - 1)
    assert StatMemo(memo_path).digest("a.py", file) == sha(b"new = 2\n")


def test_a_memo_from_another_machine_is_ignored(tmp_path: Path, file: Path) -> None:
    memo_path = tmp_path / "memo.json"
    remembered(memo_path, "a.py", file, "f" * 64, settled(file), scope="another machine")
    assert StatMemo(memo_path).digest("a.py", file) == sha(b"old = 1\n")


@pytest.mark.parametrize("field", [0, 1, 2, 3, 4])  # size, mtime, ctime, inode, device
def test_an_entry_whose_stat_changed_is_not_trusted(tmp_path: Path, file: Path, field: int) -> None:
    memo_path = tmp_path / "memo.json"
    remembered(memo_path, "a.py", file, "f" * 64, settled(file))
    memo = stats.read_memo(memo_path)
    memo["files"]["a.py"][field] += 1
    stats.write_memo(memo_path, memo)
    assert StatMemo(memo_path).digest("a.py", file) == sha(b"old = 1\n")


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"\x00\xff garbage",
        b"[]",
        b'{"detzip-stat-memo": 2, "scope": "SCOPE", "files": {"a.py": [1, 2, 3, 4, 5, 6, 7]}}',
        b"detzip-stat-memo\n",  # the header cut short
        b"[" * 100_000,
        [],
        {"a.py": "x"},
        {"a.py": [1, 2, 3]},
        {"a.py": ["a", "b", "c", "d", "e", "f", "g"]},
        {"a.py": [1, 2, 3, 4, 5, 6, 7]},
        "truncated",
        "flipped",
    ],
)
def test_a_damaged_memo_is_ignored(
    tmp_path: Path, file: Path, damage: bytes | list[object] | dict[str, object] | str
) -> None:
    memo_path = tmp_path / "memo.json"
    if isinstance(damage, bytes):  # not a memo of this format at all
        memo_path.write_bytes(damage.replace(b"SCOPE", stats.scope().encode()))
    elif isinstance(damage, str):  # a good memo (of other bytes), then damaged on disk
        remembered(memo_path, "a.py", file, "f" * 64, settled(file))
        data = bytearray(memo_path.read_bytes())
        if damage == "truncated":
            del data[-3:]
        else:  # one bit, in the middle of the file: its sha256 no longer holds
            data[len(data) // 2] ^= 0x10
        memo_path.write_bytes(bytes(data))
    else:  # a memo of this format whose entries are not entries
        stats.write_memo(memo_path, {"scope": stats.scope(), "files": damage})
    memo = StatMemo(memo_path)
    assert memo.digest("a.py", file) == sha(b"old = 1\n")
    memo.save()
    assert StatMemo(memo_path).known["a.py"][5] == sha(b"old = 1\n")


def _memo_file(cache: Path) -> Path:
    (found,) = (cache / "stat-memo").iterdir()
    return found


def test_a_hit_uses_the_memo_and_an_edit_is_still_a_miss(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_bytes(b"x = 1\n")
    (source / "lib.py").write_bytes(b"y = 2\n")
    cache = Cache(tmp_path / "cache")
    first = build_function(source, tmp_path / "one.zip", cache=cache)
    memo = stats.read_memo(_memo_file(tmp_path / "cache"))
    assert sorted(memo["files"]) == ["app.py", "lib.py"]
    again = build_function(source, tmp_path / "two.zip", cache=cache)
    assert again.cache_hit and again.sha256 == first.sha256
    # an edit that keeps the size and the mtime (only ctime moves): still seen
    info = (source / "app.py").stat()
    (source / "app.py").write_bytes(b"x = 9\n")
    os.utime(source / "app.py", ns=(info.st_atime_ns, info.st_mtime_ns))
    edited = build_function(source, tmp_path / "three.zip", cache=cache)
    assert not edited.cache_hit and edited.sha256 != first.sha256


def test_the_writer_catches_a_memo_that_vouches_for_other_bytes(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_bytes(b"x = 1\n")
    cache = Cache(tmp_path / "cache")
    build_function(source, tmp_path / "one.zip", cache=cache)
    memo_path = _memo_file(tmp_path / "cache")
    # a memo that lies (as a stat-preserving edit outside the racy window would make it)
    app = source / "app.py"
    remembered(memo_path, "app.py", app, sha(b"x = 2\n"), settled(app))
    with pytest.raises(DetzipError, match="changed while it was being zipped"):
        build_function(source, tmp_path / "two.zip", cache=cache)
    assert not (tmp_path / "two.zip").exists()
    assert not memo_path.exists()  # forgotten: the next build hashes every file
    again = build_function(source, tmp_path / "two.zip", cache=cache)
    assert again.cache_hit and again.sha256 == build_function(source, tmp_path / "n.zip",
                                                              cache=False).sha256  # fmt: skip


def test_no_cache_keys_and_bytes_equal_cached_ones(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "a.py").write_bytes(b"a = 1\n" * 1000)
    (source / "run.sh").write_bytes(b"#!/bin/sh\n")
    (source / "run.sh").chmod(0o755)
    (source / "empty").mkdir()
    cached = build_function(source, tmp_path / "one.zip", cache=Cache(tmp_path / "cache"))
    uncached = build_function(source, tmp_path / "two.zip", cache=False)
    assert uncached.key == cached.key and uncached.sha256 == cached.sha256


@pytest.fixture
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by the test a moment ago count as settled (else every build rehashes)."""
    monkeypatch.setattr(stats, "RACY_NS", 0)


def _tree(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "a.py").write_bytes(b"a = 1\n")
    (source / "b.py").write_bytes(b"b = 2\n")
    (source / "empty").mkdir()
    (source / "env").mkdir()  # a virtualenv (its pyvenv.cfg says so): left out
    (source / "env" / "pyvenv.cfg").write_bytes(b"home = /usr/bin\n")
    (source / "env" / "code.py").write_bytes(b"c = 3\n")
    return source


@pytest.mark.usefixtures("no_racy_window")
@pytest.mark.parametrize(
    "change",
    [
        "add",
        "remove",
        "rename",
        "chmod",
        "edit",
        "same-mtime",
        "replace",
        "empty",
        "unvenv",
        "none",
    ],
)
def test_a_hit_from_the_remembered_walk_sees_every_change(tmp_path: Path, change: str) -> None:
    source = _tree(tmp_path)
    cache = Cache(tmp_path / "cache")
    first = build_function(source, tmp_path / "one.zip", cache=cache)
    items = stats.read_memo(_memo_file(tmp_path / "cache"))["tree"]["items"]
    assert [name for name, _, sha, _, _ in items if sha is None] == ["empty/"]
    assert stats.read_memo(_memo_file(tmp_path / "cache"))["check"] is not None
    again = build_function(source, tmp_path / "two.zip", cache=cache)  # from the memo's walk
    assert again.cache_hit and again.key == first.key
    match change:
        case "add":
            (source / "pkg" / "new.py").write_bytes(b"")
        case "remove":
            (source / "pkg" / "a.py").unlink()
        case "rename":
            (source / "pkg" / "a.py").rename(source / "pkg" / "c.py")
        case "chmod":
            (source / "b.py").chmod(0o755)
        case "edit":
            (source / "b.py").write_bytes(b"b = 3\n")
        case "same-mtime":  # same size, its mtime put back: only ctime tells
            info = (source / "b.py").stat()
            (source / "b.py").write_bytes(b"b = 4\n")
            os.utime(source / "b.py", ns=(info.st_atime_ns, info.st_mtime_ns))
        case "replace":  # another file renamed over it (as editors save): another inode
            (tmp_path / "new.py").write_bytes(b"b = 5\n")
            (tmp_path / "new.py").replace(source / "b.py")
        case "empty":
            (source / "empty" / "now.txt").write_bytes(b"")
        case "unvenv":  # no longer a virtualenv: its code is packed
            (source / "env" / "pyvenv.cfg").unlink()
    changed = build_function(source, tmp_path / "three.zip", cache=cache)
    fresh = build_function(source, tmp_path / "four.zip", cache=False)  # walks, reads all
    assert changed.key == fresh.key and changed.sha256 == fresh.sha256
    assert changed.cache_hit == (change == "none")


@pytest.mark.usefixtures("no_racy_window")
def test_what_a_walk_left_out_as_the_output_is_packed_once_it_is_not(tmp_path: Path) -> None:
    """An earlier output inside the source folder is left out while it is the output; built
    elsewhere, it is a file of the tree like any other, as a fresh walk finds it."""
    source = _tree(tmp_path)
    cache = Cache(tmp_path / "cache")
    first = build_function(source, source / "out.zip", cache=cache)
    again = build_function(source, source / "out.zip", cache=cache)  # from the memo's walk
    assert again.cache_hit and again.key == first.key
    elsewhere = build_function(source, tmp_path / "elsewhere.zip", cache=cache)
    fresh = build_function(source, tmp_path / "fresh.zip", cache=False)
    assert elsewhere.key == fresh.key != first.key and elsewhere.sha256 == fresh.sha256
    assert "out.zip" in zipfile.ZipFile(elsewhere.path).namelist()


@pytest.mark.usefixtures("no_racy_window")
def test_a_damaged_walk_in_the_memo_is_ignored(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    cache = Cache(tmp_path / "cache")
    first = build_function(source, tmp_path / "one.zip", cache=cache)
    memo_path = _memo_file(tmp_path / "cache")
    memo = stats.read_memo(memo_path)
    for damage in (
        [[1, 2]],
        [[3, "x"]],
        [["a", 1]],
        "x",
        [[None, None, None]],
        [["b.py", True, "f" * 64, 0, 1]],  # a path that would be a file descriptor
        [["b.py", True, "f" * 63, str(source / "b.py"), 1]],
    ):
        memo["tree"]["items"] = damage
        stats.write_memo(memo_path, memo)
        again = build_function(source, tmp_path / "two.zip", cache=cache)
        assert again.cache_hit and again.key == first.key
    memo["tree"]["dirs"] = [[0, 1, 2, 3, 4, 5]]  # 0 would be a file descriptor to os.stat
    stats.write_memo(memo_path, memo)
    assert build_function(source, tmp_path / "two.zip", cache=cache).key == first.key


def test_a_folder_changed_in_the_racy_window_is_listed_again(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    cache = Cache(tmp_path / "cache")
    first = build_function(source, tmp_path / "one.zip", cache=cache)
    memo_path = _memo_file(tmp_path / "cache")
    memo = stats.read_memo(memo_path)
    memo["tree"]["items"] = [  # a walk that missed pkg/a.py
        item for item in memo["tree"]["items"] if item[0] == "b.py"
    ]
    # listed right when the folders last changed: a file added in that tick could be missing
    memo["tree"]["walked"] = max(
        max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in (source, source / "pkg")
    )
    stats.write_memo(memo_path, memo)
    again = build_function(source, tmp_path / "two.zip", cache=cache)
    assert again.cache_hit and again.key == first.key  # walked again: every file is there


@pytest.mark.usefixtures("no_racy_window")
def test_an_output_edited_in_place_is_replaced_on_a_hit(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    cache = Cache(tmp_path / "cache")
    out = tmp_path / "out.zip"
    first = build_function(source, out, cache=cache)
    build_function(source, out, cache=cache)  # the output's digest is now remembered
    assert (tmp_path / "cache" / "stat-memo" / "outputs.json").exists()
    good = out.read_bytes()
    info = out.stat()
    out.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size …
    os.utime(out, ns=(info.st_atime_ns, info.st_mtime_ns))  # … same mtime: ctime tells
    again = build_function(source, out, cache=cache)
    assert again.cache_hit and out.read_bytes() == good and again.sha256 == first.sha256


def _git(cwd: Path, *args: str) -> str:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@t.invalid", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t.invalid")  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def crlf_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Git-for-Windows-style checkout (core.autocrlf=true) of a small committed tree with an
    executable script; this machine's git config kept out."""
    import shutil

    if shutil.which("git") is None:
        pytest.skip("git is not on PATH")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    origin = _tree(tmp_path / "origin")
    (origin / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (origin / "run.sh").chmod(0o755)
    _git(origin, "init", "-q")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "tree")
    _git(tmp_path, "clone", "-q", "-c", "core.autocrlf=true", "origin/src", "crlf")
    checkout = tmp_path / "crlf"
    assert (checkout / "b.py").read_bytes() == b"b = 2\r\n"
    return checkout


def test_a_hit_in_a_git_checkout_asks_git_nothing(
    crlf_checkout: Path, tmp_path: Path, no_racy_window: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What git's index said is remembered with the walk: while the index and git's config keep
    their stat, a hit runs no git — and packs the committed LF, as the miss did."""
    from detzip.inputs import git

    cache = Cache(tmp_path / "cache")
    first = build_function(crlf_checkout, tmp_path / "one.zip", cache=cache)
    with zipfile.ZipFile(first.path) as archive:
        assert archive.read("b.py") == b"b = 2\n"

    def no_git(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("git was run on a hit")

    monkeypatch.setattr(git, "_git", no_git)
    monkeypatch.setattr("detzip.inputs.git.subprocess.Popen", no_git)
    (tmp_path / "one.zip").unlink()  # (a hit copies it from the cache)
    hit = build_function(crlf_checkout, tmp_path / "one.zip", cache=cache)
    assert hit.cache_hit and hit.key == first.key and hit.sha256 == first.sha256


def test_a_change_only_in_git_s_index_is_seen(
    crlf_checkout: Path, tmp_path: Path, no_racy_window: None
) -> None:
    """``git update-index --chmod=+x`` changes no file, only the index: the next build packs the
    new mode (the index's stat is part of what the memo checks)."""
    cache = Cache(tmp_path / "cache")
    first = build_function(crlf_checkout, tmp_path / "one.zip", cache=cache)
    _git(crlf_checkout, "update-index", "--chmod=+x", "b.py")
    second = build_function(crlf_checkout, tmp_path / "two.zip", cache=cache)
    assert second.key != first.key
    with zipfile.ZipFile(second.path) as archive:
        assert archive.getinfo("b.py").external_attr >> 16 == 0o100755
        assert archive.getinfo("run.sh").external_attr >> 16 == 0o100755
    uncached = build_function(crlf_checkout, tmp_path / "three.zip", cache=False)
    assert uncached.key == second.key and uncached.sha256 == second.sha256


def test_a_miss_from_a_remembered_git_walk_packs_the_committed_bytes(
    crlf_checkout: Path, tmp_path: Path, no_racy_window: None
) -> None:
    """Other zip options (a new key) with an unchanged tree: the remembered walk stands for the
    files, and those packed from git's blobs are copied out of git again — still LF."""
    cache = Cache(tmp_path / "cache")
    first = build_function(crlf_checkout, tmp_path / "one.zip", cache=cache)
    other = build_function(crlf_checkout, tmp_path / "two.zip", cache=cache, level=9)
    assert not other.cache_hit and other.key != first.key
    with zipfile.ZipFile(other.path) as archive:
        assert archive.read("b.py") == b"b = 2\n"
        assert archive.getinfo("run.sh").external_attr >> 16 == 0o100755
    plain = build_function(crlf_checkout, tmp_path / "three.zip", cache=False, level=9)
    assert plain.sha256 == other.sha256


def test_an_uncommitted_edit_git_stores_as_it_is_keeps_hits_free_of_git(
    crlf_checkout: Path, tmp_path: Path, no_racy_window: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file being edited (not committed) whose bytes are already what ``git add`` would store:
    the first build asks git once, and the next one is a hit that runs no git."""
    from detzip.inputs import git

    cache = Cache(tmp_path / "cache")
    (crlf_checkout / "b.py").write_bytes(b"b = 3\n")
    first = build_function(crlf_checkout, tmp_path / "one.zip", cache=cache)
    with zipfile.ZipFile(first.path) as archive:
        assert archive.read("b.py") == b"b = 3\n"

    def no_git(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("git was run on a hit")

    monkeypatch.setattr(git, "_git", no_git)
    monkeypatch.setattr("detzip.inputs.git.subprocess.Popen", no_git)
    hit = build_function(crlf_checkout, tmp_path / "one.zip", cache=cache)
    assert hit.cache_hit and hit.key == first.key


def test_a_memo_is_scoped_to_the_boot_where_no_boot_id_says_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """macOS and Windows have no /etc/machine-id nor /proc's boot_id: the scope was the host
    name alone, and a memo outlived a reboot (inodes and times then mean something else).
    Simulated: those files absent, Windows's registry faked, a reboot as a new boot moment."""
    import sys
    import time
    import types

    from detzip import _platform
    from detzip.cache import stats

    monkeypatch.setattr(_platform, "_read_id", lambda path: "")
    guid = ["11111111-2222-3333-4444-555555555555"]

    class Key:
        def __enter__(self) -> Key:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    fake = types.ModuleType("winreg")
    fake.HKEY_LOCAL_MACHINE = 0  # type: ignore[attr-defined]
    fake.OpenKey = lambda root, path: Key()  # type: ignore[attr-defined]
    fake.QueryValueEx = lambda key, name: (guid[0], 1)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "winreg", fake)

    def fresh() -> str:
        monkeypatch.setattr(stats, "_SCOPE", [])
        return stats.scope()

    first = fresh()
    assert fresh() == first, "the same boot, the same machine: the same scope"
    uptime = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: uptime - 3600)  # booted an hour later
    rebooted = fresh()
    assert rebooted != first
    guid[0] = "99999999-2222-3333-4444-555555555555"  # the memo copied to another machine
    assert fresh() not in (first, rebooted)


@pytest.mark.usefixtures("no_racy_window")
def test_a_hit_whose_walk_holds_decodes_no_file_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check section (folders' and files' stats, the fingerprint) is all a hit reads: the
    per-file digests and items (most of a big tree's memo) stay undecoded."""
    source = _tree(tmp_path)
    cache = Cache(tmp_path / "cache")
    first = build_function(source, tmp_path / "one.zip", cache=cache)

    def no_detail(*args: object) -> object:
        raise AssertionError("a hit decoded the memo's file entries")

    with monkeypatch.context() as patched:
        patched.setattr(stats, "_load_detail", no_detail)
        again = build_function(source, tmp_path / "two.zip", cache=cache)
    assert again.cache_hit and again.key == first.key
    (source / "b.py").write_bytes(b"b = 3\n")  # a change: the entries are needed, and used
    changed = build_function(source, tmp_path / "three.zip", cache=cache)
    fresh = build_function(source, tmp_path / "four.zip", cache=False)
    assert not changed.cache_hit and changed.key == fresh.key


@pytest.mark.usefixtures("no_racy_window")
@pytest.mark.parametrize("where", ["check", "detail"])
def test_a_flipped_bit_in_a_walk_s_memo_is_a_rewalk(tmp_path: Path, where: str) -> None:
    source = _tree(tmp_path)
    cache = Cache(tmp_path / "cache")
    first = build_function(source, tmp_path / "one.zip", cache=cache)
    memo_path = _memo_file(tmp_path / "cache")
    data = bytearray(memo_path.read_bytes())
    start = len(stats._MAGIC) + stats._HEAD.size
    checked = stats._HEAD.unpack_from(data, len(stats._MAGIC))[2]
    data[start + (checked // 2 if where == "check" else checked + 40)] ^= 0x01
    memo_path.write_bytes(bytes(data))
    assert stats.read_memo(memo_path) == {}
    (source / "b.py").write_bytes(b"b = 3\n")
    again = build_function(source, tmp_path / "two.zip", cache=cache)
    fresh = build_function(source, tmp_path / "three.zip", cache=False)
    assert again.key == fresh.key != first.key


@pytest.mark.usefixtures("no_racy_window")
def test_a_bootstrap_that_cannot_run_is_warned_of_on_every_hit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = _tree(tmp_path)
    (source / "bootstrap").write_bytes(b"#!/bin/sh\nexec python3 app.py\n")
    (source / "bootstrap").chmod(0o644)
    cache = Cache(tmp_path / "cache")
    build_function(source, tmp_path / "one.zip", cache=cache)
    assert "bootstrap is not executable" in _said(caplog)
    hit = build_function(source, tmp_path / "two.zip", cache=cache)
    assert hit.cache_hit and "bootstrap is not executable" in _said(caplog)
    (source / "bootstrap").chmod(0o755)
    fixed = build_function(source, tmp_path / "three.zip", cache=cache)
    assert not fixed.cache_hit and "bootstrap" not in _said(caplog)
    again = build_function(source, tmp_path / "four.zip", cache=cache)
    assert again.cache_hit and "bootstrap" not in _said(caplog)


def _said(caplog: pytest.LogCaptureFixture) -> str:
    text = caplog.text
    caplog.clear()
    return text
