"""Reading members of an existing zip as raw compressed streams (for diff and for wheels), and
its central directory, read fast where Python's ``zipfile`` would read it the same way."""

from __future__ import annotations

import mmap
import os
import struct
from typing import NamedTuple, Protocol

from detzip.errors import DetzipError

__all__ = [
    "LOCAL_SIGNATURE",
    "Buffer",
    "Listed",
    "Located",
    "central_directory",
    "data_offset",
    "local_header",
    "raw_bytes",
]

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_LOCAL_LENGTHS = struct.Struct("<I22xHH")  # its signature, name and extra field lengths
LOCAL_SIGNATURE = 0x04034B50
Buffer = bytes | memoryview | mmap.mmap

#: a central directory record's fields zipfile reads (made-by, time, date, disk and internal
#: attributes skipped)
_CENTRAL = struct.Struct("<I2xHHH4xIIIHHH4xII")
_CENTRAL_SIZE = 46
_CENTRAL_SIGNATURE = 0x02014B50
_END = struct.Struct("<IHHHHIIH")
_END_SIGNATURE = b"PK\x05\x06"
_LOCATOR64_SIGNATURE = b"PK\x06\x07"
_LOCATOR64_SIZE = 20
_UTF8 = 0x800
_MAX_EXTRACT_VERSION = 63  # zipfile's: a member needing a later version is not read
_ZIP64_EXTRA = 1
_SEP = os.sep if os.sep != "/" else None


class Listed(NamedTuple):
    """One central directory record, as :class:`zipfile.ZipInfo` reads it (its fields'
    names are ZipInfo's)."""

    filename: str
    flag_bits: int
    compress_type: int
    CRC: int
    compress_size: int
    file_size: int
    header_offset: int
    external_attr: int


def central_directory(buffer: Buffer) -> list[Listed] | None:
    """The zip's central directory records, in order — or None unless it is plainly laid out
    (no archive comment, no ZIP64, nothing before the first member, names that decode, no
    ZIP64 extra field, every record whole): then ``zipfile`` reads exactly these names, sizes,
    CRC-32s and offsets, about five times slower (it makes a ZipInfo of each; a layer of
    70,000 members is read twice). For anything else, ask ``zipfile``."""
    end = len(buffer) - _END.size
    if end < 0 or buffer[end : end + 4] != _END_SIGNATURE:
        return None
    fields = _END.unpack_from(buffer, end)
    size, offset, comment = fields[5], fields[6], fields[7]
    if comment or offset + size != end:  # a comment, or bytes before the first member
        return None
    locator = end - _LOCATOR64_SIZE
    if locator >= 0 and buffer[locator : locator + 4] == _LOCATOR64_SIGNATURE:
        return None  # ZIP64
    listed: list[Listed] = []
    unpack = _CENTRAL.unpack_from
    at = offset
    try:
        while at < end:
            (signature, version, flags, method, crc, csize, usize, name_len, extra_len,
             comment_len, attributes, header) = unpack(buffer, at)  # fmt: skip
            if signature != _CENTRAL_SIGNATURE or version > _MAX_EXTRACT_VERSION:
                return None
            start = at + _CENTRAL_SIZE
            at = start + name_len + extra_len + comment_len
            if at > end:
                return None
            raw = bytes(buffer[start : start + name_len])
            if raw.isascii():  # (cp437 and UTF-8 agree on ASCII; decoding cp437 is slow)
                name = raw.decode("ascii")
            else:
                name = raw.decode("utf-8") if flags & _UTF8 else raw.decode("cp437")
            if (
                "\0" in name  # (zipfile cuts the name there)
                or (_SEP is not None and _SEP in name)  # (zipfile makes it a "/")
                or (extra_len and _zip64_or_damaged(buffer, start + name_len, extra_len))
            ):
                return None
            listed.append(Listed(name, flags, method, crc, csize, usize, header, attributes))
    except (struct.error, UnicodeDecodeError):
        return None
    return listed


def _zip64_or_damaged(buffer: Buffer, start: int, length: int) -> bool:
    """Whether an extra field holds a ZIP64 record or is malformed (zipfile reads both
    itself: ZIP64 sizes replace the record's, a malformed one is an error)."""
    extra = bytes(buffer[start : start + length])
    while len(extra) >= 4:
        kind, size = struct.unpack_from("<HH", extra)
        if kind == _ZIP64_EXTRA or size + 4 > len(extra):
            return True
        extra = extra[size + 4 :]
    return False


class Located(Protocol):
    """What :func:`data_offset` needs of a member's record (a ZipInfo, a :class:`Listed`)."""

    @property
    def filename(self) -> str:
        """The member's name as the central directory records it."""
        ...

    @property
    def header_offset(self) -> int:
        """Where the member's local header starts."""
        ...

    @property
    def compress_size(self) -> int:
        """How many compressed bytes follow the local header."""
        ...


def data_offset(buffer: Buffer, info: Located, origin: str) -> int:
    """Where a member's compressed bytes start, from its local header (checked)."""
    start = info.header_offset
    try:
        signature, name_len, extra_len = _LOCAL_LENGTHS.unpack_from(buffer, start)
    except struct.error:
        signature = None
    if signature != LOCAL_SIGNATURE or start < 0:
        raise DetzipError(
            f"the local header of {info.filename!r} is damaged; re-download it", origin
        )
    offset: int = start + _LOCAL.size + name_len + extra_len
    if offset + info.compress_size > len(buffer):
        raise DetzipError(
            f"{info.filename!r} runs past the end of the file; re-download it", origin
        )
    return offset


def local_header(buffer: Buffer, info: Located, origin: str) -> bytes:
    """The member's local header with its name and extra field."""
    return bytes(buffer[info.header_offset : data_offset(buffer, info, origin)])


def raw_bytes(buffer: Buffer, info: Located, origin: str) -> bytes:
    """The member's compressed bytes, exactly as stored."""
    offset = data_offset(buffer, info, origin)
    return bytes(buffer[offset : offset + info.compress_size])
