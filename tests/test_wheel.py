"""Wheel installation (detzip.inputs.wheel), imported directly: files placed as pip places them,
a RECORD that lists exactly what is installed, members copied precompressed and streamed in
chunks, gitignore-style excludes, and members outside the layer refused."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from detzip.deps.store import StoredWheel
from detzip.errors import DetzipError
from detzip.inputs.wheel import compile_excludes, install
from detzip.zip.entries import Precompressed
from detzip.zip.writer import write_zip

from .wheelfactory import Repo, Wheel, sha256_file


class _File:
    def __init__(self, path: Path, built: bool = False) -> None:
        self.path = path
        self.built = built
        self.sha256 = sha256_file(path)


def _write(tmp_path: Path, wheels: Sequence[_File], prefix: str = "python/") -> zipfile.ZipFile:
    out = tmp_path / "out.zip"
    write_zip(install(wheels, prefix), out)
    return zipfile.ZipFile(out)


def test_install_places_files_as_pip_does(repo: Repo, tmp_path: Path) -> None:
    alpha = next(p for p in repo.packages if p.name == "alpha").wheels[0]
    archive = _write(tmp_path, [_File(alpha)])
    names = archive.namelist()
    assert "python/alpha/__init__.py" in names
    assert "python/share/alpha/readme.txt" in names  # .data/data → the root
    assert not any("alpha-cli" in n for n in names)  # scripts are not installed
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)  # default excludes
    assert archive.read("python/alpha-1.0.0.dist-info/INSTALLER") == b"detzip\n"


def test_install_record_lists_exactly_the_installed_files(repo: Repo, tmp_path: Path) -> None:
    alpha = next(p for p in repo.packages if p.name == "alpha").wheels[0]
    archive = _write(tmp_path, [_File(alpha)], prefix="")
    rows = list(csv.reader(io.StringIO(archive.read("alpha-1.0.0.dist-info/RECORD").decode())))
    listed = {row[0] for row in rows}
    assert listed == {n for n in archive.namelist() if not n.endswith("/")}
    for path, digest, size in rows:
        if digest:
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode() and int(size) == len(data)


def test_install_copies_members_precompressed_unless_built_here(repo: Repo, tmp_path: Path) -> None:
    gamma = next(p for p in repo.packages if p.name == "gamma").wheels[0]
    copied = install([_File(gamma)], "")
    rebuilt = install([_File(gamma, built=True)], "")
    assert isinstance(next(e for e in copied if e.name == "gamma.py").source, Precompressed)
    assert not isinstance(next(e for e in rebuilt if e.name == "gamma.py").source, Precompressed)


def test_wheel_members_stream_in_chunks_read_from_the_wheel_when_written(tmp_path: Path) -> None:
    from detzip.inputs import wheel as wheels

    big = os.urandom(1 << 20) * 3 + bytes(3 << 20)  # 6 MB, several pieces once deflated
    built = Wheel("big", "1.0", files={"big/lib.so": big, "big/__init__.py": ""}).build(tmp_path)
    entries = install([_File(built)], "python/")
    member = next(e.source for e in entries if e.name == "python/big/lib.so")
    assert isinstance(member, Precompressed) and member.archive is not None
    pieces = list(member.streamed() or ())
    assert len(pieces) > 1 and max(map(len, pieces)) <= wheels.CHUNK
    assert b"".join(pieces) == member.raw() and len(member.raw()) == member.compressed_size
    archive = _write(tmp_path, [_File(built)])
    assert archive.read("python/big/lib.so") == big


def test_install_excludes_are_gitignore_patterns(repo: Repo, tmp_path: Path) -> None:
    alpha = next(p for p in repo.packages if p.name == "alpha").wheels[0]
    kept = {e.name for e in install([_File(alpha)], "", compile_excludes(["alpha/tests/"], True))}
    assert "alpha/__init__.py" in kept and not any("tests" in p for p in kept)
    with_bytecode = {e.name for e in install([_File(alpha)], "", compile_excludes((), False))}
    assert "alpha/__pycache__/__init__.cpython-312.pyc" in with_bytecode


def test_install_refuses_a_member_outside_the_layer(tmp_path: Path) -> None:
    bad = Wheel("evil", "1.0", files={"../escape.py": "x"}).build(tmp_path)
    with pytest.raises(DetzipError, match="outside the layer"):
        install([_File(bad)], "python/")


def test_stored_wheel_satisfies_the_install_protocol(repo: Repo, tmp_path: Path) -> None:
    gamma = next(p for p in repo.packages if p.name == "gamma").wheels[0]
    stored = StoredWheel("gamma", "3.1", gamma.name, sha256_file(gamma), gamma)
    assert [e.name for e in install([stored], "")] == [e.name for e in install([_File(gamma)], "")]
    assert zipfile.is_zipfile(gamma)


def test_a_stored_wheel_with_a_verdict_is_listed_fast_and_installs_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detzip.inputs import wheel as wheels
    from detzip.inputs._verify import Verdict, remember

    files = {f"fast/m{i}.py": f"x = {i}\n" * (i + 1) for i in range(30)}
    built = Wheel("fast", "1.0", files=files).build(tmp_path / "built")
    digest = sha256_file(built)
    stored = tmp_path / "store" / digest / built.name
    stored.parent.mkdir(parents=True)
    stored.write_bytes(built.read_bytes())
    plain = install([_File(built)], "python/")  # no verdict beside it: zipfile, checked now
    with zipfile.ZipFile(stored) as archive:
        infos = archive.infolist()
    remember(stored, Verdict(digest, len(infos), sum(i.file_size for i in infos)))
    listed: list[object] = []
    real = wheels._Listing.__init__

    def spy(self: object, *args: object) -> None:
        listed.append(self)
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(wheels._Listing, "__init__", spy)
    fast = install([_File(stored)], "python/")
    assert listed  # the verdict kept: the fast reader listed it
    assert [(e.name, e.executable, e.unzipped_hint) for e in fast] == [
        (e.name, e.executable, e.unzipped_hint) for e in plain
    ]
    one = write_zip(fast, tmp_path / "fast.zip").sha256
    assert one == write_zip(plain, tmp_path / "plain.zip").sha256
