"""Local packages (detzip.deps.local): workspace members, path dependencies, local folders in
requirements and the project itself are built from their files by their own PEP 517 backend
(a function gathered from several source folders: test_builder).

Every project here builds with ``minibuild`` (tests/projects.py), a real PEP 517 backend that
pip installs into its isolated build environment from a wheelhouse made offline. For each
fixture: the layer imports with python3.11, two copies at other absolute paths (other mtimes,
another umask) give the same bytes, an edit reaches the layer, a touch rebuilds nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from detzip import DetzipError, build_function, build_layer
from detzip.cache import stats
from detzip.cache.local import Cache

from .conftest import assert_one_line_error, run_cli, run_extracted, two_source_folders
from .projects import package, wheelhouse
from .wheelfactory import sha256_file

WHEELS: dict[str, tuple[str, list[str]]] = {
    "idna": ("3.7", []),
    "certifi": ("2024.7.4", []),
    "h11": ("0.14.0", []),
}


@pytest.fixture(autouse=True)
def caching(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about what the cache holds: turn it on (the suite turns it off)."""
    monkeypatch.setenv("DETZIP_CACHE", "")


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wheelhouse(tmp_path_factory.mktemp("wheelhouse"), WHEELS)


def _offline(house: Path, cache: Path, **more: Any) -> dict[str, Any]:
    return {"runtime": "python3.11", "find_links": [str(house)], "no_index": True,
            "cache_dir": cache, **more}  # fmt: skip


def _layer_cli(
    lock: Path,
    out: Path,
    house: Path,
    *more: str,
    cache: Path | None = None,
    cwd: Path | None = None,
) -> Any:
    """``detzip layer`` for python3.11 from the wheelhouse only, as a user would type it."""
    cached = ["--cache-dir", str(cache)] if cache is not None else []
    return run_cli("layer", "-r", str(lock), "-o", str(out), "--runtime", "python3.11",
                   "--no-index", "--find-links", str(house), *cached, *more, cwd=cwd)  # fmt: skip


def _registry(house: Path, name: str, deps: str = "") -> str:
    version = WHEELS[name][0]
    wheel = house / f"{name}-{version}-py3-none-any.whl"
    return (
        f'[[package]]\nname = "{name}"\nversion = "{version}"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        + (f"dependencies = [{deps}]\n" if deps else "")
        + f'wheels = [\n    {{ url = "{wheel.as_uri()}", hash = "sha256:{sha256_file(wheel)}", '
        f"size = {wheel.stat().st_size} }},\n]\n"
    )


def uv_workspace(house: Path, repo: Path) -> Path:
    """uv's lock of a workspace: the service at the root (src/ layout), two members — common
    (src/ layout, needs models and idna) and models (flat layout, needs h11) — as uv writes it."""
    package(repo, "service", "0.1.0", dependencies=["common"],
            files={"service/__init__.py": "from common import hello\n"})  # fmt: skip
    package(repo / "packages/common", "common", "0.2.0", dependencies=["models", "idna"],
            files={"common/__init__.py": "from models import MODEL\n\ndef hello():\n"
                   "    return 'hello ' + MODEL\n"})  # fmt: skip
    package(repo / "packages/models", "models", "1.0.0", dependencies=["h11"], src_layout=False,
            files={"models/__init__.py": "MODEL = 'v1'\n"})  # fmt: skip
    (repo / "packages/models/README.md").write_text("models\n")
    blocks = [
        'version = 1\nrevision = 2\nrequires-python = ">=3.11"\n\n'
        '[manifest]\nmembers = [\n    "common",\n    "models",\n    "service",\n]\n',
        '[[package]]\nname = "common"\nversion = "0.2.0"\n'
        'source = { editable = "packages/common" }\n'
        'dependencies = [\n    { name = "idna" },\n    { name = "models" },\n]\n\n'
        "[package.metadata]\nrequires-dist = [\n"
        '    { name = "idna" },\n    { name = "models", editable = "packages/models" },\n]\n',
        _registry(house, "h11"),
        _registry(house, "idna"),
        '[[package]]\nname = "models"\nversion = "1.0.0"\n'
        'source = { editable = "packages/models" }\n'
        'dependencies = [\n    { name = "h11" },\n]\n',
        '[[package]]\nname = "service"\nversion = "0.1.0"\nsource = { editable = "." }\n'
        'dependencies = [\n    { name = "common" },\n]\n',
    ]
    lock = repo / "uv.lock"
    lock.write_text("\n".join(blocks))
    return lock


def _members(layer: Path) -> set[str]:
    with zipfile.ZipFile(layer) as archive:
        return {n.split("/")[1] for n in archive.namelist() if n.count("/") >= 2}


def _copy_elsewhere(source: Path, target: Path) -> Path:
    """The same checkout at another absolute path, every file with another mtime, and folders
    and files created under umask 077."""
    old = os.umask(0o077)
    try:
        shutil.copytree(source, target, copy_function=shutil.copyfile)
    finally:
        os.umask(old)
    for path in target.rglob("*"):
        os.utime(path, (1_234_567_890, 1_234_567_890))
    return target


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders pip is asked to build (``pip wheel``), in order."""
    from detzip.deps import pip

    built: list[str] = []
    real = pip.run

    def run(args: Any, **kw: Any) -> None:
        if args[0] == "wheel":
            built.append(Path(args[5]).name)  # wheel --no-deps --no-cache-dir --quiet SOURCE
        real(args, **kw)

    monkeypatch.setattr(pip, "run", run)
    return built


# -- uv workspace ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_uv_workspace_layer_has_its_members_built_and_importable(
    house: Path, tmp_path: Path
) -> None:
    lock = uv_workspace(house, tmp_path / "repo")
    layer = build_layer(lock, tmp_path / "l.zip", **_offline(house, tmp_path / "c"))
    assert _members(layer.path) >= {"common", "models", "idna", "h11"}
    assert "service" not in _members(layer.path)  # the root: only when asked
    assert run_extracted(layer.path, tmp_path, "import common; print(common.hello())") == "hello v1"
    assert set(layer.built_from_source) == {"common 0.2.0", "models 1.0.0"}
    with zipfile.ZipFile(layer.path) as archive:
        names = archive.namelist()
        installer = archive.read("python/common-0.2.0.dist-info/INSTALLER")
        record = archive.read("python/common-0.2.0.dist-info/RECORD").decode()
    assert installer == b"detzip\n"
    assert not any(n.endswith("direct_url.json") for n in names)
    assert "common/__init__.py,sha256=" in record
    assert not (tmp_path / "repo/packages/common/build").exists()  # built elsewhere


@pytest.mark.slow
def test_include_project_adds_the_root_and_refuses_a_virtual_one(
    house: Path, tmp_path: Path
) -> None:
    lock = uv_workspace(house, tmp_path / "repo")
    layer = build_layer(lock, tmp_path / "l.zip", include_project=True,
                        **_offline(house, tmp_path / "c"))  # fmt: skip
    assert "service" in _members(layer.path)
    assert (
        run_extracted(layer.path, tmp_path, "import service; print(service.hello())") == "hello v1"
    )
    member = build_layer(lock, tmp_path / "m.zip", package="common", include_project=True,
                         **_offline(house, tmp_path / "c"))  # fmt: skip
    assert {"common", "models"} <= _members(member.path)
    assert "service" not in _members(member.path)
    lock.write_text(lock.read_text().replace('source = { editable = "." }',
                                             'source = { virtual = "." }'))  # fmt: skip
    result = _layer_cli(lock, tmp_path / "v.zip", house, "--include-project", cache=tmp_path / "c")
    assert_one_line_error(result, "service", "virtual", "--include-project")


@pytest.mark.slow
def test_two_checkouts_give_the_same_bytes_a_touch_nothing_an_edit_a_new_layer(
    house: Path, tmp_path: Path, builds: list[str]
) -> None:
    one = uv_workspace(house, tmp_path / "one")
    two = _copy_elsewhere(tmp_path / "one", tmp_path / "elsewhere" / "two") / "uv.lock"
    a = build_layer(one, tmp_path / "a.zip", **_offline(house, tmp_path / "c1"))
    b = build_layer(two, tmp_path / "b.zip", **_offline(house, tmp_path / "c2"))
    assert a.key == b.key and a.sha256 == b.sha256
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert len(builds) == 4  # two members, built once per cache

    builds.clear()  # a touch: the same key, a hit, nothing built
    init = one.parent / "packages/common/src/common/__init__.py"
    os.utime(init, (2_000_000_000, 2_000_000_000))
    again = build_layer(one, tmp_path / "a2.zip", **_offline(house, tmp_path / "c1"))
    assert again.key == a.key and again.cache_hit and builds == []

    # an edit: a new layer with the new code; only the edited member is built again
    init.write_text(init.read_text().replace("'hello '", "'hi '"))
    edited = build_layer(one, tmp_path / "a3.zip", **_offline(house, tmp_path / "c1"))
    assert edited.key != a.key and not edited.cache_hit and len(builds) == 1
    assert run_extracted(edited.path, tmp_path, "import common; print(common.hello())") == "hi v1"
    # a wiped cache builds the same bytes again
    wiped = build_layer(one, tmp_path / "a4.zip", **_offline(house, tmp_path / "c3"))
    assert wiped.sha256 == edited.sha256


@pytest.mark.slow
def test_a_hit_checks_the_members_files_by_their_stat_and_sees_an_edit_of_the_same_size(
    house: Path, tmp_path: Path
) -> None:
    """A set with local packages is remembered with their files' digest: a hit stats the
    members' files (no walk, no lock reader, neither packaging nor pathspec), and an edit that
    keeps the size and the mtime is still seen (its ctime changed)."""
    lock = uv_workspace(house, tmp_path / "repo")
    time.sleep(2.1)  # past the stat memo's racy window: it may vouch for these files
    args = ["layer", "-r", str(lock), "-o", str(tmp_path / "l.zip"), "--runtime", "python3.11",
            "--no-index", "--find-links", str(house), "--cache-dir", str(tmp_path / "c"), "--json"]  # fmt: skip
    code = (
        f"import sys; from detzip.cli import main; code = main({args!r}); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'packaging', 'pathspec'}))"
    )
    env = {**os.environ, "DETZIP_CACHE": ""}

    def run() -> tuple[dict[str, Any], str]:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        *result, loaded = done.stdout.splitlines()
        return json.loads("\n".join(result)), loaded

    first, _ = run()
    assert not first["cache_hit"]
    hit, loaded = run()
    assert hit["cache_hit"] and hit["key"] == first["key"] and loaded == "[]"
    model = lock.parent / "packages/models/models/__init__.py"
    before = model.stat()
    model.write_text("MODEL = 'v2'\n")  # the same size
    os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime
    edited, _ = run()
    assert not edited["cache_hit"] and edited["key"] != first["key"]
    assert (
        run_extracted(Path(edited["path"]), tmp_path, "import models; print(models.MODEL)") == "v2"
    )


@pytest.mark.slow
def test_an_edit_after_the_key_is_computed_is_an_error_never_a_zip_under_the_old_key(
    house: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detzip.deps import resolution

    lock = uv_workspace(house, tmp_path / "repo")
    first = build_layer(lock, tmp_path / "1.zip", **_offline(house, tmp_path / "c"))
    shutil.rmtree(tmp_path / "c" / "artifacts")  # the next build: keyed from the memo, built
    model = lock.parent / "packages/models/models/__init__.py"
    real = resolution.resolve

    def edit_then_resolve(*args: Any, **kw: Any) -> Any:
        model.write_text("MODEL = 'v2'\n")
        return real(*args, **kw)

    monkeypatch.setattr(resolution, "resolve", edit_then_resolve)
    with pytest.raises(DetzipError, match="changed while the layer was being built; run again"):
        build_layer(lock, tmp_path / "2.zip", **_offline(house, tmp_path / "c"))
    assert not (tmp_path / "2.zip").exists() and not (tmp_path / "c" / "artifacts").exists()
    monkeypatch.setattr(resolution, "resolve", real)
    again = build_layer(lock, tmp_path / "2.zip", **_offline(house, tmp_path / "c"))
    assert again.key != first.key
    assert run_extracted(again.path, tmp_path, "import models; print(models.MODEL)") == "v2"


@pytest.mark.slow
def test_a_stat_memo_that_vouches_for_other_bytes_fails_once_then_is_forgotten(
    house: Path, tmp_path: Path
) -> None:
    lock = uv_workspace(house, tmp_path / "repo")
    time.sleep(2.1)  # past the racy window: the memo vouches for the members' files
    first = build_layer(lock, tmp_path / "1.zip", **_offline(house, tmp_path / "c"))
    models = lock.parent / "packages/models"
    for memo_file in (tmp_path / "c" / "stat-memo").glob("*.json"):
        memo = stats.read_memo(memo_file)
        tree = memo.get("tree") or {"dirs": [[""]]}
        if tree["dirs"][0][0] == str(models):
            memo["files"]["models/__init__.py"][5] = "0" * 64  # a digest of other bytes
            tree["items"] = [  # (and so the walk's items: their fingerprint is taken again)
                (n, x, "0" * 64 if n == "models/__init__.py" else sha, path, size)
                for n, x, sha, path, size in tree["items"]
            ]
            tree["fingerprint"] = None
            stats.write_memo(memo_file, memo)
            break
    else:
        raise AssertionError("no stat memo for the models member")
    with pytest.raises(DetzipError, match="changed during the build; run again"):
        build_layer(lock, tmp_path / "2.zip", **_offline(house, tmp_path / "c"))
    again = build_layer(lock, tmp_path / "2.zip", **_offline(house, tmp_path / "c"))
    assert again.key == first.key and again.cache_hit


@pytest.mark.slow
def test_build_debris_and_caches_in_a_member_do_not_change_the_layer(
    house: Path, tmp_path: Path, builds: list[str]
) -> None:
    lock = uv_workspace(house, tmp_path / "repo")
    a = build_layer(lock, tmp_path / "a.zip", **_offline(house, tmp_path / "c"))
    common = tmp_path / "repo/packages/common"
    for debris in ("build/lib/common/__init__.py", "dist/common-0.2.0.tar.gz",
                   "src/common.egg-info/PKG-INFO", "src/common/__pycache__/x.pyc",
                   ".git/HEAD", ".venv/pyvenv.cfg"):  # fmt: skip
        (common / debris).parent.mkdir(parents=True, exist_ok=True)
        (common / debris).write_text("stale\n")
    builds.clear()
    b = build_layer(lock, tmp_path / "b.zip", **_offline(house, tmp_path / "c"))
    assert b.key == a.key and b.cache_hit and builds == []


# -- poetry, pylock, requirements --------------------------------------------------------------


def _poetry_lock(house: Path, repo: Path) -> Path:
    """A poetry 2.x project with a path dependency (develop = true), as poetry 2.1 locks it."""
    package(repo, "api", "0.1.0", dependencies=["common"])
    package(repo / "libs/common", "common", "0.3.0", dependencies=["idna>=3"])
    idna = house / "idna-3.7-py3-none-any.whl"
    lock = repo / "poetry.lock"
    lock.write_text(
        "# This file is automatically @generated by Poetry 2.1.1 and should not be changed by "
        "hand.\n\n"
        '[[package]]\nname = "common"\nversion = "0.3.0"\ndescription = ""\noptional = false\n'
        'python-versions = ">=3.11"\ngroups = ["main"]\nfiles = []\ndevelop = true\n\n'
        '[package.dependencies]\nidna = ">=3"\n\n'
        '[package.source]\ntype = "directory"\nurl = "libs/common"\n\n'
        '[[package]]\nname = "idna"\nversion = "3.7"\ndescription = ""\noptional = false\n'
        'python-versions = ">=3.5"\ngroups = ["main"]\nfiles = [\n'
        f'    {{file = "{idna.name}", hash = "sha256:{sha256_file(idna)}"}},\n]\n\n'
        '[metadata]\nlock-version = "2.1"\npython-versions = ">=3.11"\ncontent-hash = "0"\n'
    )
    return lock


@pytest.mark.slow
def test_a_poetry_path_dependency_is_built(house: Path, tmp_path: Path) -> None:
    lock = _poetry_lock(house, tmp_path / "repo")
    layer = build_layer(lock, tmp_path / "l.zip", **_offline(house, tmp_path / "c"))
    assert _members(layer.path) == {"common", "common-0.3.0.dist-info", "idna",
                                    "idna-3.7.dist-info"}  # fmt: skip
    assert run_extracted(layer.path, tmp_path, "import common; print(common.NAME)") == "common"
    other = _copy_elsewhere(tmp_path / "repo", tmp_path / "b" / "repo") / "poetry.lock"
    again = build_layer(other, tmp_path / "l2.zip", **_offline(house, tmp_path / "c2"))
    assert again.sha256 == layer.sha256
    project = build_layer(lock, tmp_path / "p.zip", include_project=True,
                          **_offline(house, tmp_path / "c"))  # fmt: skip
    assert "api" in _members(project.path)


@pytest.mark.slow
def test_a_stale_lock_version_of_a_local_package_is_refused(house: Path, tmp_path: Path) -> None:
    lock = _poetry_lock(house, tmp_path / "repo")
    pyproject = tmp_path / "repo/libs/common/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"0.3.0"', '"0.4.0"'))
    out = tmp_path / "l.zip"
    with pytest.raises(DetzipError, match=r"lock says version 0\.3\.0.*builds common 0\.4\.0"):
        build_layer(lock, out, **_offline(house, tmp_path / "c"))
    assert not out.exists()


@pytest.mark.slow
def test_a_requirements_file_with_a_path_and_an_editable_line(house: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    package(repo / "libs/x", "libx", "1.0", dependencies=["certifi"])
    package(repo / "libs/y", "liby", "2.0", src_layout=False)
    deploy = repo / "deploy"
    deploy.mkdir()
    requirements = deploy / "requirements.txt"
    requirements.write_text(  # relative to the file, as uv pip compile writes them
        "# uv pip compile requirements.in\n../libs/x\n-e ../libs/y\ncertifi==2024.7.4\n"
    )
    layer = build_layer(requirements, tmp_path / "l.zip", **_offline(house, tmp_path / "c"))
    assert {"libx", "liby", "certifi"} <= _members(layer.path)
    code = "import libx, liby; print(libx.NAME, liby.NAME)"
    assert run_extracted(layer.path, tmp_path, code) == "libx liby"
    # from another working directory and another checkout: the same bytes
    other = _copy_elsewhere(repo, tmp_path / "z" / "repo") / "deploy" / "requirements.txt"
    result = _layer_cli(other, tmp_path / "l2.zip", house, cache=tmp_path / "c2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "l2.zip").read_bytes() == layer.path.read_bytes()
    # libx's own requirement must be met: leaving certifi out is refused, naming who needs it
    requirements.write_text("../libs/x\n-e ../libs/y\n")
    with pytest.raises(DetzipError, match=r"libx.*certifi|certifi.*libx"):
        build_layer(requirements, tmp_path / "l3.zip", **_offline(house, tmp_path / "c"))


@pytest.mark.slow
def test_a_pylock_directory_entry_is_built(house: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    package(repo / "libs/common", "common", "0.1.0")
    lock = repo / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\nrequires-python = ">=3.11"\ncreated-by = "uv"\n\n'
        '[[packages]]\nname = "common"\nversion = "0.1.0"\n'
        '[packages.directory]\npath = "libs/common"\neditable = true\n'
    )
    layer = build_layer(lock, tmp_path / "l.zip", **_offline(house, tmp_path / "c"))
    assert run_extracted(layer.path, tmp_path, "import common; print(common.NAME)") == "common"


# -- refused, naming what and why ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "needles"),
    [
        ("uv.lock", 'version = 1\nrequires-python = ">=3.11"\n\n[[package]]\nname = "app"\n'
         'version = "0.1.0"\nsource = { editable = "." }\ndependencies = [{ name = "lib" }]\n\n'
         '[[package]]\nname = "lib"\nversion = "1.0"\n'
         'source = { git = "https://example.com/lib.git?rev=v1#abc123" }\n',
         ["lib comes from git", "path dependency"]),
        ("poetry.lock", '[[package]]\nname = "lib"\nversion = "1.0"\ndescription = ""\n'
         'optional = false\npython-versions = "*"\ngroups = ["main"]\nfiles = []\n\n'
         '[package.source]\ntype = "git"\nurl = "https://example.com/lib.git"\n'
         'reference = "main"\nresolved_reference = "abc123"\n\n[metadata]\n'
         'lock-version = "2.1"\npython-versions = ">=3.11"\ncontent-hash = "0"\n',
         ["lib comes from git", "path dependency"]),
        ("requirements.txt", "git+https://example.com/lib.git@abc123#egg=lib\n",
         ["not a local folder", "VCS"]),
        ("requirements.txt", "lib @ git+https://example.com/lib.git@abc123\n",
         ["lib", "git+https", "direct links to wheels"]),
        ("requirements.txt", "./nosuch\n", ["requirements.txt:1", "not a folder", "nosuch"]),
        ("requirements.txt", "./wheels/lib-1.0-py3-none-any.whl\n",
         ["local file", "--find-links"]),
        ("requirements.txt", "./libs/x\nidna>=3\n", ["local packages and lines that are not "
                                                         "pinned", "uv pip compile"]),
    ],
)  # fmt: skip
def test_what_cannot_be_built_is_refused(
    house: Path, tmp_path: Path, kind: str, text: str, needles: list[str]
) -> None:
    package(tmp_path / "libs/x", "libx", "1.0")
    lock = tmp_path / kind
    lock.write_text(text)
    out = tmp_path / "l.zip"
    result = _layer_cli(lock, out, house, cache=tmp_path / "c")
    assert_one_line_error(result, *needles)
    assert not out.exists()


def test_a_version_from_vcs_tags_is_refused(house: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    package(repo / "libs/x", "libx", "1.0")
    pyproject = repo / "libs/x/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('["minibuild>=1"]',
                                                       '["minibuild>=1", "setuptools-scm>=8"]'))  # fmt: skip
    (repo / "requirements.txt").write_text("./libs/x\n")
    with pytest.raises(DetzipError, match=r"version from VCS metadata \(setuptools-scm\)"):
        build_layer(repo / "requirements.txt", tmp_path / "l.zip",
                    **_offline(house, tmp_path / "c"))  # fmt: skip


# -- functions: the project itself ------------------------------------------------------------


@pytest.mark.slow
def test_a_src_layout_project_is_installed_into_a_function_zip(house: Path, tmp_path: Path) -> None:
    project = tmp_path / "svc"
    package(project, "svc", "1.2.0", dependencies=["idna"],
            files={"svc/__init__.py": "", "svc/core.py": "def answer():\n    return 42\n"})  # fmt: skip
    (project / "handlers").mkdir()
    (project / "handlers/app.py").write_text(
        "from svc.core import answer\n\ndef handler(event, context):\n    return answer()\n"
    )
    zipped = build_function(project / "handlers", tmp_path / "f.zip",
                            requirements=project / "pyproject.toml", runtime="python3.11",
                            include_project=True, find_links=[str(house)], no_index=True,
                            cache_dir=tmp_path / "c", handler="app.handler")  # fmt: skip
    with zipfile.ZipFile(zipped.path) as archive:
        names = set(archive.namelist())
    assert {"app.py", "svc/core.py", "svc-1.2.0.dist-info/METADATA", "idna/__init__.py"} <= names
    code = "import app; print(app.handler(None, None))"
    assert run_extracted(zipped.path, tmp_path, code, root="") == "42"
    result = run_cli("function", str(project / "handlers"), "-o", str(tmp_path / "g.zip"),
                     "-r", str(project / "pyproject.toml"), "--include-project", "--runtime",
                     "python3.11", "--no-index", "--find-links", str(house), "--cache-dir",
                     str(tmp_path / "c"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "g.zip").read_bytes() == zipped.path.read_bytes()


# -- a real backend from PyPI: the bundled uv workspace, built with hatchling --------------------


@pytest.mark.slow
@pytest.mark.network
def test_the_example_monorepo_builds_reproducibly_with_hatchling(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "monorepo"
    one = shutil.copytree(example, tmp_path / "one")
    two = _copy_elsewhere(example, tmp_path / "deep" / "two")
    built = []
    for n, repo in enumerate((one, two)):
        built.append(build_function(repo / "functions/api", tmp_path / f"api{n}.zip",
                                    requirements=repo / "uv.lock", runtime="python3.11",
                                    include_project=True, cache_dir=tmp_path / f"c{n}",
                                    handler="app.handler"))  # fmt: skip
    assert built[0].sha256 == built[1].sha256 and built[0].key == built[1].key
    code = "import app; print(app.handler({'name': 'bücher'}, None)['message'])"
    assert run_extracted(built[0].path, tmp_path, code, root="") == "hello xn--bcher-kva"
    assert set(built[0].built_from_source) == {"api 0.1.0", "common 0.2.0", "models 1.0.0"}


@pytest.mark.slow
def test_local_lines_with_extras_and_file_urls(house: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    package(repo / "libs/x", "libx", "1.0", extras={"net": ["idna"]})
    package(repo / "libs/y", "liby", "2.0")
    requirements = repo / "requirements.txt"
    requirements.write_text(f"./libs/x[net]\nliby @ {(repo / 'libs/y').as_uri()}\nidna==3.7\n")
    layer = build_layer(requirements, tmp_path / "l.zip", **_offline(house, tmp_path / "c"))
    assert {"libx", "liby", "idna"} <= _members(layer.path)
    requirements.write_text(f"./libs/x[net]\nliby @ {(repo / 'libs/y').as_uri()}\n")
    with pytest.raises(DetzipError, match=r"idna"):  # the extra's requirement must be met
        build_layer(requirements, tmp_path / "l2.zip", **_offline(house, tmp_path / "c"))


def test_include_project_needs_a_package_to_install(house: Path, tmp_path: Path) -> None:
    lock = _poetry_lock(house, tmp_path / "repo")
    pyproject = tmp_path / "repo/pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.poetry]\npackage-mode = false\n")
    result = _layer_cli(lock, tmp_path / "l.zip", house, "--include-project", cache=tmp_path / "c")
    assert_one_line_error(result, "package-mode = false", "--include-project")
    query = {"kind": "layer", "requirements": str(lock), "output": str(tmp_path / "t.zip"),
             "include_project": "true", "runtime": "python3.11", "no_index": "true",
             "find_links": str(house)}  # fmt: skip
    tf = run_cli("terraform", input=json.dumps(query))
    assert_one_line_error(tf, "package-mode = false", 'include_project = "true"')


# -- for each fixture: two checkouts, a touch, an edit -------------------------------------------


def _poetry_fixture(house: Path, root: Path) -> tuple[Any, str]:
    lock = _poetry_lock(house, root)
    return (lambda r, out, c: build_layer(r / lock.name, out, **_offline(house, c))), (
        "libs/common/src/common/__init__.py"
    )


def _requirements_fixture(house: Path, root: Path) -> tuple[Any, str]:
    package(root / "libs/x", "libx", "1.0")
    package(root / "libs/y", "liby", "2.0", src_layout=False)
    (root / "requirements.txt").write_text("./libs/x\n-e ./libs/y\n")
    return (lambda r, out, c: build_layer(r / "requirements.txt", out, **_offline(house, c))), (
        "libs/y/liby/__init__.py"
    )


def _pylock_fixture(house: Path, root: Path) -> tuple[Any, str]:
    package(root / "libs/common", "common", "0.1.0")
    (root / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "pip"\n\n[[packages]]\nname = "common"\n'
        'version = "0.1.0"\n[packages.directory]\npath = "libs/common"\n'
    )
    return (lambda r, out, c: build_layer(r / "pylock.toml", out, **_offline(house, c))), (
        "libs/common/src/common/__init__.py"
    )


def _project_function_fixture(house: Path, root: Path) -> tuple[Any, str]:
    package(root, "svc", "1.2.0", files={"svc/__init__.py": "X = 1\n"})
    (root / "handlers").mkdir()
    (root / "handlers/app.py").write_text("import svc\n\ndef handler(e, c):\n    return svc.X\n")

    def build(r: Path, out: Path, c: Path) -> Any:
        return build_function(r / "handlers", out, requirements=r / "pyproject.toml",
                              include_project=True, handler="app.handler",
                              **_offline(house, c))  # fmt: skip

    return build, "src/svc/__init__.py"


def _two_folders_fixture(house: Path, root: Path) -> tuple[Any, str]:
    two_source_folders(root)

    def build(r: Path, out: Path, c: Path) -> Any:
        extra = {"path": str(r / "libs/common"), "prefix": "common"}
        return build_function(r / "functions/api", out, extra_sources=[extra],
                              cache=Cache(c))  # fmt: skip

    return build, "libs/common/util.py"


@pytest.mark.slow
@pytest.mark.parametrize(
    "fixture",
    [_poetry_fixture, _requirements_fixture, _pylock_fixture, _project_function_fixture,
     _two_folders_fixture],
    ids=["poetry-path", "requirements-paths", "pylock-directory", "project-in-function",
         "two-folders"],
)  # fmt: skip
def test_each_fixture_is_reproducible_across_checkouts_touches_and_edits(
    house: Path, tmp_path: Path, fixture: Any
) -> None:
    build, edited = fixture(house, tmp_path / "one")
    two = _copy_elsewhere(tmp_path / "one", tmp_path / "deep" / "er" / "two")
    a = build(tmp_path / "one", tmp_path / "a.zip", tmp_path / "c1")
    b = build(two, tmp_path / "b.zip", tmp_path / "c2")
    assert a.key == b.key and (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    path = tmp_path / "one" / edited
    os.utime(path, (2_100_000_000, 2_100_000_000))
    touched = build(tmp_path / "one", tmp_path / "t.zip", tmp_path / "c1")
    assert touched.key == a.key and touched.cache_hit
    path.write_text(path.read_text() + "EDITED = True\n")
    changed = build(tmp_path / "one", tmp_path / "e.zip", tmp_path / "c1")
    assert changed.key != a.key and not changed.cache_hit
    with zipfile.ZipFile(changed.path) as archive:
        assert any(b"EDITED = True" in archive.read(n) for n in archive.namelist()
                   if n.endswith(".py"))  # fmt: skip


# -- hostile input: one line, exit 2, nothing written ---------------------------------------------


@pytest.mark.parametrize(
    ("lines", "needles"),
    [
        ("./libs/x --hash=sha256:" + "0" * 64 + "\n", ["no hash to check", "--hash"]),
        pytest.param(
            f"foo @ file:{'/' * 3}LIBS/x\n",
            ["named foo", "builds libx", "fix the name"],
            marks=pytest.mark.slow,
        ),  # builds libx to read its name
        ("file://otherhost/libs/x\n", ["another host", "otherhost"]),
        ("./libs/x ; python_version >= '3.8' and\n", ["invalid marker"]),
    ],
)
def test_bad_local_lines_are_one_line_errors(
    house: Path, tmp_path: Path, lines: str, needles: list[str]
) -> None:
    package(tmp_path / "libs/x", "libx", "1.0")
    lock = tmp_path / "requirements.txt"
    lock.write_text(lines.replace("LIBS", str(tmp_path / "libs").lstrip("/")))
    out = tmp_path / "l.zip"
    result = _layer_cli(lock, out, house, cache=tmp_path / "c")
    assert_one_line_error(result, *needles)
    assert not out.exists()


@pytest.mark.slow
def test_markers_egg_fragments_and_a_function_ignore_file_on_local_lines(
    house: Path, tmp_path: Path
) -> None:
    package(tmp_path / "libs/x", "libx", "1.0",
            files={"libx/__init__.py": "", "libx/data.json": "{}"})  # fmt: skip
    package(tmp_path / "libs/y", "liby", "1.0")
    (tmp_path / "libs/x/.detzipignore").write_text("*.json\npyproject.toml\n")  # a function's
    (tmp_path / "requirements.txt").write_text(
        "./libs/x ; python_version >= '3.8'\n-e ./libs/y#egg=liby\n"
        "./libs/nosuch ; python_version < '3'\n"
    )
    layer = build_layer(tmp_path / "requirements.txt", tmp_path / "l.zip",
                        **_offline(house, tmp_path / "c"))  # fmt: skip
    with zipfile.ZipFile(layer.path) as archive:
        names = archive.namelist()
    assert "python/libx/data.json" in names and "python/liby/__init__.py" in names


def test_include_project_with_a_pyproject_of_the_wrong_shape(house: Path, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("idna==3.7\n")
    (tmp_path / "pyproject.toml").write_text("project = 'x'\n")
    lock = tmp_path / "requirements.txt"
    result = _layer_cli(lock, tmp_path / "l.zip", house, "--include-project")
    assert_one_line_error(result, "pyproject.toml", "must be tables", "--include-project")


@pytest.mark.slow
def test_an_extra_a_local_package_does_not_declare_is_refused(house: Path, tmp_path: Path) -> None:
    package(tmp_path / "libs/x", "libx", "1.0", extras={"net": ["idna"]})
    lock = tmp_path / "requirements.txt"
    lock.write_text("./libs/x[net]\nidna==3.7\n")
    assert _layer_cli(lock, tmp_path / "a.zip", house, cache=tmp_path / "c").returncode == 0
    lock.write_text("./libs/x[nope]\nidna==3.7\n")  # a hit by key: the extra is still checked
    result = _layer_cli(lock, tmp_path / "b.zip", house, cache=tmp_path / "c")
    assert_one_line_error(result, "libx", "has no extra nope", "declares net")
    assert not (tmp_path / "b.zip").exists()


def _git(cwd: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@t.invalid", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t.invalid")  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not on PATH")
def test_a_crlf_checkout_builds_the_members_from_the_committed_bytes(
    house: Path, tmp_path: Path, builds: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Git for Windows checks the workspace out with CRLF: the members are built from the bytes
    git stores, so the layer (and its key) is the LF checkout's — the CRLF never reaches a
    built wheel."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    uv_workspace(house, tmp_path / "origin")
    _git(tmp_path / "origin", "init", "-q")
    _git(tmp_path / "origin", "add", "-A")
    _git(tmp_path / "origin", "commit", "-qm", "workspace")
    _git(tmp_path, "clone", "-q", "origin", "lf")
    _git(tmp_path, "clone", "-q", "-c", "core.autocrlf=true", "origin", "crlf")
    init = "packages/common/src/common/__init__.py"
    assert b"\r\n" in (tmp_path / "crlf" / init).read_bytes()
    assert b"\r\n" not in (tmp_path / "lf" / init).read_bytes()

    lf = build_layer(
        tmp_path / "lf/uv.lock", tmp_path / "lf.zip", **_offline(house, tmp_path / "c1")
    )
    crlf = build_layer(tmp_path / "crlf/uv.lock", tmp_path / "crlf.zip",
                       **_offline(house, tmp_path / "c2"))  # fmt: skip
    assert crlf.key == lf.key and crlf.sha256 == lf.sha256
    with zipfile.ZipFile(tmp_path / "crlf.zip") as archive:
        assert b"\r" not in archive.read("python/common/__init__.py")
