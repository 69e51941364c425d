"""One commit, one sha256 (issue 29): real ``git clone``s of one origin, made the ways other
systems make them — CRLF line endings (core.autocrlf, ``* text=auto`` with core.eol=crlf), exec
bits lost or everywhere (core.fileMode=false on FAT/NTFS, WSL's /mnt/c), links checked out as
text (core.symlinks=false), NFD names (macOS), another umask and other mtimes — all pack to the
bytes of a plain Linux clone. Tracked files are packed as git stores them; untracked files as on
disk; what git does not explain is followed from the index with a warning. ``--from-git REV``
packs a commit's tree whatever the working tree holds.

Every checkout asserts the property it simulates before detzip runs (the CRLF bytes are on disk,
the exec bit is missing, the name is NFD, the link is a plain file), so a failure here is
detzip's, not the fixture's."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from .conftest import SRC, assert_one_line_error, make_tree

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not on PATH")

ROOT = SRC.parent

# -- the origin: a small Lambda project, committed once ---------------------------------------

CAFE = "caf\u00e9.py"  # NFC, as committed
CAFE_NFD = unicodedata.normalize("NFD", CAFE)
assert CAFE_NFD != CAFE and unicodedata.normalize("NFC", CAFE) == CAFE

#: random bytes with every line ending and NULs in them: a binary file git must leave alone
LOGO = (
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"
    + bytes(random.Random(29).randrange(256) for _ in range(2048))
    + b"\r\n\0\n\r\r\n"
)

PYPROJECT = b"""\
[project]
name = "checkout-demo"
version = "0.1.0"

[tool.detzip]
runtime = "python3.12"

[tool.detzip.functions.fn]
source = "."
handler = "handler.handler"
"""

FILES: dict[str, bytes] = {
    "handler.py": b"import app.core\n\n\ndef handler(event, context):\n    return app.core.answer()\n",
    "app/__init__.py": b"",
    "app/core.py": b'def answer():\n    return "42"\n',
    "bootstrap": b"#!/bin/sh\nset -eu\nexec python3 -m awslambdaric handler.handler\n",
    "scripts/run.sh": b"#!/bin/sh\necho run\n",
    "assets/logo.png": LOGO,
    CAFE: "NAME = 'caf\u00e9'\n".encode(),
    "README.md": b"# demo\n\nA Lambda function.\n",
    "docs/notes.md": b"left out by the committed .detzipignore\n",
    ".detzipignore": b"docs/\n",
    "pyproject.toml": PYPROJECT,
}
EXECUTABLE = ("bootstrap", "scripts/run.sh")
LINK, LINK_TARGET = "current.py", "app/core.py"
ATTRIBUTES = b"*.png binary\n"
ATTRIBUTES_AUTO = b"* text=auto\n*.png binary\n"
TEXT = [name for name in FILES if name != "assets/logo.png" and b"\n" in FILES[name]]


def git_env() -> dict[str, str]:
    """The environment for git and for detzip: none of this machine's git config (global or
    system), no GIT_* of the caller, a fixed author and date."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME="Detzip Tests",
        GIT_AUTHOR_EMAIL="tests@detzip.invalid",
        GIT_COMMITTER_NAME="Detzip Tests",
        GIT_COMMITTER_EMAIL="tests@detzip.invalid",
        GIT_AUTHOR_DATE="2024-01-02T03:04:05+00:00",
        GIT_COMMITTER_DATE="2024-01-02T03:04:05+00:00",
    )
    return env


def git(cwd: Path, *args: str, umask: int | None = None) -> str:
    """``git ARGS`` in ``cwd`` (under ``umask`` if given); its stdout. Failing is the fixture's
    failure, not detzip's."""
    done = subprocess.run(
        ["git", "-c", "core.quotePath=false", *args],
        cwd=cwd,
        env=git_env(),
        capture_output=True,
        text=True,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
        timeout=120,
    )
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def status(checkout: Path) -> list[str]:
    """``git status --porcelain`` lines, without refreshing the index (a build must not rely on
    someone having run git status first)."""
    out = git(checkout, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all")
    return out.splitlines()


def committed_modes(repo: Path, rev: str = "HEAD") -> dict[str, str]:
    """path → mode of every blob in ``rev``'s tree (100644, 100755, 120000)."""
    modes = {}
    for record in git(repo, "ls-tree", "-r", "-z", rev).split("\0"):
        if record:
            meta, path = record.split("\t", 1)
            modes[path] = meta.split()[0]
    return modes


def make_origin(
    root: Path,
    files: dict[str, bytes] = FILES,
    executable: tuple[str, ...] = EXECUTABLE,
    attributes: bytes = ATTRIBUTES,
    link: bool = True,
) -> Path:
    """A repository holding ``files`` committed once (LF line endings, the executables 100755,
    the link 120000)."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / ".gitattributes").write_bytes(attributes)
    for name in executable:
        (root / name).chmod(0o755)
    if link:
        (root / LINK).symlink_to(LINK_TARGET)
    git(root, "add", "-A")
    git(root, "update-index", "--chmod=+x", *executable)
    git(root, "commit", "-q", "-m", "the function")
    modes = committed_modes(root)
    assert set(modes) == {*files, ".gitattributes"} | ({LINK} if link else set()), modes
    for name in files:
        assert modes[name] == ("100755" if name in executable else "100644"), (name, modes)
        assert git_blob(root, f"HEAD:{name}") == files[name], name  # committed as written: LF
    if link:
        assert modes[LINK] == "120000" and git_blob(root, f"HEAD:{LINK}") == LINK_TARGET.encode()
    return root


def git_blob(repo: Path, spec: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", spec], cwd=repo, env=git_env(), capture_output=True,
        check=True,
    ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_origin(tmp_path_factory.mktemp("origin") / "repo")


@pytest.fixture(scope="module")
def origin_auto(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same project with ``* text=auto`` in .gitattributes (git normalizes every text file)."""
    return make_origin(tmp_path_factory.mktemp("origin-auto") / "repo", attributes=ATTRIBUTES_AUTO)


def clone(origin: Path, dest: Path, *config: str, umask: int | None = None) -> Path:
    """``git clone --no-hardlinks`` with ``config`` (``key=value``) set while checking out
    (``git -c``) and kept in the clone's config (``clone -c``), as a machine's system or global
    config keeps it: a later ``git add`` there sees the same setting."""
    outer = [arg for item in config for arg in ("-c", item)]
    inner = [f"--config={item}" for item in config]
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(dest.parent, *outer, "clone", "-q", "--no-hardlinks", *inner, str(origin), str(dest),
        umask=umask)  # fmt: skip
    for item in config:
        key, value = item.split("=", 1)
        assert git(dest, "config", "--local", "--get", key).strip() == value, item
    return dest


def worktree(checkout: Path) -> Iterator[Path]:
    """Every file, link and folder of the checkout outside .git."""
    for folder, dirs, files in os.walk(checkout):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in [*dirs, *files]:
            yield Path(folder) / name


def regular_files(checkout: Path) -> list[Path]:
    return [p for p in worktree(checkout) if not p.is_symlink() and p.is_file()]


def is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o111)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def assert_as_committed(checkout: Path) -> None:
    """A plain Linux checkout: LF bytes, exec bits, a real link, the NFC name, git sees it clean."""
    for name, data in FILES.items():
        assert (checkout / name).read_bytes() == data, name
    assert all(is_executable(checkout / name) for name in EXECUTABLE)
    assert not is_executable(checkout / "handler.py")
    assert (checkout / LINK).is_symlink() and os.readlink(checkout / LINK) == LINK_TARGET
    assert CAFE in os.listdir(checkout)
    assert status(checkout) == []


# -- the checkouts ------------------------------------------------------------------------------


def checkout_linux(origin: Path, dest: Path) -> Path:
    checkout = clone(origin, dest)
    assert_as_committed(checkout)
    return checkout


def checkout_umask_mtimes(origin: Path, dest: Path) -> Path:
    """Another Linux clone, under umask 077, every mtime then changed (index stat now stale)."""
    checkout = clone(origin, dest, umask=0o077)
    stamps = {}
    for number, path in enumerate(sorted(worktree(checkout))):
        when = 1_234_567_890_000_000_000 + number * 3_600_000_000_123
        os.utime(path, ns=(when, when), follow_symlinks=False)
        stamps[path] = when
    for path, when in stamps.items():
        assert path.lstat().st_mtime_ns == when, path
    assert stat.S_IMODE((checkout / "handler.py").stat().st_mode) == 0o600
    assert stat.S_IMODE((checkout / "bootstrap").stat().st_mode) == 0o700
    assert stat.S_IMODE((checkout / "app").stat().st_mode) == 0o700
    for name, data in FILES.items():
        assert (checkout / name).read_bytes() == data, name
    assert status(checkout) == []
    return checkout


def checkout_autocrlf(origin: Path, dest: Path) -> Path:
    """Git for Windows' default: core.autocrlf=true, every text file CRLF on disk."""
    checkout = clone(origin, dest, "core.autocrlf=true")
    assert_crlf_on_disk(checkout)
    return checkout


def assert_crlf_on_disk(checkout: Path) -> None:
    handler = (checkout / "handler.py").read_bytes()
    assert b"\r\n" in handler and handler == crlf(FILES["handler.py"])
    assert (checkout / "bootstrap").read_bytes().startswith(b"#!/bin/sh\r\n")
    for name in TEXT:
        assert (checkout / name).read_bytes() == crlf(FILES[name]), name
    assert (checkout / "assets/logo.png").read_bytes() == LOGO  # binary: untouched
    assert status(checkout) == []  # git itself sees the commit


def checkout_text_auto_eol_crlf(origin_auto: Path, dest: Path) -> Path:
    """``* text=auto`` in .gitattributes, checked out with core.eol=crlf."""
    checkout = clone(origin_auto, dest, "core.eol=crlf")
    assert_crlf_on_disk(checkout)
    assert (checkout / ".gitattributes").read_bytes() == crlf(ATTRIBUTES_AUTO)
    return checkout


def checkout_no_exec_bits(origin: Path, dest: Path) -> Path:
    """A filesystem without exec bits (FAT, a Windows share): core.fileMode=false, all 0644."""
    checkout = clone(origin, dest, "core.fileMode=false")
    for path in regular_files(checkout):
        path.chmod(0o644)
    assert not is_executable(checkout / "bootstrap")
    assert not is_executable(checkout / "scripts/run.sh")
    assert not any(is_executable(path) for path in regular_files(checkout))
    assert status(checkout) == []
    return checkout


def checkout_all_executable(origin: Path, dest: Path) -> Path:
    """WSL's /mnt/c: core.fileMode=false and every file 0755."""
    checkout = clone(origin, dest, "core.fileMode=false")
    for path in regular_files(checkout):
        path.chmod(0o755)
    assert is_executable(checkout / "handler.py") and is_executable(checkout / "README.md")
    assert all(is_executable(path) for path in regular_files(checkout))
    assert status(checkout) == []
    return checkout


def checkout_nfd(origin: Path, dest: Path) -> Path:
    """A name in NFD, as macOS tools write it. On Linux that is another name: git sees the NFC
    file deleted and the NFD one untracked."""
    checkout = clone(origin, dest)
    os.rename(checkout / CAFE, checkout / CAFE_NFD)
    listed = os.listdir(checkout)
    assert CAFE_NFD in listed and CAFE not in listed
    assert (checkout / CAFE_NFD).read_bytes() == FILES[CAFE]
    assert sorted(status(checkout)) == [f" D {CAFE}", f"?? {CAFE_NFD}"]
    return checkout


def checkout_no_symlinks(origin: Path, dest: Path) -> Path:
    """core.symlinks=false (Windows without the symlink privilege): the link is a plain file
    holding its target's path."""
    checkout = clone(origin, dest, "core.symlinks=false")
    link = checkout / LINK
    assert not link.is_symlink() and stat.S_ISREG(link.lstat().st_mode)
    assert link.read_bytes() == LINK_TARGET.encode()
    assert status(checkout) == []
    return checkout


class Checkout(NamedTuple):
    make: Callable[[Path, Path], Path]
    origin: str  # the fixture of the origin it clones
    #: what a warning may be about: none where git explains every difference (nothing to
    #: warn about), else the file git and the disk disagree on
    subjects: tuple[str, ...]


CHECKOUTS: dict[str, Checkout] = {
    "linux": Checkout(checkout_linux, "origin", ()),
    "umask-077-mtimes": Checkout(checkout_umask_mtimes, "origin", ()),
    "autocrlf": Checkout(checkout_autocrlf, "origin", ()),
    "text-auto-eol-crlf": Checkout(checkout_text_auto_eol_crlf, "origin_auto", ()),
    "no-exec-bits": Checkout(checkout_no_exec_bits, "origin", ()),
    "all-executable": Checkout(checkout_all_executable, "origin", ()),
    "nfd-names": Checkout(checkout_nfd, "origin", (CAFE, CAFE_NFD)),
    "no-symlinks": Checkout(checkout_no_symlinks, "origin", (LINK,)),
}


def make_checkout(name: str, request: pytest.FixtureRequest, dest: Path) -> Path:
    spec = CHECKOUTS[name]
    return spec.make(request.getfixturevalue(spec.origin), dest)


# -- running detzip -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    zip: Path
    sha256: str
    stderr: str
    result: dict[str, Any]

    def members(self) -> dict[str, tuple[int, bytes]]:
        """archive name → (unix mode, bytes)."""
        with zipfile.ZipFile(self.zip) as archive:
            return {
                info.filename: (info.external_attr >> 16, archive.read(info))
                for info in archive.infolist()
            }


def detzip(*args: str, cwd: Path, cache: bool = False) -> subprocess.CompletedProcess[str]:
    """``python -m detzip ARGS`` with the clean git environment (the artifact cache on only if
    ``cache``: conftest turns it off)."""
    env = git_env()
    if cache:
        env["DETZIP_CACHE"] = ""
    return subprocess.run(
        [sys.executable, "-m", "detzip", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def build_function(source: Path, out: Path, *args: str, cache_dir: Path | None = None) -> Build:
    """``detzip function SOURCE -o OUT --json`` (``--no-cache`` unless ``cache_dir``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cache = ["--no-cache"] if cache_dir is None else ["--cache-dir", str(cache_dir)]
    done = detzip("function", str(source), "-o", str(out), "--json", *cache, *args,
                  cwd=out.parent, cache=cache_dir is not None)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert result["sha256"] == sha
    return Build(out, sha, done.stderr, result)


def warnings(stderr: str) -> list[str]:
    """detzip's warnings, each with the lines that continue it."""
    found: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("detzip: warning: "):
            found.append(line)
        elif found and not line.startswith("detzip: "):
            found[-1] += "\n" + line
    return found


GIT_COMMAND = re.compile(r"\bgit [a-z][a-z-]+")


def assert_warns(stderr: str, *names: str, fix: bool = False) -> str:
    """One warning names all of ``names`` (and, if ``fix``, the git command that fixes it)."""
    matching = [w for w in warnings(stderr) if all(name in w for name in names)]
    assert matching, (names, stderr)
    if fix:
        assert any(GIT_COMMAND.search(w) for w in matching), ("no git command", matching)
    return matching[0]


def assert_no_warning_names(stderr: str, name: str) -> None:
    assert not [w for w in warnings(stderr) if name in w], (name, stderr)


@pytest.fixture(scope="module")
def reference(origin: Path, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The zip of a plain Linux clone of the origin: every checkout's expected bytes."""
    where = tmp_path_factory.mktemp("reference")
    return build_function(checkout_linux(origin, where / "clone"), where / "out" / "fn.zip")


@pytest.fixture(scope="module")
def reference_auto(origin_auto: Path, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The zip of a plain (LF) Linux clone of the ``* text=auto`` origin."""
    where = tmp_path_factory.mktemp("reference-auto")
    checkout = clone(origin_auto, where / "clone")
    for name, data in FILES.items():
        assert (checkout / name).read_bytes() == data, name
    assert status(checkout) == []
    return build_function(checkout, where / "out" / "fn.zip")


# -- one sha256 per commit ----------------------------------------------------------------------


def test_the_reference_zip_holds_the_commit(reference: Build) -> None:
    members = reference.members()
    for name in ["handler.py", "app/__init__.py", "app/core.py", "bootstrap", "scripts/run.sh",
                 "assets/logo.png", CAFE, LINK, "README.md", "pyproject.toml"]:  # fmt: skip
        assert name in members, (name, sorted(members))
    assert not [n for n in members if n.startswith((".git/", "docs/"))], sorted(members)
    assert members["bootstrap"] == (0o100755, FILES["bootstrap"])
    assert members["scripts/run.sh"] == (0o100755, FILES["scripts/run.sh"])
    assert members["handler.py"] == (0o100644, FILES["handler.py"])
    assert members["assets/logo.png"][1] == LOGO
    assert members[LINK][1] == FILES[LINK_TARGET]  # a link is packed as what it points to
    assert warnings(reference.stderr) == []


@pytest.mark.parametrize("name", list(CHECKOUTS))
def test_every_checkout_packs_the_same_bytes(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    checkout = make_checkout(name, request, tmp_path / "clone")
    expected: Build = request.getfixturevalue(
        "reference_auto" if CHECKOUTS[name].origin == "origin_auto" else "reference"
    )
    built = build_function(checkout, tmp_path / "out" / "fn.zip")
    assert built.sha256 == expected.sha256, (name, built.stderr)
    assert built.members() == expected.members()
    # nothing else is warned about: not bootstrap (its committed exec bit and LF shebang count)
    subjects = CHECKOUTS[name].subjects
    others = [w for w in warnings(built.stderr) if not any(s in w for s in subjects)]
    assert others == [], built.stderr


def test_autocrlf_zip_holds_the_committed_bytes_and_modes(origin: Path, tmp_path: Path) -> None:
    checkout = checkout_autocrlf(origin, tmp_path / "clone")
    members = build_function(checkout, tmp_path / "out" / "fn.zip").members()
    mode, data = members["bootstrap"]
    assert mode == 0o100755
    assert data.startswith(b"#!/bin/sh\n") and data == FILES["bootstrap"]
    for name in TEXT:
        if name in members:
            assert members[name][1] == FILES[name], name
    assert members["assets/logo.png"][1] == LOGO


def test_cache_key_is_shared_by_crlf_and_lf_checkouts(origin: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    lf = checkout_linux(origin, tmp_path / "lf")
    first = build_function(lf, tmp_path / "out-lf" / "fn.zip", cache_dir=cache)
    assert first.result["cache_hit"] is False
    windows = checkout_autocrlf(origin, tmp_path / "crlf")
    second = build_function(windows, tmp_path / "out-crlf" / "fn.zip", cache_dir=cache)
    assert second.result["key"] == first.result["key"]
    assert second.result["cache_hit"] is True, second.result
    assert second.sha256 == first.sha256


def test_nfd_name_is_packed_nfc(origin: Path, tmp_path: Path, reference: Build) -> None:
    checkout = checkout_nfd(origin, tmp_path / "clone")
    built = build_function(checkout, tmp_path / "out" / "fn.zip")
    with zipfile.ZipFile(built.zip) as archive:
        names = archive.namelist()
    assert CAFE in names and CAFE_NFD not in names
    assert all(unicodedata.is_normalized("NFC", n) for n in names), names
    assert built.sha256 == reference.sha256


def test_link_checked_out_as_text_is_packed_as_its_target_with_a_warning(
    origin: Path, tmp_path: Path, reference: Build
) -> None:
    checkout = checkout_no_symlinks(origin, tmp_path / "clone")
    built = build_function(checkout, tmp_path / "out" / "fn.zip")
    assert built.members()[LINK][1] == FILES[LINK_TARGET] == reference.members()[LINK][1]
    assert built.sha256 == reference.sha256
    assert_warns(built.stderr, LINK, fix=True)


def test_uncommitted_chmod_follows_the_index_with_a_warning(
    origin: Path, tmp_path: Path, reference: Build
) -> None:
    checkout = checkout_linux(origin, tmp_path / "clone")
    (checkout / "handler.py").chmod(0o755)
    assert is_executable(checkout / "handler.py")
    assert git(checkout, "config", "--get", "core.fileMode").strip() == "true"
    assert status(checkout) == [" M handler.py"]  # a mode change git reports, not committed
    assert committed_modes(checkout)["handler.py"] == "100644"
    built = build_function(checkout, tmp_path / "out" / "fn.zip")
    assert built.members()["handler.py"][0] == 0o100644
    assert built.sha256 == reference.sha256
    assert_warns(built.stderr, "handler.py", fix=True)


def test_uncommitted_edit_is_packed_in_clean_form(origin: Path, tmp_path: Path) -> None:
    checkout = checkout_autocrlf(origin, tmp_path / "clone")
    with open(checkout / "handler.py", "ab") as handle:
        handle.write(b"# edited on Windows\r\n")
    on_disk = (checkout / "handler.py").read_bytes()
    assert on_disk == crlf(FILES["handler.py"]) + b"# edited on Windows\r\n"
    assert status(checkout) == [" M handler.py"]
    built = build_function(checkout, tmp_path / "out" / "fn.zip")
    members = built.members()
    assert members["handler.py"] == (0o100644, FILES["handler.py"] + b"# edited on Windows\n")
    assert members["bootstrap"] == (0o100755, FILES["bootstrap"])
    assert warnings(built.stderr) == [], built.stderr


def test_untracked_files_are_packed_as_on_disk(origin: Path, tmp_path: Path) -> None:
    checkout = checkout_autocrlf(origin, tmp_path / "clone")
    (checkout / "notes.txt").write_bytes(b"one\r\ntwo\r\n")
    (checkout / "tools").mkdir()
    (checkout / "tools/deploy.sh").write_bytes(b"#!/bin/sh\necho deploy\n")
    (checkout / "tools/deploy.sh").chmod(0o755)
    (checkout / "tools/plain.txt").write_bytes(b"plain\n")
    (checkout / "tools/plain.txt").chmod(0o644)
    assert sorted(status(checkout)) == ["?? notes.txt", "?? tools/deploy.sh", "?? tools/plain.txt"]
    built = build_function(checkout, tmp_path / "out" / "fn.zip")
    members = built.members()
    assert members["notes.txt"] == (0o100644, b"one\r\ntwo\r\n")  # not converted: untracked
    assert members["tools/deploy.sh"] == (0o100755, b"#!/bin/sh\necho deploy\n")
    assert members["tools/plain.txt"] == (0o100644, b"plain\n")
    assert warnings(built.stderr) == [], built.stderr


def test_executable_whose_first_line_ends_in_cr_is_named(origin: Path, tmp_path: Path) -> None:
    checkout = checkout_linux(origin, tmp_path / "clone")
    dos = b"#!/bin/sh\r\necho dos\r\n"
    # tracked: committed with CRLF (no autocrlf, no text attribute: git stores the CR)
    (checkout / "scripts/dos.sh").write_bytes(dos)
    (checkout / "scripts/dos.sh").chmod(0o755)
    git(checkout, "add", "scripts/dos.sh")
    git(checkout, "commit", "-q", "-m", "a script with CRLF")
    assert git_blob(checkout, "HEAD:scripts/dos.sh") == dos
    assert committed_modes(checkout)["scripts/dos.sh"] == "100755"
    # untracked
    (checkout / "tools").mkdir()
    (checkout / "tools/win.sh").write_bytes(dos)
    (checkout / "tools/win.sh").chmod(0o755)
    # not executable: a CRLF text file is no problem
    (checkout / "notes.txt").write_bytes(b"one\r\ntwo\r\n")
    assert sorted(status(checkout)) == ["?? notes.txt", "?? tools/win.sh"]
    built = build_function(checkout, tmp_path / "out" / "fn.zip")
    members = built.members()
    assert members["scripts/dos.sh"] == (0o100755, dos)  # as git stores it
    assert members["tools/win.sh"] == (0o100755, dos)
    assert_warns(built.stderr, "scripts/dos.sh")
    assert_warns(built.stderr, "tools/win.sh")
    # only those two: not the CRLF text file, not bootstrap (LF as committed)
    assert len(warnings(built.stderr)) == 2, built.stderr
    assert_no_warning_names(built.stderr, "notes.txt")


def test_bootstrap_committed_without_exec_bit_is_named(origin: Path, tmp_path: Path) -> None:
    checkout = checkout_linux(origin, tmp_path / "clone")
    (checkout / "bootstrap").chmod(0o644)
    git(checkout, "update-index", "--chmod=-x", "bootstrap")
    git(checkout, "commit", "-q", "-m", "bootstrap loses its exec bit")
    assert committed_modes(checkout)["bootstrap"] == "100644"
    assert not is_executable(checkout / "bootstrap") and status(checkout) == []
    built = build_function(checkout, tmp_path / "out" / "fn.zip")
    assert built.members()["bootstrap"] == (0o100644, FILES["bootstrap"])  # as committed
    assert_warns(built.stderr, "bootstrap")


def test_names_differing_only_in_case_are_packed_with_a_warning(tmp_path: Path) -> None:
    files = {
        "handler.py": FILES["handler.py"],
        "README.md": b"# upper\n",
        "Readme.md": b"# mixed\n",
    }
    origin = make_origin(tmp_path / "origin", files=files, executable=(), link=False)
    checkout = clone(origin, tmp_path / "clone")
    listed = os.listdir(checkout)
    assert "README.md" in listed and "Readme.md" in listed  # Linux: two files
    assert status(checkout) == []
    built = build_function(checkout, tmp_path / "out" / "fn.zip")
    members = built.members()
    assert members["README.md"][1] == b"# upper\n" and members["Readme.md"][1] == b"# mixed\n"
    assert_warns(built.stderr, "README.md", "Readme.md")


# -- --from-git REV -----------------------------------------------------------------------------


def edit_everything(checkout: Path) -> None:
    """Uncommitted edits of every kind: a changed, a deleted and an untracked file, a new exec
    bit, and a .detzipignore that would leave the package out."""
    with open(checkout / "handler.py", "ab") as handle:
        handle.write(b"# not committed\n")
    (checkout / "README.md").unlink()
    (checkout / "extra.py").write_bytes(b"UNTRACKED = 1\n")
    (checkout / "app/core.py").chmod(0o755)
    with open(checkout / ".detzipignore", "ab") as handle:
        handle.write(b"app/\n")
    lines = status(checkout)
    for expected in [" M handler.py", " D README.md", "?? extra.py", " M .detzipignore"]:
        assert expected in lines, (expected, lines)


@pytest.mark.parametrize("name", ["linux", "autocrlf", "no-exec-bits", "no-symlinks"])
def test_from_git_head_packs_the_commit_whatever_the_working_tree_holds(
    name: str, request: pytest.FixtureRequest, tmp_path: Path, reference: Build
) -> None:
    checkout = make_checkout(name, request, tmp_path / "clone")
    edit_everything(checkout)
    built = build_function(checkout, tmp_path / "out" / "fn.zip", "--from-git", "HEAD")
    assert built.sha256 == reference.sha256, built.stderr
    assert built.members() == reference.members()


def test_from_git_packs_an_older_commit(origin: Path, tmp_path: Path, reference: Build) -> None:
    checkout = checkout_linux(origin, tmp_path / "clone")
    with open(checkout / "handler.py", "ab") as handle:
        handle.write(b"# the second commit\n")
    git(checkout, "commit", "-q", "-am", "second")
    assert status(checkout) == []
    out = tmp_path / "out"
    older = build_function(checkout, out / "older.zip", "--from-git", "HEAD~1")
    assert older.sha256 == reference.sha256
    head = build_function(checkout, out / "head.zip", "--from-git", "HEAD")
    working = build_function(checkout, out / "working.zip")  # a clean tree: HEAD's bytes
    assert head.sha256 == working.sha256 != reference.sha256
    assert head.members()["handler.py"][1] == FILES["handler.py"] + b"# the second commit\n"


def test_from_git_with_a_bad_rev_is_one_error_line(
    origin: Path, tmp_path: Path, reference: Build
) -> None:
    checkout = checkout_linux(origin, tmp_path / "clone")
    out = tmp_path / "out"
    # the option exists and a good rev builds (so the error below is about the rev)
    good = build_function(checkout, out / "good.zip", "--from-git", "HEAD")
    assert good.sha256 == reference.sha256
    done = detzip("function", str(checkout), "-o", str(out / "fn.zip"), "--no-cache",
                  "--from-git", "no-such-rev", cwd=out)  # fmt: skip
    assert_one_line_error(done, "no-such-rev")
    assert "unrecognized" not in done.stderr
    assert not (out / "fn.zip").exists()


# -- detzip build: the project door -------------------------------------------------------------


def build_project(config: Path, cwd: Path, *args: str) -> dict[str, dict[str, Any]]:
    """``detzip build --config CONFIG --json``: artifact name → its result."""
    cwd.mkdir(parents=True, exist_ok=True)
    done = detzip("build", "--config", str(config), "--json", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    artifacts = {a["name"]: a for a in summary["artifacts"]}
    for artifact in artifacts.values():
        assert artifact["sha256"] == hashlib.sha256(Path(artifact["path"]).read_bytes()).hexdigest()
    return artifacts


def test_project_build_of_a_crlf_checkout_matches_the_lf_one(
    origin: Path, tmp_path: Path, reference: Build
) -> None:
    lf = checkout_linux(origin, tmp_path / "lf")
    windows = checkout_autocrlf(origin, tmp_path / "crlf")
    assert (windows / "pyproject.toml").read_bytes() == crlf(PYPROJECT)
    expected = build_project(lf, tmp_path / "run-lf", "--no-cache")
    got = build_project(windows, tmp_path / "run-crlf", "--no-cache")
    assert expected["fn"]["sha256"] == reference.sha256  # the project door packs what function does
    assert got["fn"]["sha256"] == expected["fn"]["sha256"]


# -- the README's quick start from a Windows checkout -------------------------------------------

README = (ROOT / "README.md").read_text()


def quick_start_table() -> dict[str, str]:
    """The quick start's table: artifact name → the short sha256 it shows."""
    block = re.findall(r"```text\n(.*?)```", README, flags=re.S)[0]
    header, *rows = block.strip().splitlines()
    column = header.split().index("sha256")
    shown = {row.split()[0]: row.split()[column] for row in rows}
    assert set(shown) == {"deps", "api", "worker"}, shown
    assert all(re.fullmatch(r"[0-9a-f]{12}", sha) for sha in shown.values()), shown
    return shown


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize("config", [(), ("core.autocrlf=true",)], ids=["lf", "autocrlf"])
def test_service_example_from_a_checkout_builds_as_the_readme_shows(
    config: tuple[str, ...], tmp_path: Path
) -> None:
    service = tmp_path / "origin"
    shutil.copytree(ROOT / "examples" / "service", service,
                    ignore=shutil.ignore_patterns(".build", ".terraform*"))  # fmt: skip
    git(service, "init", "-q", "-b", "main")
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "the service")
    checkout = clone(service, tmp_path / "clone", *config)
    app = (checkout / "functions/api/app.py").read_bytes()
    if config:
        assert b"\r\n" in app
        assert app == crlf((ROOT / "examples/service/functions/api/app.py").read_bytes())
    else:
        assert b"\r\n" not in app
    assert status(checkout) == []
    built = build_project(checkout, tmp_path / "run", "--no-cache")
    assert {name: a["sha256"][:12] for name, a in built.items()} == quick_start_table()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["from-git", "crlf-checkout"])
def test_a_repository_of_thousands_of_files_does_not_hang(tmp_path: Path, how: str) -> None:
    """``--from-git`` wrote every blob request to ``git cat-file --batch`` before reading an
    answer: past about 1,500 files git's input pipe and its output pipe were both full, and
    the build waited forever (found by the 100 MB git benchmark). 4,000 files, 60 seconds."""
    repo = tmp_path / "repo"
    make_tree(repo, {f"pkg{i // 100}/m{i}.py": f"V = {i}\n" * 20 for i in range(4000)})
    (repo / "app.py").write_text("def handler(e, c):\n    return 1\n")
    git(repo, "init", "-q", "-b", "main")
    if how == "crlf-checkout":
        git(repo, "config", "core.autocrlf", "true")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "many")
    if how == "crlf-checkout":  # the working files rewritten with CRLF, as Windows's checkout
        for path in repo.rglob("*.py"):
            path.write_bytes(crlf(path.read_bytes()))
    args = ["--from-git", "HEAD"] if how == "from-git" else []
    out = tmp_path / "o.zip"
    done = subprocess.run(
        [sys.executable, "-m", "detzip", "function", str(repo), "-o", str(out), "--no-cache",
         *args], env=git_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as archive:
        assert len(archive.namelist()) >= 4001
