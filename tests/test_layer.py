"""Layers from lock files, offline: wheels and locks are made by the tests (see wheelfactory)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest

from detzip import build_function, build_layer
from detzip.errors import DetzipError
from detzip.spelling import speller

from .conftest import assert_one_line_error, make_tree, run_cli, run_in_layer
from .wheelfactory import (
    Locked,
    Repo,
    Wheel,
    pylock_toml,
    sha256_file,
    simple_index,
)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def read(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


def test_layout_and_wheel_mapping(repo: Repo, tmp_path: Path, cache: Path) -> None:
    lock = repo.write("pylock", tmp_path)
    artifact = build_layer(lock, tmp_path / "layer.zip", cache_dir=cache)
    found = names(artifact.path)
    assert all(n.startswith("python/") for n in found)
    assert "python/alpha/__init__.py" in found
    assert "python/share/alpha/readme.txt" in found  # .data/data goes to the root, as pip does
    assert "python/native_lib.so" in found  # .data/platlib too
    assert not any("alpha-cli" in n or "/bin/" in n for n in found)  # scripts are not installed
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in found)  # default excludes
    assert "python/alpha/tests/test_alpha.py" in found
    assert "python/beta.py" not in found  # marker: python_version < 3.12
    assert "python/devtool.py" not in found  # dev group
    assert (
        read(artifact.path, "python/native/_ext.py")
        == b"TAG = 'cp312-cp312-manylinux_2_28_x86_64'\n"
    )
    assert read(artifact.path, "python/gamma.py") == b"ARCH = 'cp38-abi3-manylinux2014_x86_64'\n"
    assert read(artifact.path, "python/alpha-1.0.0.dist-info/INSTALLER") == b"detzip\n"
    with zipfile.ZipFile(artifact.path) as archive:
        mode = archive.getinfo("python/native_lib.so").external_attr >> 16
        assert mode == 0o100755
    packages = {p["name"]: p for p in artifact.description["packages"]}
    assert packages["native"]["wheel"] == "native-2.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    assert set(packages) == {"alpha", "gamma", "native"}


def test_record_lists_exactly_what_is_in_the_zip(repo: Repo, tmp_path: Path, cache: Path) -> None:
    artifact = build_layer(repo.write("pylock", tmp_path), tmp_path / "layer.zip", cache_dir=cache)
    with zipfile.ZipFile(artifact.path) as archive:
        for dist in ("alpha-1.0.0", "native-2.0", "gamma-3.1"):
            rows = list(
                csv.reader(io.StringIO(archive.read(f"python/{dist}.dist-info/RECORD").decode()))
            )
            listed = {row[0] for row in rows}
            present = {
                n.removeprefix("python/")
                for n in archive.namelist()
                if not n.endswith("/") and _belongs(n, dist, archive)
            }
            assert listed == present, dist
            for path, digest, size in rows:
                if path.endswith("RECORD"):
                    assert digest == size == ""
                    continue
                data = archive.read("python/" + path)
                expected = (
                    base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                )
                assert digest == f"sha256={expected}" and int(size) == len(data), path


def _belongs(name: str, dist: str, archive: zipfile.ZipFile) -> bool:
    top = name.removeprefix("python/").split("/")[0]
    project = dist.split("-")[0]
    return (
        top.startswith(project)
        or (project == "alpha" and top == "share")
        or (project == "native" and top == "native_lib.so")
    )


def test_members_are_copied_without_recompressing(repo: Repo, tmp_path: Path, cache: Path) -> None:
    artifact = build_layer(repo.write("pylock", tmp_path), tmp_path / "layer.zip", cache_dir=cache)
    wheel = next(w for w in repo.packages[0].wheels)
    with zipfile.ZipFile(wheel) as source:
        info = source.getinfo("alpha/data.json")
        raw_start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        raw = wheel.read_bytes()[raw_start : raw_start + info.compress_size]
    assert raw in artifact.path.read_bytes()
    with zipfile.ZipFile(artifact.path) as archive:
        assert archive.getinfo("python/alpha/data.json").compress_type == zipfile.ZIP_DEFLATED


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["requirements", "poetry", "pylock", "uv", "requirements-nohash"])
@pytest.mark.parametrize(
    ("runtime", "arch", "native_tag"),
    [
        ("python3.12", "x86_64", "cp312-cp312-manylinux_2_28_x86_64"),
        ("python3.11", "x86_64", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"),
        ("python3.12", "arm64", "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64"),
    ],
)
def test_same_bytes_whichever_format_carries_the_pins(
    repo: Repo,
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
    runtime: str,
    arch: str,
    native_tag: str,
) -> None:
    """The bytes depend on the resolved set and the target only, not on the lock format."""
    base = tmp_path_factory.mktemp("fmt")
    reference = build_layer(
        repo.write("pylock", base / "ref"),
        base / "ref.zip",
        runtime=runtime,
        arch=arch,
        cache_dir=base / "c1",
    )
    source = "requirements" if kind.startswith("requirements") else kind
    extra = {"hashes": False} if kind == "requirements-nohash" else {}
    lock = repo.write(source, base / kind, **extra)
    options = repo.find_links if source == "poetry" else {}
    artifact = build_layer(
        lock,
        base / "out.zip",
        runtime=runtime,
        arch=arch,
        cache_dir=base / "c2",
        **options,
    )
    wheels = {p["name"]: p["wheel"] for p in artifact.description["packages"]}
    assert wheels["native"] == f"native-2.0-{native_tag}.whl"
    assert ("beta" in wheels) == (runtime == "python3.11")
    assert artifact.sha256 == reference.sha256


@pytest.mark.slow
def test_cold_and_warm_store_in_other_directories(repo: Repo, tmp_path: Path) -> None:
    first = build_layer(
        repo.write("uv", tmp_path / "a"), tmp_path / "a" / "l.zip", cache_dir=tmp_path / "c"
    )
    warm = build_layer(
        repo.write("uv", tmp_path / "b" / "x"), tmp_path / "b" / "l.zip", cache_dir=tmp_path / "c"
    )
    cold = build_layer(
        repo.write("uv", tmp_path / "d"), tmp_path / "d" / "l.zip", cache_dir=tmp_path / "c2"
    )
    assert first.sha256 == warm.sha256 == cold.sha256


@pytest.mark.slow
def test_warm_store_needs_no_index(repo: Repo, tmp_path: Path) -> None:
    """Pins without hashes are remembered once pip chose them: no index is asked again."""
    import shutil

    wheels = tmp_path / "wheels"
    shutil.copytree(repo.folder, wheels)
    lock = Repo(wheels, repo.packages).write("requirements", tmp_path, hashes=False)
    cache = tmp_path / "c"
    first = build_layer(lock, tmp_path / "1.zip", cache_dir=cache)
    shutil.rmtree(wheels)  # nothing left for pip to find
    again = build_layer(lock, tmp_path / "2.zip", cache_dir=cache)
    assert again.sha256 == first.sha256
    with pytest.raises(DetzipError, match="pip failed"):
        build_layer(lock, tmp_path / "3.zip", cache_dir=tmp_path / "cold")


def test_groups_and_prefix(repo: Repo, tmp_path: Path, cache: Path) -> None:
    lock = repo.write("uv", tmp_path)
    with_dev = build_layer(lock, tmp_path / "dev.zip", groups=["dev"], prefix="", cache_dir=cache)
    assert "devtool.py" in names(with_dev.path)
    assert not any(n.startswith("python/") for n in names(with_dev.path))
    poetry = repo.write("poetry", tmp_path / "p")
    dev = build_layer(
        poetry, tmp_path / "pdev.zip", groups=["dev"], cache_dir=cache, **repo.find_links
    )
    assert "python/devtool.py" in names(dev.path)


@pytest.mark.slow
def test_pruning(repo: Repo, tmp_path: Path, cache: Path) -> None:
    lock = repo.write("pylock", tmp_path)
    pruned = build_layer(
        lock,
        tmp_path / "p.zip",
        exclude=["*/tests/", "*.json"],
        exclude_packages=["Gamma"],
        cache_dir=cache,
    )
    found = names(pruned.path)
    assert "python/alpha/tests/test_alpha.py" not in found and "python/alpha/data.json" not in found
    assert "python/gamma.py" not in found
    assert "gamma" not in {p["name"] for p in pruned.description["packages"]}
    # RECORD follows the pruning
    assert b"alpha/data.json" not in read(pruned.path, "python/alpha-1.0.0.dist-info/RECORD")
    kept = build_layer(lock, tmp_path / "k.zip", default_excludes=False, cache_dir=cache)
    assert "python/alpha/__pycache__/__init__.cpython-312.pyc" in names(kept.path)


def test_poetry_lock_versions(repo: Repo, tmp_path: Path, cache: Path) -> None:
    reference = build_layer(
        repo.write("pylock", tmp_path / "ref"), tmp_path / "ref.zip", cache_dir=cache
    )
    old = repo.write("poetry", tmp_path / "v1", lock_version="1.1")
    assert (
        build_layer(old, tmp_path / "v1.zip", cache_dir=cache, **repo.find_links).sha256
        == reference.sha256
    )
    # lock 2.0 records no groups: the roots come from pyproject.toml beside it
    v20 = repo.write("poetry", tmp_path / "v20", lock_version="2.0")
    with pytest.raises(DetzipError, match=r"pyproject\.toml"):
        build_layer(v20, tmp_path / "v20.zip", cache_dir=cache, **repo.find_links)
    (tmp_path / "v20" / "pyproject.toml").write_text(
        '[tool.poetry.dependencies]\npython = "^3.10"\nalpha = "*"\nnative = "*"\n'
        'beta = {version = "*", markers = "python_version < \'3.12\'"}\n'
        '[tool.poetry.group.dev.dependencies]\ndevtool = "*"\n'
    )
    v20_zip = build_layer(v20, tmp_path / "v20.zip", cache_dir=cache, **repo.find_links)
    assert v20_zip.sha256 == reference.sha256  # gamma comes in through alpha's dependencies


@pytest.mark.slow
def test_poetry_legacy_source_is_fetched_from_its_index(
    repo: Repo, tmp_path: Path, cache: Path
) -> None:
    index = simple_index(tmp_path / "index", [w for p in repo.packages for w in p.wheels])
    lock = repo.write("poetry", tmp_path / "legacy", source=index)
    reference = build_layer(
        repo.write("pylock", tmp_path / "ref"), tmp_path / "ref.zip", cache_dir=cache
    )
    artifact = build_layer(lock, tmp_path / "legacy.zip", cache_dir=tmp_path / "fresh")
    assert artifact.sha256 == reference.sha256


def test_poetry_unsupported_source_names_the_package(tmp_path: Path) -> None:
    lock = tmp_path / "poetry.lock"
    lock.write_text(
        '[[package]]\nname = "private-lib"\nversion = "1.0"\ngroups = ["main"]\nfiles = []\n\n'
        '[package.source]\ntype = "git"\nurl = "https://example.invalid/lib.git"\nreference = "main"\n\n'
        '[metadata]\nlock-version = "2.1"\n'
    )
    with pytest.raises(DetzipError, match=r"private-lib comes from git .*path dependency"):
        build_layer(lock, tmp_path / "x.zip", cache_dir=tmp_path / "c")
    assert not (tmp_path / "x.zip").exists()


def test_no_wheel_for_the_target(repo: Repo, tmp_path: Path, cache: Path) -> None:
    lock = repo.write("pylock", tmp_path)
    with pytest.raises(DetzipError) as err:
        build_layer(lock, tmp_path / "x.zip", runtime="python3.10", cache_dir=cache)
    message = str(err.value)
    assert "native 2.0 has no wheel for python3.10 x86_64" in message
    assert "exclude_packages=['native']" in message  # the API's words; the CLI's below
    assert "--exclude-package native" in err.value.render(speller("cli"))
    assert not (tmp_path / "x.zip").exists()


def test_hash_mismatch_is_refused(repo: Repo, tmp_path: Path, cache: Path) -> None:
    lock = repo.write("requirements", tmp_path)
    digest = sha256_file(repo.packages[0].wheels[0])
    lock.write_text(lock.read_text().replace(digest, "0" * 64))
    with pytest.raises(DetzipError, match=r"pip failed|does not list"):
        build_layer(lock, tmp_path / "x.zip", cache_dir=cache)


def test_wheel_escaping_the_layer_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    evil = Wheel("evil", "1.0", files={"../outside.py": "x"}).build(folder)
    (tmp_path / "pylock.toml").write_text(pylock_toml([Locked("evil", "1.0", [evil])]))
    with pytest.raises(DetzipError, match="outside the layer"):
        build_layer(tmp_path / "pylock.toml", tmp_path / "x.zip", cache_dir=tmp_path / "c")


def test_two_wheels_writing_one_path(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    one = Wheel("one", "1.0", files={"shared/util.py": "A"}).build(folder)
    two = Wheel("two", "1.0", files={"shared/util.py": "B"}).build(folder)
    (tmp_path / "pylock.toml").write_text(
        pylock_toml([Locked("one", "1.0", [one]), Locked("two", "1.0", [two])])
    )
    with pytest.raises(DetzipError) as err:
        build_layer(tmp_path / "pylock.toml", tmp_path / "x.zip", cache_dir=tmp_path / "c")
    assert "one-1.0-py3-none-any.whl" in str(err.value) and "two-1.0-py3-none-any.whl" in str(
        err.value
    )


def test_import_check(repo: Repo, tmp_path: Path, cache: Path) -> None:
    """A layer for this machine's Python imports in a fresh isolated interpreter."""
    runtime = f"python3.{sys.version_info.minor}"
    artifact = build_layer(
        repo.write("pylock", tmp_path), tmp_path / "l.zip", runtime=runtime, cache_dir=cache
    )
    result = run_in_layer(
        artifact.path,
        tmp_path,
        "import alpha, gamma, native, importlib.metadata as m; "
        "print(alpha.VERSION, m.version('alpha'), m.version('native'), native.TAG)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["1.0.0", "1.0.0", "2.0"]


@pytest.mark.slow
def test_cli_layer_and_function_with_requirements(repo: Repo, tmp_path: Path) -> None:
    lock = repo.write("uv", tmp_path)
    env = {"DETZIP_CACHE_DIR": str(tmp_path / "c")}
    result = run_cli("layer", "-r", str(lock), "-o", str(tmp_path / "l.zip"), "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (
        data["description"]["runtime"] == "python3.12" and len(data["description"]["packages"]) == 3
    )
    src = make_tree(tmp_path / "src", {"handler.py": "import alpha\n"})
    bundled = run_cli(
        "function", str(src), "-r", str(lock), "-o", str(tmp_path / "f.zip"), "--json", env=env
    )
    assert bundled.returncode == 0, bundled.stderr
    found = names(tmp_path / "f.zip")
    assert (
        "handler.py" in found
        and "alpha/__init__.py" in found
        and "python/alpha/__init__.py" not in found
    )
    api = build_function(src, tmp_path / "api.zip", requirements=lock, cache_dir=tmp_path / "c")
    assert api.sha256 == json.loads(bundled.stdout)["sha256"]


@pytest.mark.slow
def test_cli_errors(repo: Repo, tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli("layer", "-r", str(tmp_path / "none.txt"), "-o", str(tmp_path / "x.zip")),
        "none.txt",
    )
    (tmp_path / "deps.lock").write_text("")
    assert_one_line_error(
        run_cli("layer", "-r", str(tmp_path / "deps.lock"), "-o", str(tmp_path / "x.zip")),
        "--format",
    )
    bad = tmp_path / "requirements.txt"
    bad.write_text("alpha ==>1\n")
    assert_one_line_error(
        run_cli("layer", "-r", str(bad), "-o", str(tmp_path / "x.zip")), "requirements.txt:1"
    )
    bad.write_text("alpha===\n")
    assert_one_line_error(
        run_cli("layer", "-r", str(bad), "-o", str(tmp_path / "x.zip")), "no version"
    )
    lock = repo.write("pylock", tmp_path / "p")
    result = run_cli(
        "layer", "-r", str(lock), "-o", str(tmp_path / "x.zip"), "--runtime", "python2.7"
    )
    assert_one_line_error(result, "python2.7")
    assert not (tmp_path / "x.zip").exists()
