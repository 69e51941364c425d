"""Packages built from their sdists (issue 31, items 14, 16, 17, 18): a pure build where the
lock's compiled wheels do not fit the target is said, not silent; a pinned requirements line
with no wheel is built from its sdist as a lock's is; a refusal says the real reason (the
compiler the build ran, the backend's last error, the glibc that rules a wheel out); a failed
build is remembered and refused at once the next time. Offline: every sdist and wheel is made
here."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from detzip import DetzipError, build_layer
from detzip.deps import pip
from detzip.deps.locks.model import LockedFile, Pin
from detzip.deps.resolution import choose
from detzip.deps.targets import Target

from .conftest import run_cli
from .test_layer_refusals import _sdist
from .wheelfactory import Wheel, sdist_tar, sha256_file

PY311 = Target("python3.11", "x86_64")

#: a backend that compiles its C file, as setuptools does: with the build's ``cc``
_COMPILING = """
import subprocess

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    flags = ["-Wsign-compare", "-DNDEBUG", "-g", "-fwrapv", "-O3", "-Wall", "-fPIC"] * 6
    subprocess.check_call(["cc", *flags, "-I/usr/include/python3.11", "-c", "fastc.c",
                           "-o", "build/temp.linux-x86_64-cpython-311/fastc.o"])
"""


def _compiling_sdist(folder: Path) -> Path:
    top = "fastc-1.0"
    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n',
        "backend.py": _COMPILING,
        "fastc.c": "int main(void) { return 0; }\n",
        "PKG-INFO": "Metadata-Version: 2.1\nName: fastc\nVersion: 1.0\n",
    }
    return sdist_tar(folder / f"{top}.tar.gz", top, files)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sdists")
    _sdist(folder, "puresrc", "1.0", "pure", [])  # starkbank-ecdsa's case: sdist only
    _sdist(folder, "speedups", "2.1", "optional-c", [])  # rapidfuzz's case: builds pure
    _sdist(folder, "fastlib", "3.0", "required-c", [])
    _compiling_sdist(folder)
    # the compiled wheels of speedups and fastlib need a newer glibc than python3.11's
    for name, version in (("speedups", "2.1"), ("fastlib", "3.0")):
        Wheel(name, version, "cp311-cp311-manylinux_2_28_x86_64",
              files={f"{name}/_speedups.so": b"\x7fELF"}).build(folder)  # fmt: skip
        Wheel(name, version, "cp312-cp312-manylinux_2_28_x86_64",
              files={f"{name}/_speedups.so": b"\x7fELF"}).build(folder)  # fmt: skip
    return folder


def _lock(sources: Path, tmp: Path, *names: str, wheels: bool = True) -> Path:
    """A pylock naming each package's sdist and (``wheels``) its compiled wheels."""
    lock = tmp / "pylock.toml"
    blocks = ['lock-version = "1.0"\nrequires-python = ">=3.10"\ncreated-by = "uv"\n']
    for name in names:
        [sdist] = sources.glob(f"{name}-*.tar.gz")
        version = sdist.name[len(name) + 1 : -len(".tar.gz")]
        block = (
            f'[[packages]]\nname = "{name}"\nversion = "{version}"\n[packages.sdist]\n'
            f'name = "{sdist.name}"\nurl = "{sdist.as_uri()}"\n'
            f'hashes = {{sha256 = "{sha256_file(sdist)}"}}\n'
        )
        for wheel in sorted(sources.glob(f"{name}-{version}-*.whl")) if wheels else []:
            block += (
                f'[[packages.wheels]]\nname = "{wheel.name}"\nurl = "{wheel.as_uri()}"\n'
                f'hashes = {{sha256 = "{sha256_file(wheel)}"}}\n'
            )
        blocks.append(block)
    lock.write_text("\n".join(blocks))
    return lock


def _cli(lock: Path, out: Path, sources: Path, cache: Path, *more: str) -> Any:
    return run_cli("layer", "-r", str(lock), "-o", str(out), "--runtime", "python3.11",
                   "--find-links", str(sources), "--no-index", "--cache-dir", str(cache),
                   *more, env={"DETZIP_CACHE": ""})  # fmt: skip


def _last(result: Any) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert not any(line.startswith("Traceback") for line in lines), result.stderr
    return str(lines[-1])


# -- 17: why no wheel fits: the glibc of the runtime, its Python ---------------------------------


def test_why_not_names_the_glibc_limit_and_the_runtimes_that_would_take_a_wheel() -> None:
    files = [f"rapidfuzz-3.14.5-cp3{m}-cp3{m}-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
             for m in (10, 11, 12, 13, 14)]  # fmt: skip
    why = PY311.why_not(files)
    assert why.startswith("its cp311 wheels need glibc 2.27 (manylinux_2_27)")
    assert "python3.11 has glibc 2.26" in why and "python3.12+ (glibc 2.34) would take one" in why
    other = Target("python3.13").why_not(["f-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"])
    assert other == "its wheels are for cp311, not cp313; python3.11 would take one"
    assert "aarch64" in Target("python3.12", "arm64").why_not(
        ["f-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"]
    )


def test_a_wheel_ruled_out_by_glibc_alone_is_not_called_a_lock_for_another_machine() -> None:
    files = tuple(LockedFile(f"fast-1.0-cp3{m}-cp3{m}-manylinux_2_28_x86_64.whl", None, "0" * 64)
                  for m in (11, 12))  # fmt: skip
    with pytest.raises(DetzipError) as raised:
        choose(Pin("fast", "1.0", files), PY311)
    message = str(raised.value)
    assert "need glibc 2.28 (manylinux_2_28) and python3.11 has glibc 2.26" in message
    assert "python3.12 (glibc 2.34) would take one" in message
    assert "another Python or machine" not in message
    assert "exclude_packages=['fast']" in message


# -- 14: a pure build where the lock's wheels are compiled is said -------------------------------


@pytest.mark.slow
def test_a_pure_build_that_drops_the_locks_compiled_wheels_warns(
    sources: Path, tmp_path: Path
) -> None:
    lock = _lock(sources, tmp_path, "speedups")
    result = _cli(lock, tmp_path / "l.zip", sources, tmp_path / "c", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["built_from_source"] == ["speedups 2.1"]
    warnings = [line for line in result.stderr.splitlines() if "detzip: warning:" in line]
    assert len(warnings) == 1, result.stderr
    [warning] = warnings
    assert warning.startswith("detzip: warning: speedups 2.1 was built from its sdist as pure")
    assert "its cp311 wheels need glibc 2.28" in warning and "python3.11 has glibc 2.26" in warning
    assert "python3.12 (glibc 2.34) would take one" in warning
    assert "extension modules) is not in the layer" in warning
    assert "--exclude-package speedups" in warning
    # an sdist-only package built as pure Python loses nothing: no warning
    (tmp_path / "q").mkdir()
    quiet = _cli(_lock(sources, tmp_path / "q", "puresrc"), tmp_path / "q.zip", sources,
                 tmp_path / "c")  # fmt: skip
    assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr


# -- 16: a pinned requirements line with no wheel: built from its sdist --------------------------


@pytest.mark.slow
def test_a_pinned_requirements_line_with_only_an_sdist_is_built_as_a_lock_is(
    sources: Path, tmp_path: Path
) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("puresrc==1.0\nspeedups==2.1\n")
    result = _cli(lock, tmp_path / "l.zip", sources, tmp_path / "c", "--json")
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout)
    assert built["built_from_source"] == ["puresrc 1.0", "speedups 2.1"]
    # speedups has cp311 wheels for glibc 2.28 on the index: what the pure build lost is said
    [warning] = [line for line in result.stderr.splitlines() if "detzip: warning:" in line]
    assert "speedups 2.1 was built from its sdist as pure Python" in warning
    assert "need glibc 2.28" in warning
    # the same set from a lock gives the same layer
    same = build_layer(_lock(sources, tmp_path, "puresrc", "speedups", wheels=False),
                       tmp_path / "p.zip", runtime="python3.11", find_links=[str(sources)],
                       no_index=True, cache_dir=tmp_path / "c2")  # fmt: skip
    assert same.sha256 == built["sha256"]


# -- 17: the real reason of a refusal ------------------------------------------------------------

_NETIFACES = """\
  error: subprocess-exited-with-error

  \u00d7 Building wheel for netifaces (pyproject.toml) did not run successfully.
  \u2502 exit code: 1
  \u2570\u2500> [5 lines of output]
      running build_ext
      building 'netifaces' extension
      /tmp/detzip-fetch-x/netifaces/no-compilers/cc -Wsign-compare -DNDEBUG -g -fwrapv -O3 \
-Wall -fPIC -DNETIFACES_VERSION=0.11.0 -I/work/main/.venv/include -c netifaces.c -o b/n.o
      detzip: no compiler (cc) in a Lambda build
      error: Command '['/tmp/detzip-fetch-x/netifaces/no-compilers/cc', '-Wsign-compare', \
'-DNDEBUG', '-g', '-c', 'netifaces.c', '-o', 'build/temp.linux-x86_64-cpython-311/n.o']' \
returned non-zero exit status 1.
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
  ERROR: Failed building wheel for netifaces
ERROR: Failed to build one or more wheels
"""

_CMAKE = """\
  \u2570\u2500> [9 lines of output]
      *** scikit-build-core 0.10.7 using CMake 3.30.5 (wheel)
      -- Configuring incomplete, errors occurred!
      CMake Error at CMakeLists.txt:12 (find_package):
        Could not find a package configuration file provided by "Arrow" with any
        of the following names: ArrowConfig.cmake

      *** CMake configuration failed
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
ERROR: Failed to build 'pyarrow' when building wheel for pyarrow
"""

_TRACEBACK = """\
  \u2570\u2500> [7 lines of output]
      Traceback (most recent call last):
        File "/pip/_in_process.py", line 389, in <module>
          main()
        File "<string>", line 34, in <module>
          import pkg_resources
      ModuleNotFoundError: No module named 'pkg_resources'
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
ERROR: Failed to build 'pyarrow' when getting requirements to build wheel
"""


def test_the_reason_of_a_failed_build_is_the_backends_not_pips_frame() -> None:
    assert pip.build_failure(_NETIFACES) == (
        "it runs cc to compile netifaces.c, and a Lambda build has no compiler"
    )
    cmake = pip.build_failure(_CMAKE)
    assert cmake.startswith("CMake Error at CMakeLists.txt:12 (find_package): Could not find")
    assert "ArrowConfig.cmake" in cmake and "end of output" not in cmake
    assert pip.build_failure(_TRACEBACK) == "ModuleNotFoundError: No module named 'pkg_resources'"
    # a long command line is cut to its program and sources, never mid-path
    said = pip.build_failure(
        _NETIFACES.replace("detzip: no compiler (cc) in a Lambda build", "").replace(
            "/tmp/detzip-fetch-x/netifaces/no-compilers/", "/usr/bin/"
        )
    )
    assert said == "error: Command 'cc … netifaces.c' returned non-zero exit status 1."


@pytest.mark.slow
def test_a_refusal_names_the_compiler_the_build_ran_and_the_glibc_limit(
    sources: Path, tmp_path: Path
) -> None:
    result = _cli(_lock(sources, tmp_path, "fastc"), tmp_path / "l.zip", sources, tmp_path / "c")
    last = _last(result)
    assert last.startswith("detzip: error: fastc 1.0 has no wheel for python3.11 x86_64 and")
    assert "(it runs cc to compile fastc.c, and a Lambda build has no compiler)" in last
    assert len(last) < 400
    glibc = _cli(_lock(sources, tmp_path, "fastlib"), tmp_path / "g.zip", sources, tmp_path / "c")
    last = _last(glibc)
    assert "has no wheel for python3.11 x86_64 — its cp311 wheels need glibc 2.28" in last
    assert "python3.12 (glibc 2.34) would take one — and its sdist does not build" in last
    assert "fastlib needs a C compiler" in last
    assert not (tmp_path / "l.zip").exists() and not (tmp_path / "g.zip").exists()


# -- 18: a failed build is remembered ------------------------------------------------------------


@pytest.mark.slow
def test_a_failed_build_is_remembered_and_refused_at_once(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = _lock(sources, tmp_path, "fastlib", wheels=False)
    cache = tmp_path / "c"
    options: dict[str, Any] = {"runtime": "python3.11", "find_links": [str(sources)],
                               "no_index": True, "cache_dir": cache}  # fmt: skip
    started = time.monotonic()
    with pytest.raises(DetzipError) as first:
        build_layer(lock, tmp_path / "a.zip", **options)
    cold = time.monotonic() - started
    [memo] = (cache / "failed-builds").glob("*.json")
    recorded = json.loads(memo.read_text())
    assert recorded["package"] == "fastlib 3.0" and "needs a C compiler" in recorded["why"]
    assert recorded["sdist_sha256"] == sha256_file(next(sources.glob("fastlib-*.tar.gz")))

    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip was run")

    monkeypatch.setattr(pip, "run", no_pip)
    started = time.monotonic()
    with pytest.raises(DetzipError) as again:
        build_layer(lock, tmp_path / "b.zip", **options)
    warm = time.monotonic() - started
    message = str(again.value)
    assert message.startswith(str(first.value).split(" (remembered")[0])
    assert "(remembered: this sdist failed to build on " in message
    assert f"to build it again, delete {memo})" in message
    assert warm < cold / 3, (warm, cold)
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "b.zip").exists()
    # deleting the memo builds it again
    monkeypatch.undo()
    memo.unlink()
    with pytest.raises(DetzipError) as retried:
        build_layer(lock, tmp_path / "c.zip", **options)
    assert "remembered" not in str(retried.value)
    # another environment (here: another target) is not refused from the memo
    with pytest.raises(DetzipError) as other:
        build_layer(lock, tmp_path / "d.zip", **{**options, "runtime": "python3.12"})
    assert "remembered" not in str(other.value)


def test_a_build_on_windows_finds_no_compiler_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows: setuptools looks for Visual C++ through the registry (vcvarsall.bat), not PATH,
    so the shims never stopped it and a native sdist compiled for minutes. setuptools' own
    Windows compiler code (importable anywhere) is the oracle: in the sealed environment it
    asks no registry and finds no cl.exe; each shim also exists as a batch file (PATHEXT)."""
    msvc = pytest.importorskip("setuptools._distutils._msvccompiler")
    from detzip.deps._pep517 import _COMPILERS, sealed

    env = sealed(tmp_path)
    for tool in _COMPILERS:
        text = (tmp_path / "no-compilers" / f"{tool}.cmd").read_text(encoding="utf-8")
        assert "exit /b 1" in text and "no compiler" in text
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def registry(*args: object) -> None:
        raise AssertionError("looked for Visual C++ in the registry")

    monkeypatch.setattr(msvc, "_find_vcvarsall", registry)
    vc_env = msvc._get_vc_env("x86_amd64")
    assert msvc._find_exe("cl.exe", vc_env["path"].split(os.pathsep)) == "cl.exe"  # not found
