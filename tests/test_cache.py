"""The artifact cache (detzip.cache): keys, hits, verification, memoized resolutions,
concurrency, pruning; and, imported directly, its layout and Cache.through."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from detzip import Cache, build_function, build_layer
from detzip.cache import layout
from detzip.cache.artifacts import ArtifactCache
from detzip.cache.keys import cache_key
from detzip.errors import DetzipError
from detzip.zip.writer import WrittenZip

from .conftest import HANDLER, SRC, assert_one_line_error, make_tree, run_cli
from .wheelfactory import Locked, Repo, Wheel, poetry_lock, requirements_txt

ON = {"DETZIP_CACHE": ""}  # the suite turns the cache off by default; these tests turn it on


def tree(root: Path, **extra: str) -> Path:
    return make_tree(
        root,
        {"app.py": HANDLER, "lib/util.py": "X = 1\n", **extra},
    )


def artifacts(root: Path) -> list[str]:
    folder = root / "artifacts"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def leftovers(*folders: Path) -> list[Path]:
    return [
        p
        for folder in folders
        for p in folder.rglob("*")
        if p.name.startswith(".incoming-") or p.name.endswith(".detzip-tmp")
    ]


# -- hits ---------------------------------------------------------------------------------------


def test_second_build_is_a_hit_with_the_same_bytes(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    cache = Cache(tmp_path / "c")
    first = build_function(src, tmp_path / "out" / "fn.zip", cache=cache)
    assert not first.cache_hit and first.key
    assert first.cache_entry == tmp_path / "c" / "artifacts" / f"fn-{first.key[:16]}.zip"
    assert artifacts(tmp_path / "c") == [f"fn-{first.key[:16]}.json", f"fn-{first.key[:16]}.zip"]

    again = build_function(src, tmp_path / "out" / "other.zip", cache=cache)
    assert again.cache_hit and again.cache_source == "local"
    assert (again.key, again.sha256, again.base64sha256) == (
        first.key,
        first.sha256,
        first.base64sha256,
    )
    assert (again.size, again.unzipped_size, again.entries, again.description) == (
        first.size,
        first.unzipped_size,
        first.entries,
        first.description,
    )
    assert (tmp_path / "out" / "other.zip").read_bytes() == first.path.read_bytes()
    # a hit under another name does not store a second copy
    assert len(artifacts(tmp_path / "c")) == 2


@pytest.mark.parametrize("name", ["my.fn", "api.v2.final", "v1.0"])
def test_a_name_with_dots_is_stored_whole_and_hits(tmp_path: Path, name: str) -> None:
    """The entry is ``<name>-<key16>`` with ``.zip`` and ``.json`` added: a dot in the name is
    not a suffix to swap (``my.fn`` was stored as ``my.zip`` and never found again)."""
    src = tree(tmp_path / "src")
    cache = Cache(tmp_path / "c")
    first = build_function(src, tmp_path / "out" / f"{name}.zip", cache=cache)
    assert first.key is not None
    entry = f"{name}-{first.key[:16]}"
    assert first.cache_entry == tmp_path / "c" / "artifacts" / f"{entry}.zip"
    assert artifacts(tmp_path / "c") == [f"{entry}.json", f"{entry}.zip"]
    again = build_function(src, tmp_path / "out" / f"{name}.zip", cache=cache)
    assert again.cache_hit and again.cache_source == "local"
    assert again.sha256 == first.sha256
    assert artifacts(tmp_path / "c") == [f"{entry}.json", f"{entry}.zip"]


def test_a_hit_replaces_whatever_is_at_the_output(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    cache = Cache(tmp_path / "c")
    first = build_function(src, tmp_path / "a.zip", cache=cache)
    out = tmp_path / "b.zip"
    out.write_bytes(b"stale")
    hit = build_function(src, out, cache=cache)
    assert hit.cache_hit and out.read_bytes() == first.path.read_bytes()
    assert leftovers(tmp_path) == []


def test_any_change_to_the_tree_is_a_miss(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    cache = Cache(tmp_path / "c")
    keys = {build_function(src, tmp_path / "f.zip", cache=cache).key}
    (src / "lib" / "util.py").write_text("X = 2\n")
    keys.add(build_function(src, tmp_path / "f.zip", cache=cache).key)
    (src / "app.py").chmod(0o755)
    keys.add(build_function(src, tmp_path / "f.zip", cache=cache).key)
    (src / "lib" / "util.py").rename(src / "lib" / "util2.py")
    keys.add(build_function(src, tmp_path / "f.zip", cache=cache).key)
    (src / "empty").mkdir()
    last = build_function(src, tmp_path / "f.zip", cache=cache)
    keys.add(last.key)
    assert len(keys) == 5 and not last.cache_hit


def test_no_cache_builds_and_stores_nothing(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    result = run_cli(
        "function", str(src), "-o", str(tmp_path / "f.zip"), "--cache-dir", str(tmp_path / "c"),
        "--no-cache", "--json", env=ON,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["cache_hit"] is False and data["cache_entry"] is None and data["key"]
    assert artifacts(tmp_path / "c") == []
    off = build_function(src, tmp_path / "g.zip", cache=False)
    assert off.key == data["key"] and off.cache_entry is None


def test_cli_reports_key_and_hit(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    args = ["function", str(src), "-o", str(tmp_path / "f.zip"), "--cache-dir", str(tmp_path / "c")]
    built = run_cli(*args, env=ON)
    hit = run_cli(*args, env=ON)
    assert built.returncode == hit.returncode == 0
    assert "built, cached" in built.stdout and "cache hit (local)" in hit.stdout
    assert hit.stderr == ""
    as_json = json.loads(run_cli(*args, "--json", env=ON).stdout)
    assert as_json["cache_hit"] is True and as_json["key"] in hit.stdout


# -- keys ---------------------------------------------------------------------------------------


def test_keys_do_not_depend_on_where_the_tree_or_cache_is(tmp_path: Path) -> None:
    one = build_function(tree(tmp_path / "a" / "src"), tmp_path / "a.zip", cache=False)
    two = build_function(
        tree(tmp_path / "b" / "deeper" / "code"), tmp_path / "x" / "b.zip", cache=False
    )
    assert one.key == two.key and one.sha256 == two.sha256
    assert str(tmp_path) not in json.dumps(one.description)


def test_keys_are_the_same_in_another_process_and_directory(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    local = build_function(src, tmp_path / "a.zip", cache=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli(
        "function", "../src", "-o", "b.zip", "--json", cwd=elsewhere,
        env={"TZ": "Asia/Kolkata", "LC_ALL": "C", "HOME": str(elsewhere)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["key"] == local.key


OPTION_VARIANTS: dict[str, list[Any]] = {
    "mtime": [None, 1_700_000_000, "2030-06-01"],
    "compressor": [
        ("deflate", None),
        ("deflate", 1),
        ("deflate", 12),
        ("zlib", 9),
        ("store", None),
    ],
    "prefix": ["", "pkg"],
    "exclude": [(), ("*.txt",), ("lib/",)],
    "content": ["v1", "v2"],
    "executable": [False, True],
    "extra": [False, True],
}


def _build_variant(root: Path, variant: dict[str, Any]) -> tuple[str, str]:
    files = {"app.py": f"# {variant['content']}\n", "lib/a.py": "A = 1\n", "notes.txt": "n\n"}
    if variant["extra"]:
        files["lib/b.py"] = "B = 2\n"
    src = make_tree(root / "src", files, {"app.py"} if variant["executable"] else set())
    compressor, level = variant["compressor"]
    artifact = build_function(
        src,
        root / "out.zip",
        mtime=variant["mtime"],
        compressor=compressor,
        level=level,
        prefix=variant["prefix"],
        exclude=variant["exclude"],
        cache=False,
    )
    return artifact.key or "", artifact.sha256


variants = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in OPTION_VARIANTS.items()})


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variants, variants)
def test_different_bytes_always_mean_different_keys(a: dict[str, Any], b: dict[str, Any]) -> None:
    with (
        tempfile.TemporaryDirectory() as one,
        tempfile.TemporaryDirectory() as again,
        tempfile.TemporaryDirectory() as two,
    ):
        key_a, sha_a = _build_variant(Path(one), a)
        key_a2, sha_a2 = _build_variant(Path(again), dict(a))  # the same options elsewhere
        key_b, sha_b = _build_variant(Path(two), b)
    assert key_a == key_a2 and sha_a == sha_a2, a
    # only pairs whose bytes differ say anything here; hypothesis fails if it finds too few
    assume(sha_a != sha_b)
    assert key_a != key_b, (a, b)


@pytest.mark.parametrize("option", sorted(OPTION_VARIANTS))
def test_every_option_changes_the_key(tmp_path: Path, option: str) -> None:
    base = {k: v[0] for k, v in OPTION_VARIANTS.items()}
    keys = {
        _build_variant(tmp_path / str(i), {**base, option: value})[0]
        for i, value in enumerate(OPTION_VARIANTS[option])
    }
    assert len(keys) == len(OPTION_VARIANTS[option])


def test_key_is_a_digest_of_the_description() -> None:
    description = {"format": 1, "b": [1, 2], "a": {"y": 1, "x": 2}}
    reordered = {"a": {"x": 2, "y": 1}, "b": [1, 2], "format": 1}
    assert cache_key("layer", description) == cache_key("layer", reordered)
    assert cache_key("layer", description) != cache_key("function", description)
    assert cache_key("layer", description) != cache_key("layer", {**description, "b": [2, 1]})


# -- layer keys: the resolved set, not the lock ---------------------------------------------------


def test_layer_key_is_the_same_for_every_lock_format(repo: Repo, tmp_path: Path) -> None:
    keys = set()
    for kind in ("requirements", "poetry", "pylock", "uv"):
        lock = repo.write(kind, tmp_path / kind)
        extra = repo.find_links if kind == "poetry" else {}
        artifact = build_layer(lock, tmp_path / f"{kind}.zip", cache=False, **extra)
        keys.add((artifact.key, artifact.sha256))
    assert len(keys) == 1


def test_lock_edits_that_change_nothing_for_the_target_keep_the_key(
    repo: Repo, tmp_path: Path
) -> None:
    cache = Cache(tmp_path / "c")
    lock = repo.write("poetry", tmp_path / "p")
    first = build_layer(
        lock, tmp_path / "1.zip", cache=cache, cache_dir=tmp_path / "c", **repo.find_links
    )
    text = lock.read_text()
    # another platform's wheel, the content-hash, a dev dependency, a package whose marker
    # excludes python3.12
    edited = text.replace(
        'files = [{file = "gamma',
        'files = [{file = "gamma-3.1-cp38-abi3-macosx_11_0_arm64.whl", hash = "sha256:'
        + "0" * 64
        + '"}, {file = "gamma',
    ).replace('content-hash = "x"', 'content-hash = "y"')
    assert edited != text
    packages = [p for p in repo.packages if p.name != "beta"]
    beta = next(p for p in repo.packages if p.name == "beta")
    fake_beta = Locked("beta", "0.6", beta.wheels, marker=beta.marker)
    other = poetry_lock([*packages, fake_beta, Locked("newdev", "1.0", beta.wheels, group="dev")])
    for i, variant in enumerate([edited, other]):
        lock.write_text(variant)
        again = build_layer(
            lock, tmp_path / f"{i}.zip", cache=cache, cache_dir=tmp_path / "c", **repo.find_links
        )
        assert again.key == first.key and again.cache_hit, i


@pytest.mark.slow
def test_lock_edits_that_change_the_set_change_the_key(repo: Repo, tmp_path: Path) -> None:
    alpha2 = Wheel("alpha", "1.0.1", files={"alpha/__init__.py": "VERSION = '1.0.1'\n"}).build(
        tmp_path / "more"
    )
    cache = Cache(tmp_path / "c")
    lock = repo.write("pylock", tmp_path / "p")
    first = build_layer(lock, tmp_path / "1.zip", cache=cache, cache_dir=tmp_path / "c")
    packages = [
        p if p.name != "alpha" else Locked("alpha", "1.0.1", [alpha2], deps=["gamma"])
        for p in repo.packages
    ]
    from .wheelfactory import pylock_toml

    lock.write_text(pylock_toml(packages))
    second = build_layer(lock, tmp_path / "2.zip", cache=cache, cache_dir=tmp_path / "c")
    assert second.key != first.key and not second.cache_hit
    assert "python/alpha-1.0.1.dist-info/RECORD" in zipfile.ZipFile(second.path).namelist()
    arm = build_layer(lock, tmp_path / "3.zip", arch="arm64", cache=cache, cache_dir=tmp_path / "c")
    older = build_layer(lock, tmp_path / "4.zip", runtime="python3.11", cache=cache, cache_dir=tmp_path / "c")  # fmt: skip
    assert len({first.key, second.key, arm.key, older.key}) == 4


def test_an_included_requirements_file_is_an_input(repo: Repo, tmp_path: Path) -> None:
    """The resolution memo is dropped when any file the lock reads changes."""
    folder = tmp_path / "req"
    folder.mkdir()
    (folder / "base.txt").write_text(requirements_txt(repo.packages, repo.folder))
    lock = folder / "requirements.txt"
    lock.write_text("-r base.txt\n")
    cache = Cache(tmp_path / "c")
    first = build_layer(lock, tmp_path / "1.zip", cache=cache, cache_dir=tmp_path / "c")
    assert build_layer(lock, tmp_path / "2.zip", cache=cache, cache_dir=tmp_path / "c").cache_hit
    without_native = [p for p in repo.packages if p.name != "native"]
    (folder / "base.txt").write_text(requirements_txt(without_native, repo.folder))
    second = build_layer(lock, tmp_path / "3.zip", cache=cache, cache_dir=tmp_path / "c")
    assert second.key != first.key and not second.cache_hit
    assert not any("native" in n for n in zipfile.ZipFile(second.path).namelist())


@pytest.mark.slow
def test_a_hit_does_not_import_the_lock_readers(repo: Repo, tmp_path: Path) -> None:
    lock = repo.write("uv", tmp_path / "u")
    args = [
        "layer",
        "-r",
        str(lock),
        "-o",
        str(tmp_path / "l.zip"),
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    code = (
        f"import sys; sys.path.insert(0, {str(SRC)!r}); from detzip.cli import main; "
        f"code = main({args!r}); "
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] == 'packaging' "
        "or m in ('detzip.deps.locks', 'detzip.inputs.wheel', 'detzip.zip.writer', 'pathspec')))"
    )
    env = {**os.environ, **ON}
    cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert cold.returncode == 0, cold.stderr
    assert "packaging" in cold.stdout.splitlines()[-1]
    warm = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert warm.stdout.splitlines()[-1] == "0 []", warm.stdout + warm.stderr


#: what a hit's start-up does without: dataclasses (with inspect, ast, dis: detzip's types are
#: detzip._datatype's), shutil (argparse asks it the terminal's width only to print help),
#: zlib (the pinned compressor is libdeflate), threads, logging (until a message is logged), the
#: shared cache's protocol (none is configured)
NOT_ON_A_HIT = (
    "dataclasses",
    "inspect",
    "shutil",
    "zlib",
    "copy",
    "threading",
    "concurrent.futures",
    "logging",
    "pathspec",
    "detzip.zip.writer",
    "detzip.cache.remote",
)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["function", "layer"])
def test_a_hit_loads_only_what_it_needs(repo: Repo, tmp_path: Path, kind: str) -> None:
    if kind == "layer":
        args = ["layer", "-r", str(repo.write("uv", tmp_path / "u"))]
    else:
        args = ["function", str(make_tree(tmp_path / "src", {"app.py": "x = 1\n"}))]
    args += ["-o", str(tmp_path / "out.zip"), "--cache-dir", str(tmp_path / "c")]
    code = (
        f"import sys; sys.path.insert(0, {str(SRC)!r}); from detzip.cli import main; "
        f"code = main({args!r}); "
        f"print(code, sorted(m for m in {NOT_ON_A_HIT!r} if m in sys.modules))"
    )
    env = {**os.environ, **ON}
    if kind == "function":  # past the stat memo's racy window: the miss's memo vouches for all
        time.sleep(2.1)
    for _ in range(2):  # a miss, then the hit
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "0 []", run.stdout + run.stderr


# -- verification ---------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_a_damaged_entry_is_discarded_and_rebuilt(tmp_path: Path, damage: str) -> None:
    src = tree(tmp_path / "src", **{"big.txt": "lambda " * 5000})
    root = tmp_path / "c"
    args = ["function", str(src), "-o", str(tmp_path / "f.zip"), "--cache-dir", str(root), "--json"]
    first = json.loads(run_cli(*args, env=ON).stdout)
    entry = Path(first["cache_entry"])
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        entry.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    else:
        entry.unlink()
    (tmp_path / "f.zip").unlink()
    result = run_cli(*args, env=ON)
    assert result.returncode == 0, result.stderr
    again = json.loads(result.stdout)
    assert again["cache_hit"] is False and again["sha256"] == first["sha256"]
    if damage != "delete":
        assert result.stderr.startswith("detzip: warning: ") and "corrupt" in result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert (tmp_path / "f.zip").read_bytes() == data and entry.read_bytes() == data
    assert json.loads(run_cli(*args, env=ON).stdout)["cache_hit"] is True


def test_an_unreadable_record_is_a_miss(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    cache = Cache(tmp_path / "c")
    first = build_function(src, tmp_path / "f.zip", cache=cache)
    assert first.cache_entry is not None
    first.cache_entry.with_suffix(".json").write_text("{not json")
    again = build_function(src, tmp_path / "g.zip", cache=cache)
    assert not again.cache_hit and again.sha256 == first.sha256
    assert build_function(src, tmp_path / "h.zip", cache=cache).cache_hit


# -- concurrency ----------------------------------------------------------------------------------


def detzip_process(*args: str) -> subprocess.Popen[str]:
    """``detzip ARGS --json`` started in the background with the cache on."""
    return subprocess.Popen(
        [sys.executable, "-m", "detzip", *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ON, "PYTHONPATH": str(SRC)},
    )


@pytest.mark.slow
def test_eight_processes_building_one_layer_at_once(repo: Repo, tmp_path: Path) -> None:
    lock = repo.write("requirements", tmp_path / "r")  # hashes only: each process asks pip
    root = tmp_path / "c"
    outputs = [tmp_path / "shared.zip"] * 4 + [tmp_path / f"own{i}.zip" for i in range(4)]
    procs = [
        detzip_process(
            "layer", "-r", str(lock), "-o", str(out), "--cache-dir", str(root), "--name", "layer"
        )
        for out in outputs
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert all(code == 0 for code, _, _ in results), [err for _, _, err in results]
    reports = [json.loads(out) for _, out, _ in results]
    assert len({r["sha256"] for r in reports}) == 1
    assert len({r["key"] for r in reports}) == 1
    assert sum(1 for r in reports if not r["cache_hit"]) == 1  # one built, the others waited
    assert [n for n in artifacts(root) if n.endswith(".zip")] == [
        f"layer-{reports[0]['key'][:16]}.zip"
    ]
    for out in set(outputs):
        with zipfile.ZipFile(out) as archive:
            assert archive.testzip() is None
        assert out.stat().st_size == reports[0]["size"]
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_concurrent_function_builds_of_one_tree(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", **{f"m{i}.py": f"V = {i}\n" * 200 for i in range(50)})
    out, root = tmp_path / "fn.zip", tmp_path / "c"
    procs = [
        detzip_process("function", str(src), "-o", str(out), "--cache-dir", str(root))
        for _ in range(8)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert all(code == 0 for code, _, _ in results), [err for _, _, err in results]
    assert len({json.loads(out)["sha256"] for _, out, _ in results}) == 1
    assert leftovers(tmp_path) == []


# -- cache info and prune -------------------------------------------------------------------------


def _age(entry: Path, days: float) -> None:
    moment = time.time() - days * 86400
    for path in (entry, entry.with_suffix(".json")):
        os.utime(path, (moment, moment))


def test_prune_by_age_and_size(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = Cache(root)
    built = []
    for i, days in enumerate([40, 10, 0]):
        src = tree(tmp_path / f"s{i}", **{"data.txt": os.urandom(3000).hex()})
        artifact = build_function(src, tmp_path / f"f{i}.zip", cache=cache)
        assert artifact.cache_entry is not None
        _age(artifact.cache_entry, days)
        built.append(artifact)
    (root / "artifacts" / ".incoming-stale").write_bytes(b"x")
    os.utime(root / "artifacts" / ".incoming-stale", (time.time() - 7200, time.time() - 7200))

    info = json.loads(run_cli("cache", "info", "--cache-dir", str(root), "--json").stdout)
    assert info["artifacts"] == 3 and info["artifact_bytes"] > 3 * 3000

    dry = run_cli("cache", "prune", "--cache-dir", str(root), "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0 and "would remove 1 artifact and 0 wheels" in dry.stdout
    assert len(artifacts(root)) == 6

    pruned = run_cli("cache", "prune", "--cache-dir", str(root), "--older-than", "30d", "--json")
    assert json.loads(pruned.stdout)["removed_artifacts"] == 1
    assert len(artifacts(root)) == 4 and not (root / "artifacts" / ".incoming-stale").exists()
    newest = built[2].cache_entry
    assert newest is not None
    keep = newest.stat().st_size + newest.with_suffix(".json").stat().st_size
    run_cli("cache", "prune", "--cache-dir", str(root), "--max-size", str(keep))
    assert artifacts(root) == sorted([newest.name, newest.with_suffix(".json").name])
    # what was pruned is rebuilt; what is left still hits
    assert not build_function(tmp_path / "s0", tmp_path / "g.zip", cache=cache).cache_hit
    assert build_function(tmp_path / "s2", tmp_path / "h.zip", cache=cache).cache_hit


@pytest.mark.slow
def test_prune_removes_unused_wheels(repo: Repo, tmp_path: Path) -> None:
    root = tmp_path / "c"
    build_layer(
        repo.write("uv", tmp_path / "u"), tmp_path / "l.zip", cache=Cache(root), cache_dir=root
    )
    wheels = [p for p in (root / "wheels").glob("*/*") if p.is_dir()]
    assert wheels
    info = json.loads(run_cli("cache", "info", "--cache-dir", str(root), "--json").stdout)
    assert info["wheels"] == len(wheels) and info["memos"] >= 1
    result = run_cli("cache", "prune", "--cache-dir", str(root), "--max-size", "0")
    assert result.returncode == 0, result.stderr
    assert not any(p.is_dir() for p in (root / "wheels").glob("*/*"))
    assert artifacts(root) == []


def _shaped_like_a_cache(folder: Path) -> list[Path]:
    """Files named as detzip names what it caches (an artifact and its record, a stored wheel):
    the names alone must never be enough for prune to delete them."""
    files = [
        folder / "artifacts" / "report-0123456789abcdef.zip",
        folder / "artifacts" / "report-0123456789abcdef.json",
        folder / "wheels" / "ab" / ("ab" + "0" * 62) / "lib-1.0-py3-none-any.whl",
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"precious")
    return files


def test_prune_never_follows_a_link_out_of_the_cache(tmp_path: Path) -> None:
    """``wheels/ab -> /elsewhere`` (and a linked artifact, a linked ``artifacts/``) are not the
    cache's: prune removes its own entries and nothing through a link."""
    root = tmp_path / "c"
    artifact = build_function(tree(tmp_path / "s"), tmp_path / "f.zip", cache=Cache(root))
    elsewhere = tmp_path / "elsewhere"
    precious = _shaped_like_a_cache(elsewhere)
    (root / "wheels").mkdir()
    (root / "wheels" / "ab").symlink_to(elsewhere / "wheels" / "ab")
    (root / "artifacts" / "evil-0123456789abcdef.zip").symlink_to(precious[0])
    (root / "artifacts" / "evil-0123456789abcdef.json").symlink_to(precious[1])
    (root / "memo").symlink_to(elsewhere / "artifacts")  # a linked folder of detzip's
    for args in (["--max-size", "0"], ["--older-than", "0"]):
        result = run_cli("cache", "prune", "--cache-dir", str(root), *args, "--json")
        assert result.returncode == 0, result.stderr
    assert all(path.read_bytes() == b"precious" for path in precious)
    assert artifact.cache_entry is not None and not artifact.cache_entry.exists()
    assert (root / "wheels" / "ab").is_symlink(), "the link itself is not the cache's either"


@pytest.mark.parametrize("command", ["prune", "build"])
def test_a_folder_that_is_not_a_cache_is_never_pruned_nor_written(
    tmp_path: Path, command: str
) -> None:
    """``--cache-dir .`` in a project: its ``artifacts/`` and ``wheels/`` are the user's."""
    project = tmp_path / "project"
    precious = _shaped_like_a_cache(project)
    make_tree(project / "src", {"app.py": HANDLER})
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    if command == "prune":
        result = run_cli("cache", "prune", "--cache-dir", str(project), "--max-size", "0")
    else:
        out = tmp_path / "f.zip"
        result = run_cli(
            "function", str(project / "src"), "-o", str(out), "--cache-dir", str(project), env=ON
        )
        assert not out.exists()
    assert_one_line_error(result, str(project), "is not a detzip cache", "'src'", "--cache-dir")
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    assert all(path.read_bytes() == b"precious" for path in precious)


def test_a_cache_is_marked_when_it_is_made_and_an_unmarked_one_of_ours_is_adopted(
    tmp_path: Path,
) -> None:
    root = tmp_path / "c"
    build_function(tree(tmp_path / "s"), tmp_path / "f.zip", cache=Cache(root))
    tag = (root / layout.TAG).read_bytes()
    assert tag.startswith(b"Signature: 8a477f597d28d172789f06886806bc55")  # bford.info/cachedir
    # a cache made before there was a mark holds only detzip's folders (and what a file
    # browser left there): adopted, and pruned
    (root / layout.TAG).unlink()
    (root / ".DS_Store").write_bytes(b"Bud1")
    result = run_cli("cache", "prune", "--cache-dir", str(root), "--max-size", "0", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["removed_artifacts"] == 1
    assert (root / layout.TAG).read_bytes() == tag


@pytest.mark.parametrize(
    ("flag", "value"), [("--max-size", "lots"), ("--older-than", "3 fortnights")]
)
def test_prune_rejects_bad_limits(tmp_path: Path, flag: str, value: str) -> None:
    result = run_cli("cache", "prune", "--cache-dir", str(tmp_path), flag, value)
    assert_one_line_error(result, flag)


def test_parse_size_and_age() -> None:
    from detzip.cache.admin import parse_age, parse_size

    assert parse_size("1048576") == 1 << 20
    assert parse_size("2G") == 2 << 30
    assert parse_size("1.5MB") == int(1.5 * (1 << 20))
    assert parse_size("500m") == 500 << 20
    assert parse_age("30d") == 30 * 86400
    assert parse_age("2w") == 14 * 86400
    assert parse_age("90") == 90


# -- the cache's own contract, imported directly: its layout and Cache.through -----------------


def test_layout_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = layout.Layout.at(tmp_path)
    assert [here.artifacts, here.locks, here.memo, here.wheels, here.resolved] == [
        tmp_path / n for n in ("artifacts", "locks", "memo", "wheels", "resolved")
    ]
    monkeypatch.setenv("DETZIP_CACHE_DIR", str(tmp_path / "env"))
    assert layout.Layout.at(None).root == tmp_path / "env"
    monkeypatch.delenv("DETZIP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert layout.default_cache_dir() == tmp_path / "xdg" / "detzip"


def _make(data: bytes) -> Any:
    def build(path: Path) -> WrittenZip:
        path.write_bytes(data)
        return WrittenZip(path, hashlib.sha256(data).hexdigest(), len(data), 0, 0)

    return build


def _artifacts(root: Path) -> ArtifactCache:
    cache = Cache(root).artifacts
    assert cache is not None
    return cache


def test_cache_through_builds_once_then_serves(tmp_path: Path) -> None:
    cache = _artifacts(tmp_path / "c")
    key = "1" * 64
    built = cache.through("fn", key, {"a": 1}, tmp_path / "one.zip", _make(b"zip bytes"))
    assert built.source is None and built.entry == cache.layout.artifact(f"fn-{key[:16]}")
    record = json.loads(built.entry.with_suffix(".json").read_bytes())
    assert record["sha256"] == hashlib.sha256(b"zip bytes").hexdigest()

    def never(path: Path) -> WrittenZip:
        raise AssertionError("a hit must not build")

    hit = cache.through("fn", key, {"a": 1}, tmp_path / "two.zip", never)
    assert hit.source == "local" and (tmp_path / "two.zip").read_bytes() == b"zip bytes"


def test_cache_never_serves_a_corrupt_entry(tmp_path: Path) -> None:
    cache = _artifacts(tmp_path / "c")
    key = "2" * 64
    first = cache.through("fn", key, {}, tmp_path / "a.zip", _make(b"good"))
    assert first.entry is not None
    first.entry.write_bytes(b"evil")
    again = cache.through("fn", key, {}, tmp_path / "b.zip", _make(b"good"))
    assert again.source is None and (tmp_path / "b.zip").read_bytes() == b"good"


def test_a_refused_zip_leaves_the_output_alone(tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    out.write_bytes(b"previous")

    def refuse(path: Path, record: Mapping[str, Any]) -> None:
        raise DetzipError("too big")

    with pytest.raises(DetzipError):
        _artifacts(tmp_path / "c").through("fn", "3" * 64, {}, out, _make(b"new"), refuse)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "out.zip"], "no temporary left"


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("linux", "home/.cache/detzip"),
        ("darwin", "home/Library/Caches/detzip"),
        ("win32", "appdata/detzip/Cache"),
    ],
)
def test_the_default_cache_folder_is_where_the_os_keeps_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str, expected: str
) -> None:
    """~/.cache on macOS and Windows is nowhere their tools look (or clean); the folders are
    platformdirs' choices. $XDG_CACHE_HOME, when set, wins on every OS."""
    import sys

    for name in ("DETZIP_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "appdata"))
    monkeypatch.setattr(sys, "platform", platform)
    assert layout.default_cache_dir() == tmp_path / expected
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert layout.default_cache_dir() == tmp_path / "xdg" / "detzip"
