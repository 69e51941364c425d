"""Lambda's size limits (detzip.limits): `detzip check`, `check_limits`, the check every build
runs, and external layers (ARNs detzip does not build) counted with their unzipped size."""

from __future__ import annotations

import json
import os
import struct
import time
import zipfile
from pathlib import Path

import pytest

from detzip import Cache, build_function
from detzip import limits as limits_module
from detzip.errors import DetzipError
from detzip.limits import (
    BASE64_REQUEST_LIMIT,
    DIRECT_UPLOAD_LIMIT,
    UNZIPPED_LIMIT,
    LimitExceeded,
    check_limits,
    contributor,
)

from .conftest import HANDLER, assert_one_line_error, make_tree, run_cli, run_cli_unprivileged


def small_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def lying_zip(path: Path, entries: int, claimed: int) -> Path:
    """A tiny zip whose central directory claims ``claimed`` bytes per entry (a zip bomb's
    numbers, without the bomb): checking it must cost nothing."""
    small_zip(path, {f"python/pkg{i}/blob.bin": b"x" for i in range(entries)})
    data = bytearray(path.read_bytes())
    offset = data.find(b"PK\x01\x02")
    while offset != -1:
        struct.pack_into("<I", data, offset + 24, claimed)  # uncompressed size
        offset = data.find(b"PK\x01\x02", offset + 46)
    path.write_bytes(bytes(data))
    return path


def zeros_zip(path: Path, entries: int, size: int) -> Path:
    """An honest zip whose ``entries`` members each hold ``size`` zero bytes (a zip bomb's
    numbers, true ones: ``detzip check`` inflates every member it counts)."""
    piece = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for i in range(entries):
            with archive.open(f"python/pkg{i}/blob.bin", "w", force_zip64=True) as member:
                for start in range(0, size, len(piece)):
                    member.write(piece[: min(len(piece), size - start)])
    return path


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree whose zip is over the direct-upload size (incompressible bytes, stored)."""
    root = tmp_path_factory.mktemp("big")
    make_tree(root, {"app.py": HANDLER})
    (root / "blob.bin").write_bytes(os.urandom(DIRECT_UPLOAD_LIMIT + 1000))
    return root


def test_within_limits(tmp_path: Path) -> None:
    fn = small_zip(tmp_path / "fn.zip", {"app.py": b"x" * 100, "lib/util.py": b"y" * 50})
    layer = small_zip(tmp_path / "layer.zip", {"python/requests/__init__.py": b"z" * 1000})
    result = run_cli("check", str(fn), "--layer", str(layer), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["unzipped_total"] == 1150
    assert {c["check"] for c in report["checks"]} == {
        "zipped size",
        "base64 request",
        "unzipped size",
        "layers",
    }
    unzipped = next(c for c in report["checks"] if c["check"] == "unzipped size")
    assert unzipped["headroom"] == UNZIPPED_LIMIT - 1150
    top = [(c["name"], c["unzipped_size"]) for c in report["top_contributors"]]
    assert top == [("requests/", 1000), ("app.py", 100), ("lib/", 50)]
    text = run_cli("check", str(fn), "--layer", str(layer))
    assert text.returncode == 0 and "requests/" in text.stdout and "OVER" not in text.stdout


def test_a_zip_lying_about_its_sizes_is_refused_at_once(tmp_path: Path) -> None:
    """A central directory that claims 4 GB per member for one stored byte: refused naming the
    first member, not counted (nor reported as over the limit from numbers that are false)."""
    bomb = lying_zip(tmp_path / "bomb.zip", entries=70, claimed=4_000_000_000)
    start = time.perf_counter()
    with pytest.raises(DetzipError, match=r"'python/pkg0/blob\.bin' is stored"):
        check_limits(bomb)
    assert time.perf_counter() - start < 5
    result = run_cli("check", str(bomb))
    assert_one_line_error(result, "bomb.zip", "'python/pkg0/blob.bin'", "rebuild it")


@pytest.mark.slow
def test_an_honest_zip_bomb_is_over_the_limit_after_inflating_at_most_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Members that truly hold 150 MiB each: past 262,144,000 checked bytes the zip is over
    whatever the rest hold; the rest are counted from the directory, not inflated."""
    from detzip.zip import members

    bomb = zeros_zip(tmp_path / "bomb.zip", entries=6, size=150 << 20)
    inflated: list[str] = []
    real = members.verify

    def counting(buffer: object, info: zipfile.ZipInfo, pieces: object) -> None:
        inflated.append(info.filename)
        real(buffer, info, pieces)  # type: ignore[arg-type]

    monkeypatch.setattr(members, "verify", counting)
    report = check_limits(bomb)
    assert not report.ok and report.unzipped_total == 6 * (150 << 20)
    assert len(inflated) == 2, inflated
    monkeypatch.undo()
    result = run_cli("check", str(bomb))
    assert result.returncode == 1 and "OVER  unzipped size" in result.stdout
    assert "pkg0/" in result.stdout  # top contributors name what to prune


@pytest.mark.slow
def test_function_and_layers_add_up(tmp_path: Path) -> None:
    fn = zeros_zip(tmp_path / "fn.zip", entries=1, size=100_000_000)
    layers = [zeros_zip(tmp_path / f"l{i}.zip", entries=1, size=81_000_000) for i in range(3)]
    assert check_limits(fn, layers[:2]).ok  # 262,000,000: just under
    report = check_limits(fn, layers)
    assert report.unzipped_total == 343_000_000
    over = [(c.name, c.subject) for c in report.checks if not c.ok]
    assert over == [("unzipped size", "function + layers")]


@pytest.mark.slow
def test_unzipped_limit_is_strict(tmp_path: Path) -> None:
    exact = zeros_zip(tmp_path / "exact.zip", entries=1, size=UNZIPPED_LIMIT)
    below = zeros_zip(tmp_path / "below.zip", entries=1, size=UNZIPPED_LIMIT - 1)
    assert not check_limits(exact).ok  # "must be smaller than 262144000 bytes"
    assert check_limits(below).ok


def test_more_than_five_layers(tmp_path: Path) -> None:
    fn = small_zip(tmp_path / "fn.zip", {"app.py": b"1"})
    layers = [small_zip(tmp_path / f"l{i}.zip", {f"python/p{i}.py": b"1"}) for i in range(6)]
    args = ["check", str(fn)] + [a for layer in layers for a in ("--layer", str(layer))]
    result = run_cli(*args, "--json")
    assert result.returncode == 1
    failed = [c for c in json.loads(result.stdout)["checks"] if not c["ok"]]
    assert [(c["check"], c["value"], c["limit"]) for c in failed] == [("layers", 6, 5)]
    assert run_cli(*args[:-2]).returncode == 0


def test_a_layer_listed_twice_is_refused_at_every_door(tmp_path: Path) -> None:
    """Lambda takes a layer once; listed twice it was counted twice against the limits (and
    the project's result named it twice for Terraform to pass on). Each door refuses it in its
    own words, with nothing written."""
    make_tree(tmp_path / "src", {"app.py": HANDLER})
    fn = small_zip(tmp_path / "fn.zip", {"app.py": b"1"})
    layer = small_zip(tmp_path / "l.zip", {"python/p.py": b"1"})
    arn = "arn:aws:lambda:eu-west-1:123456789012:layer:tools:3"
    check = run_cli("check", str(fn), "--layer", str(layer), "--layer", f"{tmp_path}/./l.zip")
    assert_one_line_error(check, "--layer lists", "twice; list each layer once")
    check = run_cli("check", str(fn), "--external-layer", f"{arn}=10",
                    "--external-layer", f"{arn}=20")  # fmt: skip
    assert_one_line_error(check, "--external-layer lists arn:", "twice")
    built = run_cli("function", str(tmp_path / "src"), "-o", str(tmp_path / "o.zip"),
                    "--layer", str(layer), "--layer", str(layer))  # fmt: skip
    assert_one_line_error(built, "--layer lists", "twice")
    query = {"kind": "function", "source": "src", "output": "q.zip", "layers": "l.zip\nl.zip"}
    done = run_cli("terraform", input=json.dumps(query), cwd=tmp_path)
    assert_one_line_error(done, "layers lists l.zip twice")
    with pytest.raises(DetzipError, match=r"external_layers lists arn:.* twice"):
        build_function(tmp_path / "src", tmp_path / "p.zip",
                       external_layers=[(arn, 1), (arn, 2)])  # fmt: skip
    (tmp_path / "r.txt").write_text("")
    (tmp_path / "detzip.toml").write_text(
        '[layers.deps]\nrequirements = "r.txt"\n'
        '[functions.api]\nsource = "src"\nlayers = ["deps", "deps"]\n'
    )
    project = run_cli("build", cwd=tmp_path)
    assert_one_line_error(project, "[functions.api] layers: 'deps' is listed twice")
    query = {"config": ".", "artifact": "api"}
    done = run_cli("terraform", input=json.dumps(query), cwd=tmp_path)
    assert_one_line_error(done, "'deps' is listed twice")
    assert not any((tmp_path / name).exists() for name in ("o.zip", "q.zip", "p.zip", ".build"))


def test_direct_upload_size_and_s3(big_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "big.zip"
    built = build_function(big_tree, out, compressor="store", cache=False)
    assert built.size > DIRECT_UPLOAD_LIMIT
    report = check_limits(out)
    failed = {c.name for c in report.checks if not c.ok}
    assert failed == {"zipped size", "base64 request"}
    base64 = next(c for c in report.checks if c.name == "base64 request")
    assert base64.value == 4 * -(-built.size // 3) and base64.limit == BASE64_REQUEST_LIMIT
    assert check_limits(out, upload="s3").ok
    assert run_cli("check", str(out)).returncode == 1
    s3 = run_cli("check", str(out), "--upload", "s3")
    assert s3.returncode == 0 and "through S3" in s3.stdout


def test_the_base64_ceiling_bites_just_below_the_raw_one() -> None:
    assert 4 * -(-DIRECT_UPLOAD_LIMIT // 3) >= BASE64_REQUEST_LIMIT
    assert 4 * -(-(DIRECT_UPLOAD_LIMIT - 2) // 3) < BASE64_REQUEST_LIMIT


@pytest.mark.parametrize("damage", ["not a zip", "truncated", "offset outside", "missing"])
def test_bad_zips_are_one_line_errors(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "x.zip"
    if damage == "not a zip":
        path.write_text("hello")
    elif damage == "truncated":
        small_zip(path, {"a.py": b"1" * 1000})
        path.write_bytes(path.read_bytes()[:-30])
    elif damage == "offset outside":
        small_zip(path, {"a.py": b"1" * 1000})
        data = bytearray(path.read_bytes())
        central = data.find(b"PK\x01\x02")
        struct.pack_into("<I", data, central + 42, central + 10)  # local header offset
        path.write_bytes(bytes(data))
    result = run_cli("check", str(path))
    assert_one_line_error(result, str(path))
    with pytest.raises(DetzipError):
        check_limits(path)


def test_contributors_look_through_layer_folders() -> None:
    assert contributor("python/boto3/session.py", "layer") == "boto3/"
    assert contributor("python/lib/python3.12/site-packages/numpy/core.so", "layer") == "numpy/"
    assert contributor("python/six.py", "layer") == "six.py"
    assert contributor("bin/tool", "layer") == "bin/"
    assert contributor("python/boto3/session.py", "function") == "python/"
    assert contributor("handler.py", "function") == "handler.py"


# -- builds check themselves ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_build_over_the_direct_size_warns(big_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "big.zip"
    args = ["function", str(big_tree), "-o", str(out), "--compressor", "store", "--no-cache"]
    warned = run_cli(*args)
    assert warned.returncode == 0 and out.is_file()
    lines = warned.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("detzip: warning: ")
    assert "--upload s3" in lines[0] and "blob.bin" in lines[0]
    quiet = run_cli(*args, "--upload", "s3")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_a_direct_upload_build_over_the_size_fails(big_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "big.zip"
    out.write_bytes(b"previous")
    result = run_cli(
        "function", str(big_tree), "-o", str(out), "--compressor", "store", "--no-cache",
        "--upload", "direct",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"detzip: error: {out}: ")
    assert "52,428,800" in result.stderr and "blob.bin" in result.stderr
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["big.zip"]


def test_a_build_over_the_unzipped_limit_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_tree(
        tmp_path / "src",
        {"app.py": "x = 1\n", "vendor/huge.bin": b"\0" * 30_000, "vendor/more.bin": b"\0" * 5000},
    )
    cache = Cache(tmp_path / "c")
    fits = build_function(src, tmp_path / "ok.zip", cache=cache)
    monkeypatch.setattr(limits_module, "UNZIPPED_LIMIT", 20_000)
    out = tmp_path / "fn.zip"
    out.write_bytes(b"previous")
    for attempt in ("miss", "hit"):
        with pytest.raises(LimitExceeded) as caught:
            build_function(src, out, cache=cache if attempt == "hit" else False)
        message = str(caught.value)
        assert message.startswith(f"{out}: unzips to {fits.unzipped_size:,} bytes")
        assert ("none was read" in message) == (attempt == "miss")  # a hit: the cached zip's
        assert "vendor/ 0.0 MB" in message and "\n" not in message
        assert out.read_bytes() == b"previous"
    assert not any(p.name.endswith(".detzip-tmp") for p in tmp_path.iterdir())


def _sparse_tree(root: Path, size: int = 3 << 30) -> Path:
    """A function whose tree holds a sparse file of ``size`` bytes (no disk used)."""
    make_tree(root, {"app.py": HANDLER})
    with open(root / "data.bin", "wb") as handle:
        handle.truncate(size)
    return root


@pytest.mark.parametrize("readable", [True, False], ids=["sparse", "unreadable"])
def test_a_tree_over_the_limit_is_refused_from_its_sizes_before_any_file_is_read(
    tmp_path: Path, readable: bool
) -> None:
    """A 3 GB file is not read and compressed whole (54 s and 6 GB of memory before): the sizes
    the walk saw already say no. Made unreadable, the file proves it is never opened: the
    refusal is the limit's, not a read error. Nothing reaches the cache."""
    src = _sparse_tree(tmp_path / "src")
    if not readable:
        (src / "data.bin").chmod(0)
    out = tmp_path / "fn.zip"
    out.write_bytes(b"previous")
    cache = tmp_path / "cache"
    args = ["function", str(src), "-o", str(out), "--cache-dir", str(cache)]
    result = run_cli(*args) if readable else run_cli_unprivileged(*args)
    assert result.returncode == 1, result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"{out}: unzips to 3,221,225,514 bytes" in result.stderr
    assert "none was read" in result.stderr and "data.bin 3221.2 MB" in result.stderr
    assert "--exclude" in result.stderr
    assert out.read_bytes() == b"previous"
    assert not list(cache.rglob("*.zip")) and not list(cache.rglob("*.json.*")), "nothing cached"


def test_a_zip_refused_by_a_limit_is_never_stored_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip whose size is known only once written (compressed size over the direct-upload
    limit) is checked before the cache keeps it."""
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n", "blob.bin": os.urandom(30_000)})
    monkeypatch.setattr(limits_module, "DIRECT_UPLOAD_LIMIT", 10_000)
    cache = Cache(tmp_path / "c")
    with pytest.raises(LimitExceeded):
        build_function(src, tmp_path / "fn.zip", cache=cache, upload="direct")
    assert not list((tmp_path / "c").rglob("*.zip"))
    built = build_function(src, tmp_path / "fn.zip", cache=cache, upload="s3")
    assert built.size > 10_000 and len(list((tmp_path / "c").rglob("*.zip"))) == 1


def test_bad_upload_value(tmp_path: Path) -> None:
    with pytest.raises(DetzipError, match="upload must be one of direct, s3"):
        build_function(make_tree(tmp_path / "s", {"a.py": "1"}), tmp_path / "a.zip", upload="ftp")


# -- layers detzip does not build count in the limits --------------------------------------------

POWERTOOLS = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3:7"


def test_external_layers_count_in_the_unzipped_total_and_the_layer_count(
    tmp_path: Path, handler_tree: Path
) -> None:
    src = handler_tree
    fits = build_function(src, tmp_path / "a.zip", external_layers=[
        {"arn": POWERTOOLS, "unzipped_size": 20_000_000}], cache=False)  # fmt: skip
    assert fits.ok and fits.unzipped_total == fits.unzipped_size + 20_000_000
    big = build_function(src, tmp_path / "b.zip", external_layers=[
        (POWERTOOLS, 262_200_000)], cache=False)  # fmt: skip
    assert not big.ok and "AWSLambdaPowertoolsPythonV3:7 262,200,000" in big.problems[0]
    many = [(f"{POWERTOOLS[:-1]}{i}", 1) for i in range(6)]
    six = build_function(src, tmp_path / "c.zip", external_layers=many, cache=False)
    assert six.problems == ("c uses 6 layers (6 of them external); Lambda allows 5",)
    over = run_cli("function", str(src), "-o", str(tmp_path / "d.zip"), "--external-layer",
                   f"{POWERTOOLS}=262200000")  # fmt: skip
    assert over.returncode == 1 and "262,144,000" in over.stderr
    bad = run_cli("function", str(src), "-o", str(tmp_path / "e.zip"), "--external-layer",
                  "arn:aws:lambda:x=lots")  # fmt: skip
    assert_one_line_error(bad, "--external-layer", "not a layer ARN with its unzipped size")


def test_external_layers_at_every_door(tmp_path: Path, handler_tree: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.detzip.functions.api]\nsource = "src"\nhandler = "app.handler"\n'
        f'external_layers = [{{arn = "{POWERTOOLS}", unzipped_size = 262200000}}]\n'
    )
    over = run_cli("build", cwd=tmp_path)
    assert over.returncode == 1 and "AWSLambdaPowertoolsPythonV3:7" in over.stdout + over.stderr
    query = {"kind": "function", "source": "src", "output": "q.zip",
             "external_layers": json.dumps([{"arn": POWERTOOLS, "unzipped_size": 1000}])}  # fmt: skip
    done = run_cli("terraform", input=json.dumps(query), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.detzip.functions.api]\nsource = "src"\nlayers = ["{POWERTOOLS}"]\n'
    )
    refused = run_cli("build", cwd=tmp_path)
    assert_one_line_error(refused, "is an ARN", "external_layers = [{arn", "unzipped_size")


def test_check_counts_external_layers_and_says_layer_counts_only_of_a_function(
    tmp_path: Path,
) -> None:
    layer = small_zip(tmp_path / "l.zip", {"python/x.py": b""})
    alone = run_cli("check", "--layer", str(layer), "--json")
    report = json.loads(alone.stdout)
    assert [c["check"] for c in report["checks"]] == ["zipped size", "base64 request",
                                                      "unzipped size"]  # fmt: skip
    assert "1 entry" in run_cli("check", "--layer", str(layer)).stdout
    function = small_zip(tmp_path / "f.zip", {"app.py": b""})
    over = run_cli("check", str(function), "--layer", str(layer), "--json",
                   "--external-layer", f"{POWERTOOLS}=262200000")  # fmt: skip
    report = json.loads(over.stdout)
    assert over.returncode == 1 and not report["ok"]
    assert report["external_layers"] == [{"arn": POWERTOOLS, "unzipped_size": 262_200_000}]
    assert {c["check"]: c["value"] for c in report["checks"]}["layers"] == 2
