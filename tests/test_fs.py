"""Atomic writes (detzip._fs), imported directly: an output is replaced only when complete,
folders are created, no temporaries are left, and an output that is a folder is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from detzip import _fs
from detzip.errors import DetzipError


def test_atomic_output_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.zip"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), _fs.atomic_output(target) as handle:
        handle.write(b"half")
        raise RuntimeError
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    _fs.write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and list(tmp_path.iterdir()) == [target]


def test_cache_writes_create_folders_and_leave_no_temporaries(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "memo.json"
    _fs.write_file(deep, b"{}")
    _fs.copy_file(deep, tmp_path / "c" / "copy.json")
    assert deep.read_bytes() == (tmp_path / "c" / "copy.json").read_bytes() == b"{}"
    assert not list(tmp_path.rglob(f"*{_fs.TEMP_SUFFIX}"))


def test_output_that_is_a_folder_names_the_output_option(tmp_path: Path) -> None:
    with pytest.raises(DetzipError) as raised, _fs.atomic_output(tmp_path):
        pass
    assert "directory" in str(raised.value)
