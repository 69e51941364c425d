"""A zip's members checked against what its central directory records.

Each member is inflated in bounded pieces (never whole: memory stays flat for any member) and
must give exactly the size and CRC-32 the central directory records, its compressed stream
ending exactly at its recorded compressed size — what pip's ``zipfile`` checks as it installs
(``Bad CRC-32``), and what copying a member's compressed bytes unread would otherwise take on
trust. Stored, deflate, bzip2 and lzma members are read (what ``zipfile``, and so pip, can
read); any other method, and an encrypted member, is refused. A member that inflates past its
recorded size has failed there; it is inflated further, without keeping anything, only to say
how large it is, and not past :data:`MEASURE`.
"""

from __future__ import annotations

import contextlib
import struct
import zipfile
from collections.abc import Callable, Iterator
from typing import Protocol

from detzip.zip.reader import LOCAL_SIGNATURE, Buffer

__all__ = ["MEASURE", "Broken", "Pieces", "verify"]

#: inflated bytes produced at most per step
OUT = 1 << 20
#: a member past its recorded size is inflated (and dropped) up to this many bytes, to say how
#: large it is: Lambda's limit for a function and its layers unzipped (a zip bomb stops here)
MEASURE = 262_144_000

#: methods pip's zipfile cannot read, by name (APPNOTE 4.4.5)
_METHODS = {1: "shrink", 2: "reduce", 3: "reduce", 4: "reduce", 5: "reduce", 6: "implode",
            9: "deflate64", 10: "PKWARE DCL implode", 18: "IBM TERSE", 19: "IBM LZ77",
            93: "zstandard", 94: "MP3", 95: "xz", 96: "JPEG", 97: "WavPack", 98: "PPMd",
            99: "AES encryption"}  # fmt: skip
_READABLE = "stored, deflate, bzip2 and lzma"
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_LZMA_EOS = 0x02  # general purpose flag: the lzma stream ends with an end marker


class Broken(Exception):
    """A member that is not what the central directory records; ``str`` says how (a phrase
    about "it", the member)."""


Pieces = Callable[[int, int], Iterator[bytes]]
"""``pieces(start, end)``: the buffer's bytes from ``start`` to ``end``, in bounded pieces."""


def verify(buffer: Buffer, info: zipfile.ZipInfo, pieces: Pieces) -> None:
    """Check one member (its local header, then its data inflated in bounded pieces) against
    ``info``, the central directory's record; :class:`Broken` says how it is not."""
    if info.flag_bits & 0x1:
        raise Broken("is encrypted")
    method = info.compress_type
    if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                      zipfile.ZIP_LZMA):  # fmt: skip
        name = _METHODS.get(method, "unknown")
        raise Broken(
            f"is compressed with method {method} ({name}), which Python's zipfile (and so "
            f"pip) cannot read: it reads {_READABLE}"
        )
    if method == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise Broken(
            f"is stored (not compressed) but records {info.compress_size:,} bytes compressed "
            f"and {info.file_size:,} unzipped"
        )
    start = _data_start(buffer, info)
    data = pieces(start, start + info.compress_size)
    if method == zipfile.ZIP_STORED:
        out: Iterator[bytes] = data
    elif method == zipfile.ZIP_DEFLATED:
        out = _inflate(data)
    elif method == zipfile.ZIP_BZIP2:
        import bz2

        out = _drain(bz2.BZ2Decompressor(), data, "bzip2", (OSError,), ends=True)
    else:
        out = _lzma(data, ends=bool(info.flag_bits & _LZMA_EOS))
    _check(out, info.file_size, info.CRC)


def _data_start(buffer: Buffer, info: zipfile.ZipInfo) -> int:
    """Where the member's data starts: after its local header, whose name must be the central
    directory's (as zipfile checks: "File name in directory and header differ")."""
    start = info.header_offset
    header = bytes(buffer[start : start + _LOCAL.size])
    if len(header) != _LOCAL.size or _LOCAL.unpack(header)[0] != LOCAL_SIGNATURE:
        raise Broken("has a damaged local header")
    fields = _LOCAL.unpack(header)
    flags, name_len, extra_len = int(fields[2]), int(fields[9]), int(fields[10])
    raw = bytes(buffer[start + _LOCAL.size : start + _LOCAL.size + name_len])
    name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
    if name != info.orig_filename:
        raise Broken(f"is named {name!r} in its local header")
    data = start + _LOCAL.size + name_len + extra_len
    if data + info.compress_size > len(buffer):
        raise Broken("runs past the end of the file")
    return data


def _check(out: Iterator[bytes], size: int, crc: int) -> None:
    """Count and CRC the inflated pieces; their total must be ``size`` and their CRC ``crc``."""
    from deflate import crc32  # libdeflate's: several times faster than zlib's

    done = 0
    running = 0
    for piece in out:
        done += len(piece)
        if done > size:
            _over(out, done, size)
        running = crc32(piece, running)
    if done != size:
        raise Broken(f"records {size:,} bytes unzipped but inflates to {done:,}")
    if running != crc:
        raise Broken(
            f"does not match its CRC-32 (recorded {crc:08x}, its content's is {running:08x})"
        )


def _over(out: Iterator[bytes], done: int, size: int) -> None:
    """A member already past its recorded size: measure it (nothing kept), up to MEASURE."""
    with contextlib.suppress(Broken):  # what it inflates to is the news, not how it ends
        for piece in out:
            done += len(piece)
            if done > MEASURE:
                break
    what = f"more than {MEASURE:,}" if done > MEASURE else f"{done:,}"
    raise Broken(
        f"records {size:,} bytes unzipped but inflates to {what} (a zip bomb, or a damaged file)"
    )


def _inflate(data: Iterator[bytes]) -> Iterator[bytes]:
    """A raw deflate stream inflated, at most :data:`OUT` bytes at a time; it must end exactly
    where its compressed bytes do."""
    import zlib

    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        for piece in data:
            while piece:
                if inflater.eof:
                    raise Broken(_trailing(len(piece), "deflate"))
                yield inflater.decompress(piece, OUT)
                piece = inflater.unconsumed_tail or inflater.unused_data
        yield inflater.flush()  # (all input taken: what is left is at most one match)
    except zlib.error as exc:
        raise Broken(f"is not a valid deflate stream ({exc})") from None
    if not inflater.eof:
        raise Broken("has a deflate stream cut short (truncated)")


def _drain(
    engine: _Decompressor,
    data: Iterator[bytes],
    what: str,
    errors: tuple[type[Exception], ...],
    *,
    ends: bool,
) -> Iterator[bytes]:
    """A bzip2 or lzma stream decompressed, at most :data:`OUT` bytes at a time; with ``ends``
    it must end (its end marker) exactly where its compressed bytes do."""
    try:
        for piece in data:
            if engine.eof:
                raise Broken(_trailing(len(piece), what))
            yield engine.decompress(piece, OUT)
            while not engine.eof and not engine.needs_input:
                yield engine.decompress(b"", OUT)
            if engine.eof and engine.unused_data:
                raise Broken(_trailing(len(engine.unused_data), what))
    except errors as exc:
        raise Broken(f"is not a valid {what} stream ({exc})") from None
    if ends and not engine.eof:
        raise Broken(f"has a {what} stream cut short (truncated)")


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _lzma(data: Iterator[bytes], *, ends: bool) -> Iterator[bytes]:
    """zipfile's lzma (APPNOTE 5.8.8): a version (2 bytes), the properties' length (2 bytes),
    the properties (lc, lp, pb and the dictionary size), then a raw LZMA1 stream."""
    import lzma

    head = b""
    for piece in data:
        head += piece
        if len(head) >= 4 and len(head) >= 4 + struct.unpack_from("<H", head, 2)[0]:
            break
    if len(head) < 9 or struct.unpack_from("<H", head, 2)[0] != 5 or head[4] >= 9 * 5 * 5:
        raise Broken("has a damaged lzma header")
    lc, lp, pb = head[4] % 9, head[4] // 9 % 5, head[4] // 45
    dict_size = int.from_bytes(head[5:9], "little")
    try:
        engine = lzma.LZMADecompressor(
            lzma.FORMAT_RAW,
            filters=[{"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": lp,
                      "pb": pb}],
        )  # fmt: skip
    except lzma.LZMAError as exc:
        raise Broken(f"has a damaged lzma header ({exc})") from None

    def rest() -> Iterator[bytes]:
        yield head[9:]
        yield from data

    yield from _drain(engine, rest(), "lzma", (lzma.LZMAError,), ends=ends)


def _trailing(count: int, what: str) -> str:
    return f"has {count:,} bytes or more after its {what} stream ends (trailing bytes)"
