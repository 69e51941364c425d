"""Against pip, with real packages from PyPI: the same files with the same bytes as
``pip install --target --no-compile`` for the target (except pip's own bookkeeping)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from detzip.api import build_layer
from detzip.deps.targets import Target

from .conftest import run_in_layer

pytestmark = [pytest.mark.network, pytest.mark.slow]

# binary wheels on both architectures, abi3 (charset-normalizer: mypyc), and pure ones
REQUIREMENTS = """\
pyyaml==6.0.2
markupsafe==3.0.2
msgpack==1.1.0
charset-normalizer==3.4.0
idna==3.10
six==1.16.0
"""
PIP_ONLY = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}


def _files_of_pip(root: Path) -> dict[str, tuple[bytes, bool]]:
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_dir() or rel.startswith("bin/"):
            continue
        if ".dist-info/" in rel and rel.rsplit("/", 1)[-1] in PIP_ONLY:
            continue
        found[rel] = (path.read_bytes(), bool(path.stat().st_mode & 0o111))
    return found


def _files_of_layer(layer: Path) -> dict[str, tuple[bytes, bool]]:
    found = {}
    with zipfile.ZipFile(layer) as archive:
        for info in archive.infolist():
            rel = info.filename.removeprefix("python/")
            if info.is_dir() or (".dist-info/" in rel and rel.rsplit("/", 1)[-1] in PIP_ONLY):
                continue
            found[rel] = (archive.read(info), bool((info.external_attr >> 16) & 0o111))
    return found


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_same_files_and_bytes_as_pip_install_target(tmp_path: Path, arch: str) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUIREMENTS)
    target = Target("python3.12", arch)
    pip_dir = tmp_path / "pip"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--target",
            str(pip_dir),
            *target.pip_arguments(),
            "-r",
            str(requirements),
        ],
        check=True,
        stdout=sys.stderr,
    )
    layer = build_layer(
        requirements,
        tmp_path / "layer.zip",
        runtime="python3.12",
        arch=arch,
        cache_dir=tmp_path / "cache",
    )
    ours, theirs = _files_of_layer(layer.path), _files_of_pip(pip_dir)
    assert sorted(ours) == sorted(theirs)
    different = [name for name in ours if ours[name][0] != theirs[name][0]]
    assert different == []
    assert [n for n in ours if ours[n][1] != theirs[n][1]] == []
    machine = "aarch64" if arch == "arm64" else "x86_64"
    assert any(name.endswith(f"{machine}-linux-gnu.so") for name in ours)


def test_binary_layer_imports_on_this_machine(tmp_path: Path) -> None:
    """Import check: a layer for this interpreter and platform, in a fresh isolated Python."""
    if os.uname().machine != "x86_64":
        pytest.skip("the layer is built for x86_64")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUIREMENTS)
    runtime = f"python3.{sys.version_info.minor}"
    layer = build_layer(requirements, tmp_path / "l.zip", runtime=runtime, cache_dir=tmp_path / "c")
    code = (
        "import yaml, markupsafe, msgpack, charset_normalizer, idna, six; "
        "import importlib.metadata as m; "
        "assert yaml.__with_libyaml__; "
        "assert msgpack.unpackb(msgpack.packb([1, 2])) == [1, 2]; "
        "print(m.version('pyyaml'), m.version('msgpack'), yaml.__file__)"
    )
    result = run_in_layer(layer.path, tmp_path, code)
    assert result.returncode == 0, result.stderr
    version, msgpack_version, location = result.stdout.split()
    assert (version, msgpack_version) == ("6.0.2", "1.1.0")
    assert location.startswith(str(tmp_path / "extracted"))


def test_unpinned_requirements_are_resolved_for_the_target(tmp_path: Path) -> None:
    """pip resolves for the *target*: arm64 gets aarch64 wheels although this is x86_64."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("requests>=2.32,<2.33\n")
    layer = build_layer(requirements, tmp_path / "l.zip", arch="arm64", cache_dir=tmp_path / "c")
    wheels = {p["name"]: p["wheel"] for p in layer.description["packages"]}
    assert {"requests", "urllib3", "idna", "certifi", "charset-normalizer"} <= set(wheels)
    assert "aarch64" in wheels["charset-normalizer"]
    again = build_layer(requirements, tmp_path / "l2.zip", arch="arm64", cache_dir=tmp_path / "c")
    assert again.sha256 == layer.sha256


def test_pure_python_sdist_is_built_into_a_wheel(tmp_path: Path) -> None:
    """A package with only an sdist (pure Python) is built with pip; the build backend comes
    from PyPI, so this is a network test."""
    import hashlib
    import io
    import tarfile

    files = {
        "puresd-1.0/pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n[project]\nname = "puresd"\nversion = "1.0"\n',
        "puresd-1.0/puresd/__init__.py": "ANSWER = 42\n",
        "puresd-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: puresd\nVersion: 1.0\n",
    }
    sdist = tmp_path / "puresd-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "t"\n\n[[packages]]\nname = "puresd"\nversion = "1.0"\n'
        f'[packages.sdist]\nname = "{sdist.name}"\nurl = "{sdist.as_uri()}"\n'
        f'hashes = {{sha256 = "{digest}"}}\n'
    )
    layer = build_layer(lock, tmp_path / "l.zip", cache_dir=tmp_path / "c")
    with zipfile.ZipFile(layer.path) as archive:
        assert archive.read("python/puresd/__init__.py") == b"ANSWER = 42\n"
        assert archive.read("python/puresd-1.0.dist-info/INSTALLER") == b"detzip\n"
    again = build_layer(lock, tmp_path / "l2.zip", cache_dir=tmp_path / "c")
    assert again.sha256 == layer.sha256  # the built wheel is remembered
    assert layer.built_from_source == ("puresd 1.0",)
    [package] = layer.description["packages"]
    assert package["built_from"]["sdist_sha256"] == digest
    assert any(r.startswith("setuptools==") for r in package["built_from"]["build_requires"])
    fresh = build_layer(lock, tmp_path / "l3.zip", cache_dir=tmp_path / "elsewhere")
    assert fresh.sha256 == layer.sha256  # built again from scratch: the same bytes
