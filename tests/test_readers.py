"""Validity by independent readers: Python zipfile, Info-ZIP unzip, libarchive bsdtar."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from detzip import build_function
from detzip.zip import writer as zipwriter
from detzip.zip.entries import Entry
from detzip.zip.options import ZipOptions
from detzip.zip.writer import write_zip

from .conftest import make_tree, require_tool

FILES: dict[str, str | bytes] = {
    "handler.py": "def handler(e, c):\n    return 1\n" * 50,
    "pkg/__init__.py": "",
    "pkg/data/\u00fcber \u65e5\u672c.txt": "unicode name\n",
    "pkg/blob.bin": os.urandom(5000),
    "bin/tool": "#!/bin/sh\necho tool\n",
    "empty/": "",
}


@pytest.fixture(params=["deflate", "zlib", "store", "zip64"])
def sample(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_tree(tmp_path / "src", FILES, executable={"bin/tool"})
    if request.param == "zip64":
        monkeypatch.setattr(zipwriter, "ZIP64_LIMIT", 1000)
        monkeypatch.setattr(zipwriter, "COUNT_LIMIT", 3)
        return build_function(root, tmp_path / "out.zip").path
    return build_function(root, tmp_path / "out.zip", compressor=request.param).path


def test_python_zipfile(sample: Path) -> None:
    with zipfile.ZipFile(sample) as archive:
        assert archive.testzip() is None
        assert archive.read("pkg/data/\u00fcber \u65e5\u672c.txt") == b"unicode name\n"


def test_infozip_unzip(sample: Path, tmp_path: Path) -> None:
    unzip = require_tool("unzip")
    result = subprocess.run([unzip, "-t", str(sample)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout
    out = tmp_path / "x"
    subprocess.run([unzip, "-q", str(sample), "-d", str(out)], check=True)
    assert (out / "bin" / "tool").stat().st_mode & 0o777 == 0o755
    assert (out / "handler.py").stat().st_mode & 0o777 == 0o644
    assert (out / "pkg" / "data").stat().st_mode & 0o777 == 0o755
    assert (out / "empty").is_dir()
    assert (out / "pkg" / "data" / "\u00fcber \u65e5\u672c.txt").read_text() == "unicode name\n"


def test_libarchive_bsdtar(sample: Path, tmp_path: Path) -> None:
    bsdtar = require_tool("bsdtar")
    listing = subprocess.run(
        [bsdtar, "-tvf", str(sample)], capture_output=True, text=True, check=True
    )
    lines = listing.stdout.splitlines()
    assert len(lines) == 6  # files and the one empty folder
    assert any(line.startswith("-rwxr-xr-x") and line.endswith("bin/tool") for line in lines)
    assert any(line.startswith("drwxr-xr-x") and line.endswith("empty/") for line in lines)
    out = tmp_path / "b"
    out.mkdir()
    subprocess.run([bsdtar, "-xf", str(sample), "-C", str(out)], check=True)
    assert (out / "handler.py").read_text() == FILES["handler.py"]
    assert (out / "pkg" / "blob.bin").read_bytes() == FILES["pkg/blob.bin"]


def test_precompressed_members_read_by_all(tmp_path: Path) -> None:
    """A member copied from another zip (as the layer builder does) is valid for every reader."""
    with zipfile.ZipFile(tmp_path / "src.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("m.py", "value = 42\n" * 100)
    from detzip.zip.entries import Precompressed
    from detzip.zip.reader import raw_bytes

    with zipfile.ZipFile(tmp_path / "src.zip") as archive:
        info = archive.getinfo("m.py")
    raw = raw_bytes((tmp_path / "src.zip").read_bytes(), info, "src.zip")
    member = Precompressed(
        info.compress_type, info.CRC, info.compress_size, info.file_size, lambda: raw
    )
    path = write_zip([Entry("python/m.py", member)], tmp_path / "out.zip", ZipOptions()).path
    for tool, args in (("unzip", ["-t"]), ("bsdtar", ["-tf"])):
        exe = require_tool(tool)
        subprocess.run([exe, *args, str(path)], check=True, capture_output=True)
    with zipfile.ZipFile(path) as archive:
        assert archive.read("python/m.py") == b"value = 42\n" * 100
