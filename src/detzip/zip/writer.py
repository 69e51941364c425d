"""The canonical zip writer.

Reads top to bottom: entries are put in canonical order (names sorted by their UTF-8 bytes; a
folder has an entry only when it is empty), compressed in parallel in a bounded window, and
written in order, every header field set explicitly:

- DOS time from the options (1980-01-01 by default); no extra fields except ZIP64 when needed;
- "made by" Unix (3), version 2.0 (4.5 for an entry or archive that needs ZIP64);
- mode 0o100644 or 0o100755 for files, 0o40755 plus the MS-DOS directory bit for directories;
- general purpose flags: only bit 11 (UTF-8), set exactly when the name is not ASCII;
- no data descriptors, comments or internal attributes;
- a member is stored when its deflated form is not smaller than the original;
- a member that arrives compressed (a wheel's) is copied as it is, or with ``recompress``
  inflated, checked against its CRC-32 and size, and compressed like any other.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from detzip._datatype import datatype, field
from detzip._fs import atomic_output
from detzip.errors import DetzipError, Setting
from detzip.zip import compressors
from detzip.zip.entries import DEFLATED, STORED, Entry, FromBytes, FromFile, Precompressed
from detzip.zip.options import ZipOptions, dos_datetime

__all__ = [
    "BATCH_BYTES",
    "BATCH_ENTRIES",
    "COUNT_LIMIT",
    "FLAG_UTF8",
    "GATHER_BYTES",
    "MADE_BY_UNIX",
    "MODE_DIR",
    "MODE_EXEC",
    "MODE_FILE",
    "MSDOS_DIR",
    "THREAD_BYTES",
    "VERSION_DEFAULT",
    "VERSION_ZIP64",
    "WINDOW_BYTES",
    "ZIP64_LIMIT",
    "WrittenZip",
    "canonical_order",
    "write_zip",
]

# Beyond these a record needs ZIP64 (module globals so tests can exercise ZIP64 cheaply).
ZIP64_LIMIT = 0xFFFFFFFF
COUNT_LIMIT = 0xFFFF

MADE_BY_UNIX = 3
VERSION_DEFAULT = 20
VERSION_ZIP64 = 45
FLAG_UTF8 = 0x800
MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_DIR = 0o40755
MSDOS_DIR = 0x10

# How much input may be read and compressed ahead of the writer, and how entries are batched.
WINDOW_BYTES = 32 << 20
BATCH_BYTES = 1 << 20
BATCH_ENTRIES = 64
#: a batch is prepared on a thread when its entries average this many bytes; smaller ones are
#: prepared by the writer's own thread, between the threads' batches. A small file's reading and
#: compressing is a few calls that each release and retake the GIL, and threads queueing for it
#: made a tree of small files slower than one thread (20,000 files of 300 bytes: 0.48 s on two
#: threads, 0.31 s on one); from about 1 KiB on, compressing is long enough for threads to pay.
THREAD_BYTES = 1 << 10
#: writes smaller than this are gathered into one of this size before they reach the file
GATHER_BYTES = 1 << 20

#: the most a DEFLATE stream can expand: 258 bytes from one length/distance pair of 2 bits
_MAX_RATIO = 1032

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_EOCD = struct.Struct("<IHHHHIIH")
_EOCD64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")


@datatype
class WrittenZip:
    """What was written: the file, its digest, the totals a size check needs, and the sha256
    of each file entry's content as it was read to be zipped (by name): one read per file
    gives both the zip and what a key needs, and shows whether a file changed since it was
    keyed."""

    path: Path
    sha256: str
    size: int
    unzipped_size: int
    entries: int
    digests: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def base64sha256(self) -> str:
        """Standard base64 of the raw SHA-256 digest: Terraform's ``filebase64sha256``."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode("ascii")


class _Member:
    """An entry's bytes prepared in memory (read, CRC'd, compressed) to go into the archive.
    (A plain class: one is made per file, and a data type's generic ``__init__`` costs more.)"""

    __slots__ = ("crc32", "data", "method", "sha256", "size")

    def __init__(
        self,
        method: int,
        crc32: int,
        size: int,
        data: bytes | bytearray | memoryview,
        sha256: str | None = None,  # of a file's content, as read now
    ) -> None:
        self.method = method
        self.crc32 = crc32
        self.size = size
        self.data = data
        self.sha256 = sha256


def canonical_order(entries: Iterable[Entry]) -> list[Entry]:
    """Entries sorted by UTF-8 name; conflicts are errors.

    A folder gets an entry of its own only when one is given (an empty folder): every reader
    creates the folders a file's name implies, so an entry for each would only add bytes
    (format 1 wrote one for every parent; format 2 does not)."""
    by_name: dict[str, Entry] = {}
    for entry in entries:
        previous = by_name.get(entry.name)
        if previous is not None and not (previous.is_dir and entry.is_dir):
            raise DetzipError(
                f"two inputs map to the archive name {entry.name!r}: {_origin(previous)} and "
                f"{_origin(entry)}; exclude or rename one of them"
            )
        by_name[entry.name] = entry
    implied: dict[str, str] = {}  # folder name (with "/") -> a name inside it
    for name in by_name:  # (the parents innermost first, as slices: 70,000 names add up)
        end = name.rfind("/", 0, len(name) - 1)
        while end > 0:
            parent = name[: end + 1]
            if parent in implied:
                break  # and its own parents with it
            implied[parent] = name
            end = name.rfind("/", 0, end)
    for folder, inside in implied.items():
        if folder[:-1] in by_name:
            raise DetzipError(
                f"{folder[:-1]!r} is both a file ({_origin(by_name[folder[:-1]])}) and a "
                f"directory (of {inside!r}); exclude or rename one of them"
            )
    for name, entry in by_name.items():
        if entry.source is None and name[:-1] in by_name:  # a directory
            raise DetzipError(
                f"{name[:-1]!r} is both a file ({_origin(by_name[name[:-1]])}) and a directory; "
                "exclude or rename one of them"
            )
    # names are valid Unicode (checked: no lone surrogates), whose code point order is the
    # order of their UTF-8 bytes: sorting the strings sorts the bytes, without encoding them
    return [by_name[name] for name in sorted(by_name)]


def _origin(entry: Entry) -> str:
    match entry.source:
        case FromFile(path=path):
            return str(path)
        case None:
            return "a directory"
        case FromBytes(origin=origin) | Precompressed(origin=origin) if origin:
            return origin
        case _:
            return "generated content"


def write_zip(
    entries: Iterable[Entry],
    output: str | os.PathLike[str],
    options: ZipOptions | None = None,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WrittenZip:
    """Write ``entries`` as a canonical zip at ``output`` (atomically) and describe the result.

    ``progress``, if given, is called with (bytes of input done, bytes in all) as entries are
    written. The result holds each file entry's sha256 as it was read (:attr:`WrittenZip.digests`).
    """
    options = options or ZipOptions()
    ordered = canonical_order(entries)
    compress = compressors.get(options.compressor, options.level)
    path = Path(output)
    total = sum(entry.size_hint for entry in ordered) if progress else 0
    done = 0
    digests: dict[str, str] = {}
    with atomic_output(path) as handle:
        sink = _Sink(handle)
        writer = _ArchiveWriter(sink, options)
        members = _members(ordered, compress, options.recompress, workers or _cpu_count())
        for entry, member in members:
            if member is not None and member.sha256 is not None:
                digests[entry.name] = member.sha256
            writer.add(entry, member)
            if progress is not None:
                done += entry.size_hint
                progress(done, total)
        writer.finish()
    return WrittenZip(
        path, sink.sha256.hexdigest(), sink.offset, writer.unzipped, writer.count, digests
    )


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _members(
    ordered: Sequence[Entry],
    compress: compressors.Compress | None,
    recompress: bool,
    workers: int,
) -> Iterable[tuple[Entry, _Member | None]]:
    """Each entry with its bytes, in order; batches are prepared ahead on ``workers`` threads.

    An entry with nothing to prepare (a directory, a member copied as it is) comes with None:
    the writer takes it from the entry as it writes it (so a wheel's members cost no thread
    hand-off and are read only when written)."""
    batches = _batches(ordered, recompress)
    if workers <= 1:
        for batch, work, _ in batches:
            if work:
                yield from zip(batch, _prepare_batch(batch, compress, recompress), strict=True)
            else:
                yield from _unprepared(batch)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detzip-compress")
    pending: deque[tuple[list[Entry], Future[list[_Member]] | None, int, bool]] = deque()
    in_flight = 0

    def ready(
        batch: list[Entry], future: Future[list[_Member]] | None, work: bool
    ) -> Iterable[tuple[Entry, _Member | None]]:
        if future is not None:
            return zip(batch, future.result(), strict=True)
        if work:  # a batch of small files: prepared here, now (see THREAD_BYTES)
            return zip(batch, _prepare_batch(batch, compress, recompress), strict=True)
        return _unprepared(batch)

    try:
        for batch, work, weight in batches:
            while pending and (in_flight + weight > WINDOW_BYTES or len(pending) >= 4 * workers):
                done, future, done_weight, done_work = pending.popleft()
                in_flight -= done_weight
                yield from ready(done, future, done_work)
            threaded = work and weight >= THREAD_BYTES * len(batch)
            prepared = (
                pool.submit(_prepare_batch, batch, compress, recompress) if threaded else None
            )
            pending.append((batch, prepared, weight, work))
            in_flight += weight
        while pending:
            done, future, _, done_work = pending.popleft()
            yield from ready(done, future, done_work)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _unprepared(batch: list[Entry]) -> Iterable[tuple[Entry, _Member | None]]:
    return ((entry, None) for entry in batch)


def _batches(ordered: Sequence[Entry], recompress: bool) -> list[tuple[list[Entry], bool, int]]:
    """Consecutive entries grouped so that each task is worth handing to a thread, each batch
    with whether it has work to do (a run of entries with nothing to prepare is one batch) and
    the bytes preparing it holds (0 if none: see :func:`_held`)."""
    batches: list[tuple[list[Entry], bool, int]] = []
    current: list[Entry] = []
    weight = 0
    work = False
    for entry in ordered:
        source = entry.source
        needed = source is not None and (recompress or not isinstance(source, Precompressed))
        if current and needed != work:
            batches.append((current, work, weight))
            current, weight = [], 0
        work = needed
        current.append(entry)
        if needed:
            weight += _held(entry, recompress)
            if weight >= BATCH_BYTES or len(current) >= BATCH_ENTRIES:
                batches.append((current, work, weight))
                current, weight = [], 0
    if current:
        batches.append((current, work, weight))
    return batches


def _held(entry: Entry, recompress: bool) -> int:
    """The bytes preparing ``entry`` holds in memory until it is written: its inflated and
    compressed bytes for a member recompressed, else its size. (A member copied as it is is
    not prepared: it is read as it is written.)"""
    source = entry.source
    if isinstance(source, FromFile):  # (the usual one, first: a tree's every file)
        return source.size_hint
    if isinstance(source, Precompressed) and recompress:
        return 2 * source.size  # inflated, and libdeflate's output buffer while compressing
    return entry.size_hint


def _prepare_batch(
    batch: Sequence[Entry], compress: compressors.Compress | None, recompress: bool
) -> list[_Member]:
    return [_prepare(entry, compress, recompress) for entry in batch]


def _prepare(entry: Entry, compress: compressors.Compress | None, recompress: bool) -> _Member:
    """An entry's bytes read, CRC'd and compressed: a file's, bytes', or (``recompress``) a
    precompressed member's inflated and checked."""
    source = entry.source
    content: bytes | bytearray
    digest: str | None = None  # (a file's, as read now)
    if isinstance(source, FromFile):  # (the usual one, first: a tree's every file)
        try:
            content = _read(source.path, source.size_hint)
        except OSError as exc:
            raise DetzipError(
                f"cannot read ({exc.strerror}); fix its permissions or exclude it", source.path
            ) from None
        digest = hashlib.sha256(content).hexdigest()
        crc = _crc32(content)
    elif isinstance(source, Precompressed):
        content = _inflated(source, entry.name)
        crc = source.crc32  # (checked against the inflated bytes)
    elif isinstance(source, FromBytes):
        content = source.data
        crc = _crc32(content)
    else:
        raise AssertionError(entry.name)  # (directories are not prepared)
    if compress is not None and content:
        packed = compress(content)
        if len(packed) < len(content):
            return _Member(DEFLATED, crc, len(content), packed, digest)
    return _Member(STORED, crc, len(content), content, digest)


def _read(path: Path, size: int | None = None) -> bytes:
    """The file's bytes, read to its end: ``os.read`` of the size it says (a third fewer CPU
    cycles than ``open().read()``, which was a tenth of a build's reading and hashing), then
    reads until one returns nothing — a short read is not always the end (Linux returns at most
    0x7ffff000 bytes per read).

    ``size``, if given, is the size the walk saw: it stands for ``fstat``'s. A first read of
    exactly the size said is then the whole file (one that grew meanwhile gives more, one that
    shrank gives less: both read on), so a small file costs open, read, close: two syscalls in
    five fewer, a sixth of a 200,000-file tree's reading."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if size is None:
            size = os.fstat(fd).st_size
        data = os.read(fd, size + 1)
        if len(data) == size < _WHOLE_READ:
            return data
        pieces = [data]
        done = len(data)
        while piece := os.read(fd, max(1 << 20, size + 1 - done)):
            pieces.append(piece)
            done += len(piece)
        return data if len(pieces) == 1 else b"".join(pieces)
    finally:
        os.close(fd)


#: below this, a read returns all it is asked for that the file holds (Linux caps one read at
#: 0x7ffff000 bytes, macOS and Windows at 2 GiB - 1): a first read of exactly the size said ends it
_WHOLE_READ = 1 << 30


def _crc32(data: bytes | bytearray) -> int:
    """CRC-32 as zlib computes it, by libdeflate (five times faster here than zlib's)."""
    import deflate

    return deflate.crc32(data)


def _inflated(pre: Precompressed, name: str) -> bytes | bytearray:
    """A compressed member's content, checked against its recorded size and CRC-32."""
    origin = pre.origin or name
    mismatch = DetzipError(
        f"{name}: inflates to bytes other than its recorded size and CRC-32 (the file is damaged)",
        origin,
    )
    if pre.method != STORED and pre.size > _MAX_RATIO * pre.compressed_size + 1024:
        raise DetzipError(
            f"{name}: records {pre.size:,} bytes unzipped, more than its "
            f"{pre.compressed_size:,} compressed bytes can hold; the file is damaged or forged",
            origin,
        )
    pieces = pre.streamed() or iter((pre.raw(),))
    content = b"".join(pieces) if pre.method == STORED else _inflate(pieces, pre.size, origin)
    if len(content) != pre.size or _crc32(content) != pre.crc32:
        raise mismatch
    return content


def _inflate(pieces: Iterable[bytes], size: int, origin: str | Path) -> bytearray:
    """A raw deflate stream inflated into one buffer of its recorded ``size`` (a growing buffer
    would hold up to twice the member), never past it; a longer stream comes back one byte over."""
    try:
        content = bytearray(size + 1)
    except MemoryError:
        raise DetzipError(
            f"too little memory to recompress a member of {size:,} bytes; build without {{0}}",
            origin,
            settings=[Setting("recompress")],
        ) from None
    filled = 0
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        for piece in pieces:
            while piece and filled <= size:
                out = inflater.decompress(piece, size + 1 - filled)
                content[filled : filled + len(out)] = out
                filled += len(out)
                piece = inflater.unconsumed_tail
    except zlib.error as exc:
        raise DetzipError(
            f"the member's compressed bytes do not inflate ({exc}; the file is damaged)", origin
        ) from None
    if filled <= size and not inflater.eof:
        raise DetzipError("the member's deflate stream is cut short (the file is damaged)", origin)
    if filled <= size and inflater.unused_data:
        raise DetzipError(
            "the member's deflate stream has bytes after its end (the file is damaged)", origin
        )
    del content[filled:]
    return content


class _Sink:
    """The output file, hashed and counted as it is written. Small writes (headers, small
    members) are gathered and handed to the file and the hash a MiB at a time: a layer of
    70,000 members would otherwise make four calls of each per member."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()
        self.offset = 0  # bytes written so far, gathered ones included
        self.gathered = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.offset += len(data)
        if len(data) >= GATHER_BYTES:
            self.flush()
            self._out(data)
            return
        self.gathered += data
        if len(self.gathered) >= GATHER_BYTES:
            self.flush()

    def flush(self) -> None:
        """Hand what was gathered to the file and the hash."""
        if self.gathered:
            self._out(self.gathered)
            self.gathered = bytearray()

    def _out(self, data: bytes | bytearray | memoryview) -> None:
        self.handle.write(data)
        self.sha256.update(data)


class _ArchiveWriter:
    """Writes local headers and data as members arrive, then the central directory."""

    def __init__(self, sink: _Sink, options: ZipOptions) -> None:
        self.sink = sink
        self.date, self.time = dos_datetime(options.mtime)
        self.central = bytearray()
        self.count = 0
        self.unzipped = 0

    def add(self, entry: Entry, member: _Member | None) -> None:
        """Write ``entry``: its ``member`` prepared, or (None) a directory or a member copied
        as it is, read from its source now."""
        source = entry.source
        copied: Precompressed | None = None
        if member is not None:
            method, crc, size, csize = member.method, member.crc32, member.size, len(member.data)
        elif source is None:
            method, crc, size, csize = STORED, 0, 0, 0
        else:
            assert isinstance(source, Precompressed)
            copied = source
            method, crc, size = source.method, source.crc32, source.size
            csize = source.compressed_size
        name = entry.name.encode("utf-8")
        flags = 0 if name.isascii() else FLAG_UTF8
        sink = self.sink
        offset = sink.offset
        big_sizes = size >= ZIP64_LIMIT or csize >= ZIP64_LIMIT
        zip64 = big_sizes or offset >= ZIP64_LIMIT
        version = VERSION_ZIP64 if zip64 else VERSION_DEFAULT
        if source is None:
            mode = (MODE_DIR << 16) | MSDOS_DIR
        else:
            mode = (MODE_EXEC if entry.executable else MODE_FILE) << 16

        # version needed, flags, method, time, date, CRC-32: the same in both headers
        local_extra = struct.pack("<HHQQ", 1, 16, size, csize) if big_sizes else b""
        sink.write(
            _LOCAL.pack(
                0x04034B50,
                version,
                flags,
                method,
                self.time,
                self.date,
                crc,
                0xFFFFFFFF if big_sizes else csize,
                0xFFFFFFFF if big_sizes else size,
                len(name),
                len(local_extra),
            )
            + name
            + local_extra
        )
        if member is not None:
            sink.write(member.data)
        elif copied is not None:
            _copy(copied, csize, sink, entry.name)
        self.unzipped += size
        self.count += 1

        if zip64:
            overflow = [value for value in (size, csize, offset) if value >= ZIP64_LIMIT]
            central_extra = struct.pack(f"<HH{len(overflow)}Q", 1, 8 * len(overflow), *overflow)
            csize, size, offset = _clamp(csize), _clamp(size), _clamp(offset)
        else:  # (each under the limit: as it is)
            central_extra = b""
        self.central += _CENTRAL.pack(
            0x02014B50,
            (MADE_BY_UNIX << 8) | version,
            version,
            flags,
            method,
            self.time,
            self.date,
            crc,
            csize,
            size,
            len(name),
            len(central_extra),
            0,
            0,
            0,
            mode,
            offset,
        )
        self.central += name
        self.central += central_extra

    def finish(self) -> None:
        sink = self.sink
        start = sink.offset
        sink.write(self.central)
        size = sink.offset - start
        count = self.count
        if count >= COUNT_LIMIT or size >= ZIP64_LIMIT or start >= ZIP64_LIMIT:
            eocd64 = sink.offset
            sink.write(
                _EOCD64.pack(
                    0x06064B50,
                    _EOCD64.size - 12,
                    (MADE_BY_UNIX << 8) | VERSION_ZIP64,
                    VERSION_ZIP64,
                    0,
                    0,
                    count,
                    count,
                    size,
                    start,
                )
            )
            sink.write(_LOCATOR64.pack(0x07064B50, 0, eocd64, 1))
        short_count = 0xFFFF if count >= COUNT_LIMIT else count
        sink.write(
            _EOCD.pack(0x06054B50, 0, 0, short_count, short_count, _clamp(size), _clamp(start), 0)
        )
        sink.flush()


def _copy(member: Precompressed, size: int, sink: _Sink, name: str) -> None:
    """A member's compressed bytes copied as they are, which must add up to ``size``: in the
    pieces it gives (never held whole) unless it is a small one of an archive (read at once)."""
    small = member.archive is not None and size <= GATHER_BYTES
    pieces = None if small else member.streamed()
    if pieces is None:
        data = member.raw()
        if len(data) != size:
            raise DetzipError(f"expected {size} compressed bytes, read {len(data)}", name)
        sink.write(data)
        return
    copied = 0
    for piece in pieces:
        copied += len(piece)
        if copied > size:
            break
        sink.write(piece)
    if copied != size:
        raise DetzipError(f"expected {size} compressed bytes, read {copied}", name)


def _clamp(value: int) -> int:
    return 0xFFFFFFFF if value >= ZIP64_LIMIT else value
