"""Source trees → entries: patterns, default excludes, symlinks and the inputs that are refused."""

from __future__ import annotations

import os
import socket
import zipfile
from pathlib import Path
from typing import Any

import pytest

from detzip import build_function
from detzip.errors import DetzipError
from detzip.inputs.tree import TreeSpec, collect
from detzip.zip.writer import canonical_order, write_zip

from .conftest import make_tree, run_cli


def names(root: Path, **spec: object) -> list[str]:
    """The archive names a build of ``root`` holds, in the writer's order."""
    return [e.name for e in canonical_order(collect(root, TreeSpec(**spec)))]  # type: ignore[arg-type]


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "src",
        {
            "app.py": "print('hi')\n",
            "pkg/__init__.py": "",
            "pkg/mod.py": "x = 1\n",
            "pkg/__pycache__/mod.cpython-312.pyc": b"\0",
            "pkg/stale.pyc": b"\0",
            ".git/HEAD": "ref: refs/heads/main\n",
            ".venv/pyvenv.cfg": "home = /usr\n",
            "env2/pyvenv.cfg": "home = /usr\n",
            "env2/lib/site.py": "",
            ".mypy_cache/x.json": "{}",
            ".terraform/providers/p": "",
            ".DS_Store": b"\0",
            "tests/test_app.py": "",
            "docs/readme.md": "# x\n",
            "empty/": "",
        },
    )


def test_default_excludes(project: Path) -> None:
    assert names(project) == [
        "app.py",
        "docs/readme.md",
        "empty/",  # the one folder with an entry of its own: empty on disk
        "pkg/__init__.py",
        "pkg/mod.py",
        "tests/test_app.py",
    ]


def test_default_excludes_can_be_switched_off(project: Path) -> None:
    found = names(project, default_excludes=False)
    assert "pkg/__pycache__/mod.cpython-312.pyc" in found
    assert ".git/HEAD" in found and ".venv/pyvenv.cfg" in found and "env2/lib/site.py" in found


def test_patterns_ignore_file_and_negation(project: Path) -> None:
    (project / ".detzipignore").write_text("# comment\ntests/\n*.md\n")
    # docs/ only held excluded files: it is left out too; empty/ is empty on disk and kept
    assert names(project) == ["app.py", "empty/", "pkg/__init__.py", "pkg/mod.py"]
    assert "tests/test_app.py" in names(project, ignore_file=False)
    # the caller's patterns come last and win; '!' re-includes
    assert "docs/readme.md" in names(project, exclude=["!docs/readme.md"])
    assert "pkg/stale.pyc" in names(project, exclude=["!pkg/stale.pyc"])
    assert "app.py" not in names(project, exclude=["/app.py"])


def test_include_patterns_select_files(project: Path) -> None:
    assert names(project, include=["*.py"], exclude=["tests/"]) == [
        "app.py",
        "pkg/__init__.py",
        "pkg/mod.py",
    ]
    assert names(project, include=["pkg/"]) == ["pkg/__init__.py", "pkg/mod.py"]


def test_prefix(project: Path, tmp_path: Path) -> None:
    artifact = build_function(project, tmp_path / "p.zip", prefix="/lib/code/", include=["app.py"])
    assert zip_names(artifact.path) == ["lib/code/app.py"]
    with pytest.raises(DetzipError, match="prefix"):
        build_function(project, tmp_path / "p.zip", prefix="a/../b")


def test_output_inside_source_is_never_packed(project: Path) -> None:
    out = project / "dist" / "function.zip"
    first = build_function(project, out)
    second = build_function(project, out)
    assert first.sha256 == second.sha256
    assert not any(name.startswith("dist/function") for name in zip_names(out))
    # a temporary file left by a killed run is not packed either
    (project / "dist" / ".function.zip.abc.detzip-tmp").write_bytes(b"partial")
    assert build_function(project, out).sha256 == first.sha256


def test_symlinks_inside_are_followed(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src", {"real/data.txt": "data", "script.sh": "#!/bin/sh\n"})
    (root / "script.sh").chmod(0o755)
    (root / "link.txt").symlink_to("real/data.txt")
    (root / "linkdir").symlink_to("real")
    (root / "run").symlink_to("script.sh")
    artifact = build_function(root, tmp_path / "s.zip")
    with zipfile.ZipFile(artifact.path) as archive:
        assert archive.read("link.txt") == b"data"
        assert archive.read("linkdir/data.txt") == b"data"
        assert archive.getinfo("run").external_attr >> 16 == 0o100755


def test_symlink_outside_needs_opt_in(tmp_path: Path) -> None:
    outside = make_tree(tmp_path / "shared", {"common.py": "X = 1\n"})
    root = make_tree(tmp_path / "src", {"app.py": ""})
    (root / "common.py").symlink_to(outside / "common.py")
    with pytest.raises(
        DetzipError, match=r"outside the source folder.*allow_outside_links=True"
    ) as err:
        build_function(root, tmp_path / "o.zip")
    assert str(root / "common.py") in str(err.value)
    assert not (tmp_path / "o.zip").exists()
    artifact = build_function(root, tmp_path / "o.zip", allow_outside_links=True)
    with zipfile.ZipFile(artifact.path) as archive:
        assert archive.read("common.py") == b"X = 1\n"
    # an excluded outside link is simply left out
    assert "common.py" not in zip_names(
        build_function(root, tmp_path / "e.zip", exclude=["common.py"]).path
    )


def test_broken_symlink_is_an_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src", {"app.py": ""})
    (root / "gone.py").symlink_to("nowhere.py")
    with pytest.raises(DetzipError, match="broken symlink"):
        collect(root)


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src", {"a/app.py": ""})
    (root / "a" / "back").symlink_to("..")
    with pytest.raises(DetzipError, match="symlink loop"):
        collect(root)
    (root / "self").symlink_to("self")
    with pytest.raises(DetzipError):
        collect(root, TreeSpec(exclude=["a/back"]))


def test_fifo_and_socket_are_errors_unless_excluded(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src", {"app.py": ""})
    os.mkfifo(root / "pipe")
    with pytest.raises(DetzipError, match="FIFO"):
        collect(root)
    assert "pipe" not in names(root, exclude=["pipe"])
    os.unlink(root / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "s.sock"))
        with pytest.raises(DetzipError, match="socket"):
            collect(root)
    finally:
        sock.close()


def test_non_utf8_name_is_an_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src", {"app.py": ""})
    with open(os.fsencode(root) + b"/caf\xe9.py", "wb"):
        pass
    with pytest.raises(DetzipError, match="not valid UTF-8") as err:
        collect(root)
    assert "caf\\xe9.py" in str(err.value)


def test_file_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    """A file gone between listing and writing (root reads any mode: this is the portable case)."""
    root = make_tree(tmp_path / "src", {"a.py": "x", "gone.py": "y"})
    entries = collect(root)
    (root / "gone.py").unlink()
    with pytest.raises(DetzipError, match=r"gone\.py: cannot read") as err:
        write_zip(entries, tmp_path / "u.zip")
    assert "exclude it" in str(err.value)
    assert not (tmp_path / "u.zip").exists()


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(DetzipError, match="does not exist"):
        collect(tmp_path / "nope")
    (tmp_path / "file").write_text("")
    with pytest.raises(DetzipError, match="not a directory"):
        collect(tmp_path / "file")


def test_result_describes_the_build(project: Path, tmp_path: Path) -> None:
    (project / ".detzipignore").write_text("docs/\n")
    artifact = build_function(project, tmp_path / "r.zip", exclude=["tests/"], mtime="2020-02-02")
    data = artifact.to_dict()
    assert data["description"]["ignore_file"] == ["docs/"]
    assert data["description"]["exclude"] == ["tests/"]
    assert data["description"]["mtime"] == "2020-02-02T00:00:00Z"
    assert data["description"]["compressor"] == "deflate" and data["description"]["level"] == 6
    assert data["entries"] == len(zip_names(artifact.path))
    assert data["size"] == artifact.path.stat().st_size


def test_build_debris_that_differs_between_machines_is_left_out(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "src", {
        "app.py": "", "pkg/__init__.py": "",
        "pkg.egg-info/PKG-INFO": "", ".eggs/x.egg": "", ".coverage": "", ".coverage.host.1": "",
        "htmlcov/index.html": "", "terraform.tfstate": "{}", "terraform.tfstate.backup": "{}",
        ".aws-sam/build.toml": "", ".serverless/state.json": "", ".ipynb_checkpoints/a": "",
        "Thumbs.db": "", ".app.py.swp": "",
    })  # fmt: skip
    names = sorted(e.name for e in collect(root) if not e.name.endswith("/"))
    assert names == ["app.py", "pkg/__init__.py"]


def test_a_venv_folder_that_is_not_a_virtualenv_is_named_not_dropped_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_tree(tmp_path / "src", {"app.py": "", "venv/helpers.py": "", ".venv/pyvenv.cfg": "",
                                        ".venv/lib/site.py": ""})  # fmt: skip
    with caplog.at_level("WARNING", logger="detzip"):
        names = [e.name for e in collect(root)]
    assert names == ["app.py"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert "venv/ is left out as a virtualenv by its name" in warning and "!venv/" in warning
    kept = [e.name for e in collect(root, TreeSpec(exclude=["!venv/"]))]
    assert "venv/helpers.py" in kept


def test_what_macos_windows_and_terragrunt_drop_into_trees_is_left_out(tmp_path: Path) -> None:
    """macOS's AppleDouble files on exFAT/SMB (``._*``) and Finder's zips (``__MACOSX/``),
    Windows' ``desktop.ini``, and Terragrunt's cache and manifest are never code."""
    root = make_tree(
        tmp_path / "src",
        {
            "app.py": "x = 1\n",
            "._app.py": b"\0\5\26\7",
            "pkg/._mod.py": b"\0\5\26\7",
            "pkg/mod.py": "y = 2\n",
            "__MACOSX/pkg/._mod.py": b"\0",
            "desktop.ini": "[.ShellClassInfo]\r\n",
            ".terragrunt-cache/abc/main.tf": "",
            ".terragrunt-source-manifest": "x",
        },
    )
    assert names(root) == ["app.py", "pkg/mod.py"]
    assert "._app.py" in names(root, default_excludes=False)


def test_an_ignore_file_saved_with_a_bom_still_matches_its_first_pattern(tmp_path: Path) -> None:
    """Windows editors save UTF-8 with a BOM: the first pattern is ``.env``, not ``\\ufeff.env``
    (which matches nothing, and the secrets would be packed)."""
    root = make_tree(
        tmp_path / "src",
        {"app.py": "", ".env": "SECRET=1\n", "notes.txt": "", ".detzipignore": ""},
    )
    (root / ".detzipignore").write_bytes(b"\xef\xbb\xbf.env\r\nnotes.txt\r\n")
    assert names(root) == ["app.py"]


def _commit(root: Path) -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@t.invalid", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t.invalid")  # fmt: skip
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "tree"]):
        done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


@pytest.mark.skipif(__import__("shutil").which("git") is None, reason="git is not on PATH")
def test_from_git_follows_links_inside_the_commit_and_refuses_one_that_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link to a file packs the file's bytes and mode under the link's name, a link to a
    folder packs its files under the link's name — as a checkout with links packs them; a link
    out of the folder is an error naming it (the commit's tree is all from_git reads)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    root = make_tree(
        tmp_path / "repo",
        {"fn/app/core.py": "x = 1\n", "fn/run.sh": "#!/bin/sh\n", "shared/util.py": "u = 1\n"},
        executable={"fn/run.sh"},
    )
    (root / "fn/current.py").symlink_to("app/core.py")
    (root / "fn/lib").symlink_to("app")
    (root / "fn/go").symlink_to("run.sh")
    _commit(root)
    from_commit = build_function(root / "fn", tmp_path / "a.zip", from_git="HEAD", cache=False)
    from_tree = build_function(root / "fn", tmp_path / "b.zip", cache=False)
    assert from_commit.sha256 == from_tree.sha256
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.read("lib/core.py") == archive.read("current.py") == b"x = 1\n"
        assert archive.getinfo("go").external_attr >> 16 == 0o100755

    (root / "fn/out.py").symlink_to("../shared/util.py")
    _commit(root)
    with pytest.raises(DetzipError, match="outside the folder in the commit") as caught:
        build_function(root / "fn", tmp_path / "c.zip", from_git="HEAD", cache=False)
    assert "out.py" in str(caught.value)
    assert not (tmp_path / "c.zip").exists()


@pytest.mark.parametrize("where", ["option", "ignore-file", "layer-option"])
def test_a_backslash_in_a_pattern_warns_that_patterns_use_slashes(
    tmp_path: Path, where: str
) -> None:
    """Windows users type ``pkg\\tests``: in gitignore's rules the backslash escapes ``t``, so
    the pattern matched nothing, silently. An escape of a special character stays quiet."""
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n", "pkg/tests/t.py": "1\n"})
    (src / ".detzipignore").write_text("\\#not-a-comment\n")  # gitignore's own escape: fine
    out = tmp_path / "o.zip"
    if where == "layer-option":
        lock = tmp_path / "requirements.txt"
        lock.write_text("")
        args = ["layer", "-r", str(lock), "-o", str(out), "--exclude", "pkg\\tests"]
    elif where == "option":
        args = ["function", str(src), "-o", str(out), "--exclude", "pkg\\tests"]
    else:
        (src / ".detzipignore").write_text("\\#not-a-comment\npkg\\tests/\n")
        args = ["function", str(src), "-o", str(out)]
    result = run_cli(*args, env={"DETZIP_CACHE": "off"})
    lines = result.stderr.strip().splitlines()
    warnings = [line for line in lines if "backslash" in line]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("detzip: warning: ") and "'pkg/tests" in warnings[0]
    if where == "ignore-file":
        assert str(src / ".detzipignore") in warnings[0]
    else:
        assert "--exclude" in warnings[0]
    assert "#not-a-comment" not in result.stderr


class _WindowsEntry:
    """An ``os.DirEntry`` as Windows gives it: ``stat()`` without an identity (``st_ino`` and
    ``st_dev`` are always 0 there, as Python's documentation says); ``os.stat`` has one."""

    def __init__(self, entry: os.DirEntry[str]) -> None:
        self._entry = entry
        self.name, self.path = entry.name, entry.path

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        real = self._entry.stat(follow_symlinks=follow_symlinks)
        fields = list(real)
        fields[1] = fields[2] = 0  # st_ino, st_dev
        return os.stat_result(fields)

    def __getattr__(self, name: str) -> object:
        return getattr(self._entry, name)


def test_the_output_and_the_cache_are_never_packed_where_dir_entries_have_no_inode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Windows the output inside the source (``.build/fn.zip``) was packed into the next
    build (a new sha256 every time): identities came from ``DirEntry.stat()``, all zero."""
    from detzip import Cache

    real_scandir = os.scandir

    class WindowsScandir(list[Any]):  # iterable, and a context manager, as scandir's is
        def __enter__(self) -> WindowsScandir:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def windows_scandir(path: Any = ".") -> WindowsScandir:
        with real_scandir(path) as entries:
            return WindowsScandir(_WindowsEntry(entry) for entry in entries)

    monkeypatch.setattr(os, "scandir", windows_scandir)
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    out = src / "out" / "fn.zip"
    cache = str(src / "cache")
    first = build_function(src, out, cache=Cache(cache))
    assert (src / "cache" / "artifacts").is_dir() and out.is_file()
    for _ in range(2):
        again = build_function(src, out, cache_dir=cache, cache=False)
        assert again.sha256 == first.sha256
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["app.py"]


class _JunctionEntry(_WindowsEntry):
    """A Windows junction as ``os.scandir`` gives it: not a symbolic link
    (``is_symlink()`` is False) but ``is_junction()`` (Python 3.12+). Simulated with a real
    symbolic link to a folder, which the walk then follows as Windows would."""

    def is_symlink(self) -> bool:
        return False

    def is_junction(self) -> bool:
        return self._entry.is_symlink()


@pytest.mark.parametrize("where", ["outside", "loop"])
def test_a_junction_gets_the_checks_a_link_gets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """An NTFS junction was walked as a plain folder: no outside-the-source check, no loop
    check (a junction to a parent walked until the path was too long)."""
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    make_tree(tmp_path / "secrets", {"key.pem": "private\n"})
    target = tmp_path / "secrets" if where == "outside" else src
    (src / "j").symlink_to(target, target_is_directory=True)
    real_scandir = os.scandir

    def junction_scandir(path: Any = ".") -> list[Any]:
        with real_scandir(path) as entries:
            return [_JunctionEntry(entry) for entry in entries]

    monkeypatch.setattr("detzip.inputs.tree.os.scandir", junction_scandir)
    monkeypatch.setattr("detzip.inputs.tree._REPARSE_POINTS", True)  # (as on Windows)
    with pytest.raises(DetzipError) as raised:
        build_function(src, tmp_path / "o.zip", cache=False)
    said = str(raised.value)
    assert ("points outside the source" in said) if where == "outside" else ("loop" in said)
    assert not (tmp_path / "o.zip").exists()
