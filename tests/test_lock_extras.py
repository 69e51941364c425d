"""Extras in poetry 1.8 locks, and locks that are not what their name says (issue 31, items 13,
15 and 19).

A poetry lock 2.0 lists, under ``[package.extras]``, the names an extra brings — without markers,
and sometimes names the lock left out because they can never apply for its Python. Poetry itself
takes only the names from that list: what is installed, under which markers, is the package's
own ``[package.dependencies]`` entry (optional there), evaluated for the environment. The
fixtures are shaped as poetry 1.8.3 writes them (uvicorn 0.30, coverage 7.6); every wheel is
made here, offline, with the METADATA the real one declares.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

import pytest

from detzip import DetzipError, build_layer
from detzip.deps.locks.loading import detect_format, load
from detzip.deps.targets import Target

from .conftest import assert_one_line_error, run_cli
from .wheelfactory import Wheel, sha256_file

PY312 = Target("python3.12", "x86_64")
PY310 = Target("python3.10", "x86_64")

#: name → (version, Requires-Dist), as the real distributions declare them
PROJECTS: dict[str, tuple[str, list[str]]] = {
    "uvicorn": (
        "0.30.1",
        [
            "click>=7.0",
            "h11>=0.8",
            'typing-extensions>=4.0; python_version < "3.11"',
            'colorama>=0.4; sys_platform == "win32" and extra == "standard"',
            'httptools>=0.5.0; extra == "standard"',
            'uvloop!=0.15.0,!=0.15.1,>=0.14.0; (sys_platform != "win32" and (sys_platform != '
            '"cygwin" and platform_python_implementation != "PyPy")) and extra == "standard"',
        ],
    ),
    "click": ("8.1.7", ['colorama; platform_system == "Windows"']),
    "colorama": ("0.4.6", []),
    "h11": ("0.14.0", []),
    "httptools": ("0.6.1", []),
    "uvloop": ("0.19.0", []),
    "typing-extensions": ("4.12.2", []),
    "coverage": ("7.6.1", ['tomli; python_full_version <= "3.11.0a6" and extra == "toml"']),
    "tomli": ("2.0.1", []),
    "portalocker": ("2.10.1", ['pywin32>=226; platform_system == "Windows" and extra == "win"']),
}

# as poetry 1.8 writes them: optional entries carry the markers, the extras' lists do not
UVICORN_DEPS = (
    'click = ">=7.0"\n'
    'colorama = {version = ">=0.4", optional = true, markers = "sys_platform == \\"win32\\" and '
    'extra == \\"standard\\""}\n'
    'h11 = ">=0.8"\n'
    'httptools = {version = ">=0.5.0", optional = true, markers = "extra == \\"standard\\""}\n'
    'typing-extensions = {version = ">=4.0", markers = "python_version < \\"3.11\\""}\n'
    'uvloop = {version = ">=0.14.0,<0.15.0 || >0.15.0,<0.15.1 || >0.15.1", optional = true, '
    'markers = "(sys_platform != \\"win32\\" and sys_platform != \\"cygwin\\") and '
    'platform_python_implementation != \\"PyPy\\" and extra == \\"standard\\""}\n'
)
UVICORN_EXTRAS = 'standard = ["colorama (>=0.4)", "httptools (>=0.5.0)", "uvloop (>=0.14.0,!=0.15.0,!=0.15.1)"]\n'
# lock 2.0 for ^3.12: poetry drops coverage's tomli entry (and tomli) but keeps the extra's list
COVERAGE_312 = ("", 'toml = ["tomli"]\n')
# lock 2.0 for ^3.10: the entry is there, under its marker
COVERAGE_310 = (
    'tomli = {version = "*", optional = true, markers = "python_full_version <= \\"3.11.0a6\\" '
    'and extra == \\"toml\\""}\n',
    'toml = ["tomli"]\n',
)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("extras-wheels")
    for name, (version, requires) in PROJECTS.items():
        module = name.replace("-", "_")
        Wheel(name, version, files={f"{module}/__init__.py": f"NAME = {name!r}\n"},
              requires=requires).build(folder)  # fmt: skip
    return folder


def _files(folder: Path | None, name: str) -> str:
    """A package's ``files`` list: its wheel (from ``folder``), else a win_amd64-only one."""
    version = PROJECTS[name][0] if name in PROJECTS else "306"
    if folder is None or name not in PROJECTS:  # pywin32: Windows wheels only
        return (
            f'    {{file = "{name}-{version}-cp312-cp312-win_amd64.whl", hash = '
            f'"sha256:{"0" * 64}"}},\n'
        )
    wheel = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    return f'    {{file = "{wheel.name}", hash = "sha256:{sha256_file(wheel)}"}},\n'


def _package(folder: Path | None, name: str, deps: str = "", extras: str = "") -> str:
    version = PROJECTS[name][0] if name in PROJECTS else "306"
    block = (
        f'[[package]]\nname = "{name}"\nversion = "{version}"\ndescription = ""\n'
        f'optional = false\npython-versions = ">=3.8"\nfiles = [\n{_files(folder, name)}]\n'
    )
    if deps:
        block += f"\n[package.dependencies]\n{deps}"
    if extras:
        block += f"\n[package.extras]\n{extras}"
    return block


def _poetry_18(
    folder: Path | None, where: Path, *, python: str = "^3.12", roots: str = "", more: str = ""
) -> Path:
    """A poetry 1.8 project (lock-version 2.0: roots in pyproject.toml): uvicorn[standard] in
    main, coverage[toml] in the dev group; ``folder`` holds the wheels (None: reader tests)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "service"\nversion = "0.1.0"\ndescription = ""\n'
        'authors = ["A <a@example.com>"]\npackage-mode = false\n\n'
        f'[tool.poetry.dependencies]\npython = "{python}"\n'
        'uvicorn = {version = "^0.30", extras = ["standard"]}\n'
        f"{roots}\n"
        "[tool.poetry.group.dev.dependencies]\n"
        'coverage = {version = "^7.6", extras = ["toml"]}\n'
    )
    coverage = COVERAGE_312 if python == "^3.12" else COVERAGE_310
    packages = [
        _package(folder, "click",
                 'colorama = {version = "*", markers = "platform_system == \\"Windows\\""}\n'),
        _package(folder, "colorama"),
        _package(folder, "coverage", *coverage),
        _package(folder, "h11"),
        _package(folder, "httptools"),
        _package(folder, "uvicorn", UVICORN_DEPS, UVICORN_EXTRAS),
        _package(folder, "uvloop"),
        more,
    ]  # fmt: skip
    if python != "^3.12":
        packages += [_package(folder, "tomli"), _package(folder, "typing-extensions")]
    lock = where / "poetry.lock"
    lock.write_text(
        "# This file is automatically @generated by Poetry 1.8.3 and should not be changed by "
        "hand.\n\n" + "\n".join(p for p in packages if p)
        + f'\n[metadata]\nlock-version = "2.0"\npython-versions = "{python}"\n'
        'content-hash = "0123"\n'
    )  # fmt: skip
    return lock


def _names(pins: Any) -> set[str]:
    return {pin.name for pin in pins}


# -- 13: an extra's names follow the lock's own entries, markers included ---------------------


def test_an_extra_brings_only_the_entries_whose_markers_hold(tmp_path: Path) -> None:
    lock = _poetry_18(None, tmp_path)
    pins = load(lock, PY312).pins
    assert _names(pins) == {"uvicorn", "click", "h11", "httptools", "uvloop"}  # no colorama
    assert next(p for p in pins if p.name == "uvicorn").extras == {"standard"}


def test_a_windows_only_package_an_extra_names_is_not_asked_for_on_linux(tmp_path: Path) -> None:
    """Harmless for colorama (a pure wheel); for a package with Windows wheels only, taking it
    was a false refusal ('no wheel for python3.12')."""
    portalocker = _package(
        None, "portalocker",
        'pywin32 = {version = ">=226", optional = true, markers = "platform_system == '
        '\\"Windows\\" and extra == \\"win\\""}\n',
        'win = ["pywin32 (>=226)"]\n',
    ) + "\n" + _package(None, "pywin32")  # fmt: skip
    lock = _poetry_18(None, tmp_path, roots='portalocker = {version = "^2.10", extras = ["win"]}',
                      more=portalocker)  # fmt: skip
    pins = load(lock, PY312).pins
    assert "portalocker" in _names(pins) and "pywin32" not in _names(pins)


@pytest.mark.slow
def test_uvicorn_standard_builds_a_linux_layer_without_colorama(
    wheels: Path, tmp_path: Path
) -> None:
    lock = _poetry_18(wheels, tmp_path / "service")
    layer = build_layer(lock, tmp_path / "a.zip", runtime="python3.12", find_links=[str(wheels)],
                        no_index=True, cache_dir=tmp_path / "c")  # fmt: skip
    with zipfile.ZipFile(layer.path) as archive:
        tops = {n.split("/")[1] for n in archive.namelist() if n.endswith("/__init__.py")}
    assert tops == {"uvicorn", "click", "h11", "httptools", "uvloop"}


def test_an_extra_named_differently_cased_still_brings_its_entries(tmp_path: Path) -> None:
    """Extra names compare normalized (PEP 685), as poetry writes and reads them."""
    lock = _poetry_18(None, tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('["standard"]', '["Standard"]'))
    assert {"httptools", "uvloop"} <= _names(load(lock, PY312).pins)


def test_an_entry_an_extra_brings_that_the_lock_lacks_is_still_an_error(tmp_path: Path) -> None:
    """Never silently omit: an entry that applies to the target must be in the lock."""
    lock = _poetry_18(None, tmp_path)
    text = lock.read_text()
    start = text.index('[[package]]\nname = "httptools"')
    lock.write_text(text[:start] + text[text.index("[[package]]", start + 1) :])
    with pytest.raises(DetzipError, match="httptools is required but not in the lock"):
        load(lock, PY312)


# -- 15: names the lock left out because they cannot apply are not an error -------------------


def test_coverage_toml_in_a_lock_for_312_is_read_with_the_dev_group(tmp_path: Path) -> None:
    """poetry 1.8 left tomli (and coverage's entry for it) out of a lock for ^3.12, keeping
    'toml = ["tomli"]'; poetry installs from it, and so must detzip."""
    lock = _poetry_18(None, tmp_path)
    pins = load(lock, PY312, groups=["dev"]).pins
    assert "coverage" in _names(pins) and "tomli" not in _names(pins)


def test_coverage_toml_follows_the_entrys_marker_for_the_runtime(tmp_path: Path) -> None:
    lock = _poetry_18(None, tmp_path, python="^3.10")
    assert "tomli" in _names(load(lock, PY310, groups=["dev"]).pins)
    assert "tomli" not in _names(load(lock, PY312, groups=["dev"]).pins)


def test_coverage_toml_cli_builds_with_dev(wheels: Path, tmp_path: Path) -> None:
    lock = _poetry_18(wheels, tmp_path / "service")
    out = tmp_path / "layer.zip"
    result = run_cli("layer", "-r", str(lock), "-o", str(out), "--with", "dev", "--find-links",
                     str(wheels), "--no-index", "--cache-dir", str(tmp_path / "c"),
                     env={"DETZIP_CACHE": ""})  # fmt: skip
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as archive:
        assert any(n.startswith("python/coverage/") for n in archive.namelist())
        assert not any(n.startswith("python/tomli/") for n in archive.namelist())


# -- 19a: a file named like a PEP 751 lock that is not one ------------------------------------

PDM_LOCK = """\
# This file is @generated by PDM.
# It is not intended for manual editing.

[metadata]
groups = ["default"]
strategy = ["inherit_metadata"]
lock_version = "4.5.0"
content_hash = "sha256:5d5bd4c2e8a0c1f0b6ec4c6d4c3a5a9d0a2c4a1a8b5e8f1b0f5f9c6b8a7d6e5f4"

[[metadata.targets]]
requires_python = ">=3.12"

[[package]]
name = "idna"
version = "3.7"
requires_python = ">=3.5"
summary = "Internationalized Domain Names in Applications (IDNA)"
groups = ["default"]
files = [
    {file = "idna-3.7-py3-none-any.whl", hash = "sha256:82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0"},
    {file = "idna-3.7.tar.gz", hash = "sha256:028ff3aadf0609c1fd278d8ea3089299412a7a8b9bd005dd08b9f8285bcb5cfc"},
]
"""


def _layer(lock: Path, out: Path, *more: str) -> Any:
    return run_cli("layer", "-r", str(lock), "-o", str(out), "--no-index", "--cache-dir",
                   str(out.parent / "cache"), *more, env={"DETZIP_CACHE": ""})  # fmt: skip


def test_a_pdm_lock_named_pylock_says_what_it_is_and_what_to_do(tmp_path: Path) -> None:
    lock = tmp_path / "pylock.prod.toml"
    lock.write_text(PDM_LOCK)
    out = tmp_path / "layer.zip"
    result = _layer(lock, out)
    assert_one_line_error(result, str(lock), "not a PEP 751 lock", "looks like a pdm.lock",
                          "pdm export -f pylock -o pylock.toml")  # fmt: skip
    assert "lock-version ''" not in result.stderr
    assert not out.exists()


def test_a_pdm_lock_by_its_own_name_is_refused_with_the_export(tmp_path: Path) -> None:
    lock = tmp_path / "pdm.lock"
    lock.write_text(PDM_LOCK)
    with pytest.raises(DetzipError, match="PDM's own lock format"):
        detect_format(lock)
    result = _layer(lock, tmp_path / "layer.zip")
    assert_one_line_error(result, str(lock), "PDM's own lock format", "pdm export -f pylock")


@pytest.mark.parametrize(("kind", "name"), [("poetry", "poetry.lock"), ("uv", "uv.lock")])
def test_another_tools_lock_named_pylock_names_the_format_option(
    tmp_path: Path, kind: str, name: str
) -> None:
    lock = tmp_path / "pylock.toml"
    if kind == "poetry":
        lock.write_text('[[package]]\nname = "a"\nversion = "1"\n\n[metadata]\n'
                        'lock-version = "2.1"\npython-versions = ">=3.10"\n')  # fmt: skip
    else:
        lock.write_text('version = 1\nrequires-python = ">=3.10"\n\n[[package]]\nname = "a"\n'
                        'version = "1"\nsource = { editable = "." }\n')  # fmt: skip
    result = _layer(lock, tmp_path / "layer.zip")
    assert_one_line_error(result, f"looks like a {name}", f"--format {kind}")


# -- 19b: a uv workspace root that needs nothing ----------------------------------------------


def _workspace(where: Path, root_deps: str = "") -> Path:
    """A uv workspace whose virtual root depends on nothing; its members do."""
    where.mkdir(parents=True, exist_ok=True)
    lock = where / "uv.lock"
    lock.write_text(
        'version = 1\nrequires-python = ">=3.12"\n\n'
        '[manifest]\nmembers = [\n    "api",\n    "platform",\n    "worker",\n]\n\n'
        f'[[package]]\nname = "platform"\nversion = "0.1.0"\nsource = {{ virtual = "." }}\n'
        f"{root_deps}\n"
        '[[package]]\nname = "api"\nversion = "0.1.0"\nsource = { editable = "services/api" }\n'
        'dependencies = [\n    { name = "h11" },\n]\n\n'
        '[[package]]\nname = "worker"\nversion = "0.1.0"\n'
        'source = { editable = "services/worker" }\n'
        'dependencies = [\n    { name = "h11" },\n]\n\n'
        '[[package]]\nname = "h11"\nversion = "0.14.0"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        'wheels = [\n    { url = "https://files.pythonhosted.org/packages/h11-0.14.0-py3-none-any'
        f'.whl", hash = "sha256:{"0" * 64}" }},\n]\n'
    )
    return lock


def test_an_empty_workspace_root_warns_naming_the_members(tmp_path: Path) -> None:
    lock = _workspace(tmp_path / "repo")
    out = tmp_path / "layer.zip"
    result = _layer(lock, out)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("detzip: warning: "), result.stderr
    for needle in (str(lock), "workspace root platform needs no package", "--package api",
                   "api, worker"):  # fmt: skip
        assert needle in lines[0], (needle, lines[0])
    assert out.exists()


def test_no_warning_when_the_root_needs_something_or_is_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    needs = _workspace(tmp_path / "a", 'dependencies = [\n    { name = "h11" },\n]\n')
    alone = tmp_path / "b" / "uv.lock"
    alone.parent.mkdir()
    alone.write_text('version = 1\nrequires-python = ">=3.12"\n\n[[package]]\nname = "tool"\n'
                     'version = "0.1.0"\nsource = { virtual = "." }\n')  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="detzip"):
        assert _names(load(needs, PY312).pins) == {"h11"}
        assert load(alone, PY312).pins == ()
    assert caplog.records == []
