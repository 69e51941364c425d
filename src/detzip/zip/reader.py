"""Reading members of an existing zip as raw compressed streams (for diff and for wheels)."""

from __future__ import annotations

import mmap
import struct
import zipfile

from detzip.errors import DetzipError

__all__ = ["LOCAL_SIGNATURE", "Buffer", "data_offset", "local_header", "raw_bytes"]

_LOCAL = struct.Struct("<IHHHHHIIIHH")
LOCAL_SIGNATURE = 0x04034B50
Buffer = bytes | memoryview | mmap.mmap


def data_offset(buffer: Buffer, info: zipfile.ZipInfo, origin: str) -> int:
    """Where a member's compressed bytes start, from its local header (checked)."""
    start = info.header_offset
    header = bytes(buffer[start : start + _LOCAL.size])
    if len(header) != _LOCAL.size or _LOCAL.unpack(header)[0] != LOCAL_SIGNATURE:
        raise DetzipError(
            f"the local header of {info.filename!r} is damaged; re-download it", origin
        )
    name_len, extra_len = struct.unpack_from("<HH", header, 26)
    offset: int = start + _LOCAL.size + name_len + extra_len
    if offset + info.compress_size > len(buffer):
        raise DetzipError(
            f"{info.filename!r} runs past the end of the file; re-download it", origin
        )
    return offset


def local_header(buffer: Buffer, info: zipfile.ZipInfo, origin: str) -> bytes:
    """The member's local header with its name and extra field."""
    return bytes(buffer[info.header_offset : data_offset(buffer, info, origin)])


def raw_bytes(buffer: Buffer, info: zipfile.ZipInfo, origin: str) -> bytes:
    """The member's compressed bytes, exactly as stored."""
    offset = data_offset(buffer, info, origin)
    return bytes(buffer[offset : offset + info.compress_size])
