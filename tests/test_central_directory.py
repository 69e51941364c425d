"""The fast central directory reader: exactly what zipfile reads, or None (then zipfile)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest

from detzip.zip.reader import central_directory


def _zip(names: list[str], *, comment: bytes = b"", extra: bytes = b"") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, name in enumerate(names):
            info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED
            info.external_attr = (0o755 if i % 3 else 0o644) << 16
            info.extra = extra
            archive.writestr(info, f"content {i}\n".encode() * (i + 1))
        archive.comment = comment
    return out.getvalue()


def _zipfile_view(data: bytes) -> list[tuple[object, ...]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [
            (i.filename, i.flag_bits, i.compress_type, i.CRC, i.compress_size, i.file_size,
             i.header_offset, i.external_attr)
            for i in archive.infolist()
        ]  # fmt: skip


NAMES = ["pkg/__init__.py", "pkg/été.py", "pkg/data/x.json", "pkg-1.0.dist-info/RECORD"]


@pytest.mark.parametrize("extra", [b"", b"UT\x05\x00\x01\x00\x00\x00\x00"])
def test_a_plain_zip_reads_as_zipfile_reads_it(extra: bytes) -> None:
    data = _zip(NAMES, extra=extra)
    listed = central_directory(data)
    assert listed is not None
    assert [tuple(item) for item in listed] == _zipfile_view(data)
    assert central_directory(memoryview(data)) == listed


def test_a_cp437_name_reads_as_zipfile_reads_it() -> None:
    data = _zip(["pkg/abc.py"]).replace(b"pkg/abc.py", b"pkg/\x82bc.py")  # (no flag: cp437)
    listed = central_directory(data)
    assert listed is not None and listed[0].filename == "pkg/ébc.py"
    assert [tuple(item) for item in listed] == _zipfile_view(data)


@pytest.mark.parametrize(
    "case", ["comment", "prefixed", "zip64 extra", "truncated", "not a zip", "empty"]
)
def test_anything_but_a_plain_layout_is_left_to_zipfile(case: str) -> None:
    makers: dict[str, Callable[[], bytes]] = {
        "comment": lambda: _zip(NAMES, comment=b"hello"),
        "prefixed": lambda: b"#!/bin/sh\n" + _zip(NAMES),
        "zip64 extra": lambda: _zip(NAMES, extra=b"\x01\x00\x00\x00"),
        "truncated": lambda: _zip(NAMES)[:-40] + _zip(NAMES)[-22:],
        "not a zip": lambda: b"x" * 100,
        "empty": lambda: b"",
    }
    data = makers[case]()
    assert central_directory(data) is None
