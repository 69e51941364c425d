"""The builder (detzip.builder), through the front doors: an output never overwrites what the
build reads (a source file, the lock or a file it includes, the cache folder), and a function
gathers several source folders, each under its prefix, refusing a file two of them would put in
one place and a bad extra source at every door."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from detzip import build_function
from detzip.errors import DetzipError

from .conftest import (
    assert_one_line_error,
    make_tree,
    run_cli,
    run_extracted,
    two_source_folders,
)
from .wheelfactory import Repo, sha256_file


def _offline(repo: Repo, cache: Path) -> list[str]:
    """CLI flags for a python3.11 layer from the demo wheels only (offline)."""
    return ["--runtime", "python3.11", "--find-links", str(repo.folder), "--no-index",
            "--cache-dir", str(cache)]  # fmt: skip


# -- an output never overwrites what the build reads --------------------------------------------


def test_a_function_output_that_is_a_source_file_is_refused(handler_tree: Path) -> None:
    src = handler_tree
    before = (src / "app.py").read_bytes()
    result = run_cli("function", str(src), "-o", str(src / "app.py"))
    assert_one_line_error(result, str(src / "app.py"), "input")
    assert (src / "app.py").read_bytes() == before


def test_a_link_to_a_source_file_is_refused_and_a_zip_output_costs_no_link_resolving(
    handler_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An output that links to a file of the tree is that file: refused. An output that is no
    file yet, or a zip (an earlier output), is fine wherever it is: whether it lies in the tree
    (both paths' links resolved, a stat per folder) is not asked — a project's hundred hits
    do not pay for it."""
    from detzip import kinds

    src = handler_tree
    link = tmp_path / "out.zip"
    link.symlink_to(src / "app.py")
    before = (src / "app.py").read_bytes()
    result = run_cli("function", str(src), "-o", str(link))
    assert_one_line_error(result, str(link), "input")
    assert (src / "app.py").read_bytes() == before

    def resolving(path: Path) -> Path:
        raise AssertionError(f"resolved {path}")

    monkeypatch.setattr(kinds, "real", resolving)
    zipped = tmp_path / "f.zip"
    kinds._not_a_source_file(zipped, src)  # no output yet
    zipped.write_bytes(b"PK\x05\x06" + bytes(18))
    kinds._not_a_source_file(zipped, src)
    kinds._not_a_source_file(src / "old.zip", src)


def test_a_previous_output_inside_the_tree_is_still_fine(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    first = build_function(src, src / "build.zip", cache=False)
    again = build_function(src, src / "build.zip", cache=False)
    assert first.sha256 == again.sha256
    assert "build.zip" not in zipfile.ZipFile(src / "build.zip").namelist()


@pytest.mark.slow
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


# -- several source folders --------------------------------------------------------------------


def test_a_function_from_two_source_folders_at_every_front_door(tmp_path: Path) -> None:
    two_source_folders(tmp_path)
    extra = {"path": str(tmp_path / "libs/common"), "prefix": "common", "exclude": ["tests/"]}
    api = build_function(tmp_path / "functions/api", tmp_path / "api.zip", cache=False,
                         extra_sources=[extra], handler="app.handler")  # fmt: skip
    with zipfile.ZipFile(api.path) as archive:
        assert archive.namelist() == ["app.py", "common/__init__.py", "common/util.py"]
    assert (
        run_extracted(api.path, tmp_path, "import app; print(app.handler(1, 2))", root="") == "hi"
    )

    (tmp_path / "pyproject.toml").write_text(
        '[tool.detzip.functions.api]\nsource = "functions/api"\n'
        'extra_sources = [{path = "libs/common", prefix = "common", exclude = ["tests/"]}]\n'
    )
    built = run_cli("build", "--no-cache", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    query = {"kind": "function", "source": "functions/api", "output": "tf.zip",
             "extra_sources": json.dumps([{"path": "libs/common", "prefix": "common",
                                           "exclude": ["tests/"]}]), "cache": "false"}  # fmt: skip
    tf = run_cli("terraform", cwd=tmp_path, input=json.dumps(query))
    assert tf.returncode == 0, tf.stderr
    (tmp_path / "libs/common/.detzipignore").write_text("tests/\n")
    cli = run_cli("function", "functions/api", "--add-source", "libs/common=common", "-o",
                  "cli.zip", "--no-cache", cwd=tmp_path)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    zips = [p for p in tmp_path.rglob("*.zip") if p != api.path]
    assert len(zips) == 3, zips  # the project's, Terraform's and the command line's
    assert {sha256_file(p) for p in zips} == {api.sha256}


def test_two_source_folders_that_put_one_file_twice_are_refused(tmp_path: Path) -> None:
    two_source_folders(tmp_path)
    (tmp_path / "libs/common/app.py").write_text("x = 1\n")
    result = run_cli("function", "functions/api", "--add-source", "libs/common", "-o", "f.zip",
                     "--no-cache", cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, "app.py comes from both", "--add-source")
    assert not (tmp_path / "f.zip").exists()


@pytest.mark.parametrize(
    ("door", "value"),
    [("cli", ""), ("terraform", '[{"path": 5}'), ("terraform", '["a=b", 7]'),
     ("toml", '[{path = "fn", prefix = 7}]'), ("cli", "fn=../up"), ("cli", "fn=a/./b"),
     ("terraform", "fn=../up"), ("toml", '[{path = "fn", prefix = "../up"}]')],
)  # fmt: skip
def test_bad_extra_sources_are_one_line_errors(tmp_path: Path, door: str, value: str) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn/app.py").write_text("x = 1\n")
    if door == "cli":
        result = run_cli("function", "fn", "-o", "x.zip", "--no-cache", "--add-source", value,
                         cwd=tmp_path)  # fmt: skip
        needle = "--add-source"
    elif door == "terraform":
        query = {"kind": "function", "source": "fn", "output": "x.zip", "extra_sources": value}
        result = run_cli("terraform", cwd=tmp_path, input=json.dumps(query))
        needle = "extra_sources"
    else:
        (tmp_path / "detzip.toml").write_text(
            f'[functions.api]\nsource = "fn"\nextra_sources = {value}\n'
        )
        result = run_cli("build", "--no-cache", cwd=tmp_path)
        needle = "extra_sources"
    assert_one_line_error(result, needle)
    if "up" in value or "./" in value:  # the extra folder's own prefix, named as its option
        assert "the prefix" in result.stderr and "--prefix" not in result.stderr
    assert not (tmp_path / "x.zip").exists()


# -- the cyclic garbage collector is paused while a build runs ----------------------------------


def test_a_build_runs_without_the_cyclic_collector_and_puts_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree's walk and its zip make objects that live until the build ends: the collector
    only walked them again (a 200,000-file tree: 3.9 s → 6.0 s). Off while building, back after
    — also after a build that fails."""
    import gc

    from detzip.inputs import tree

    seen: list[bool] = []
    real = tree.collect

    def collect(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tree, "collect", collect)
    monkeypatch.setattr("detzip.inputs.walked.collect", collect)
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    assert gc.isenabled()
    build_function(src, tmp_path / "o.zip", cache=False)
    assert seen == [False] and gc.isenabled()
    with pytest.raises(DetzipError):
        build_function(tmp_path / "missing", tmp_path / "p.zip", cache=False)
    assert gc.isenabled()
    gc.disable()
    try:  # a caller that turned it off keeps it off
        build_function(src, tmp_path / "o.zip", cache=False)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_pause_nests_and_the_collector_returns_with_the_last_build() -> None:
    """Builds on threads share one pause: the collector is back when the last one ends, as it
    was when the first began."""
    import gc
    import threading

    from detzip._collector import paused

    inside, release = threading.Event(), threading.Event()

    def other_build() -> None:
        with paused():
            inside.set()
            release.wait(10)

    assert gc.isenabled()
    thread = threading.Thread(target=other_build)
    with paused():
        thread.start()
        assert inside.wait(10)
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other build still runs
    release.set()
    thread.join(10)
    assert gc.isenabled()
