"""The one Entry type every stage passes on: an archive name and where its bytes come from.

An entry is a directory (no content), a file read from disk, bytes held in memory, or a member
that is already compressed (raw DEFLATE or stored bytes with their CRC-32 and sizes, e.g. copied
from a wheel) and is written as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from detzip._datatype import datatype
from detzip.errors import DetzipError
from detzip.zip.names import check_name

__all__ = [
    "DEFLATED",
    "STORED",
    "Archive",
    "Entry",
    "FromBytes",
    "FromFile",
    "Precompressed",
    "Source",
    "fingerprint",
    "fingerprint_of",
]

STORED = 0
DEFLATED = 8


@datatype
class FromFile:
    """Content read from ``path`` when the entry is written."""

    path: Path
    size_hint: int = 0


@datatype
class FromBytes:
    """Content held in memory; ``origin`` says where it came from (for error messages)."""

    data: bytes
    origin: str = ""


class Archive(Protocol):
    """A zip whose members are copied as they are, read in place (e.g. a mapped wheel):
    its bytes from ``start`` to ``end``, whole or in bounded pieces."""

    def part(self, start: int, end: int) -> bytes:
        """The bytes from ``start`` to ``end``."""
        ...

    def pieces(self, start: int, end: int) -> Iterator[bytes]:
        """The bytes from ``start`` to ``end``, in bounded pieces."""
        ...


@datatype
class Precompressed:
    """An already-compressed member, copied without recompressing.

    Its ``compressed_size`` bytes of raw stream for ``method`` (:data:`STORED` or
    :data:`DEFLATED`) decompress to ``size`` bytes with CRC-32 ``crc32``. They come from
    ``read`` (all at once) and, if given, ``chunks`` (the same bytes in bounded pieces: the
    writer then copies the member without ever holding it whole, so memory stays flat whatever
    its size) — or, for the many members of one zip, from ``archive`` at offset ``at``, read
    (whole or in pieces) only when written: one shared reader, no callable per member.
    """

    method: int
    crc32: int
    compressed_size: int
    size: int
    read: Callable[[], bytes] | None = None
    origin: str = ""
    chunks: Callable[[], Iterator[bytes]] | None = None
    archive: Archive | None = None
    at: int = 0

    def __post_init__(self) -> None:
        if self.method not in (STORED, DEFLATED):
            raise ValueError(f"unsupported compression method {self.method}")
        if self.method == STORED and self.compressed_size != self.size:
            raise ValueError("a stored member has equal compressed and uncompressed sizes")
        if (self.read is None) == (self.archive is None):
            raise ValueError("a precompressed member is read by one of read or archive")

    def raw(self) -> bytes:
        """The compressed bytes, whole."""
        if self.archive is not None:
            return self.archive.part(self.at, self.at + self.compressed_size)
        assert self.read is not None
        return self.read()

    def streamed(self) -> Iterator[bytes] | None:
        """The compressed bytes in bounded pieces, or None if they are only read whole."""
        if self.archive is not None:
            return self.archive.pieces(self.at, self.at + self.compressed_size)
        return self.chunks() if self.chunks is not None else None


Source = FromFile | FromBytes | Precompressed


@datatype
class Entry:
    """One archive member. Directory names end with ``/``; ``source`` is None for directories."""

    name: str
    source: Source | None = None
    executable: bool = False

    def __post_init__(self) -> None:
        check_name(self.name, directory=self.source is None)

    @property
    def is_dir(self) -> bool:
        """Whether the entry is a directory (it has no ``source``)."""
        return self.source is None

    @property
    def size_hint(self) -> int:
        """Best guess of the bytes this entry occupies in memory while it is being written."""
        if isinstance(self.source, Precompressed):  # (copied as it is: its compressed bytes)
            return self.source.compressed_size
        return self.unzipped_hint

    @property
    def unzipped_hint(self) -> int:
        """The bytes this entry holds unzipped, as known before it is read: a file's size when
        it was walked, a member's checked size."""
        match self.source:
            case None:
                return 0
            case FromFile(size_hint=size):
                return size
            case FromBytes(data=data):
                return len(data)
            case Precompressed(size=size):
                return size

    @classmethod
    def directory(cls, name: str) -> Entry:
        """A directory entry; ``/`` is added to ``name`` if it lacks one."""
        return cls(name if name.endswith("/") else name + "/")

    @classmethod
    def file(cls, name: str, path: Path, *, executable: bool = False, size_hint: int = 0) -> Entry:
        """A file entry whose content is read from ``path`` when it is written."""
        return cls(name, FromFile(path, size_hint), executable)

    @classmethod
    def data(cls, name: str, data: bytes, *, executable: bool = False) -> Entry:
        """A file entry holding ``data`` in memory."""
        return cls(name, FromBytes(data), executable)


def fingerprint(
    entries: Iterable[Entry],
    file_digests: dict[str, str] | None = None,
    *,
    digest_of: Callable[[Entry, Path], str] | None = None,
) -> dict[str, object]:
    """A digest of every entry's name, exec bit and content (files are read and hashed).

    Entries with equal fingerprints written with equal options give equal zips. Each file
    entry's content sha256 goes into ``file_digests`` (by name) if given: pass it to
    :func:`~detzip.zip.writer.write_zip` so that the bytes zipped are the bytes keyed.
    ``digest_of(entry, path)``, if given, gives a file entry's sha256 (hex) instead of reading it
    here (e.g. from a memo, or as the writer read it); it raises ``OSError`` if unreadable.
    """
    ordered = sorted(entries, key=lambda e: e.name)
    # serial: threads measured slower here (small files; open() and stat() dominate)
    contents = [_content_digest(entry.source, entry, digest_of) for entry in ordered]
    if file_digests is not None:
        for entry, content in zip(ordered, contents, strict=True):
            if isinstance(entry.source, FromFile):
                file_digests[entry.name] = content
    return fingerprint_of(
        (entry.name, entry.executable, content)
        for entry, content in zip(ordered, contents, strict=True)
    )


def fingerprint_of(items: Iterable[tuple[str, bool, str]]) -> dict[str, object]:
    """:func:`fingerprint` from each entry's (name, executable, content digest), in name order:
    a file's content digest is its sha256 in hex, a directory's ``"directory"`` (ASCII both).

    What is hashed is a line per entry, ``name NUL x-or-dash NUL digest LF``, in UTF-8 (a name
    that is not valid Unicode as its bytes: surrogateescape). The lines are made as one string
    and encoded once: encoding each piece apart cost a 200,000-file build a twentieth."""
    lines = [
        f"{name}\0{'x' if executable else '-'}\0{content}\n" for name, executable, content in items
    ]
    import hashlib  # (OpenSSL: ~2 ms of start-up, which a cache hit does without)

    data = "".join(lines).encode("utf-8", "surrogateescape")
    return {"entries": len(lines), "sha256": hashlib.sha256(data).hexdigest()}


def _content_digest(
    source: Source | None, entry: Entry, digest_of: Callable[[Entry, Path], str] | None
) -> str:
    import hashlib

    match source:
        case None:
            return "directory"
        case FromFile(path=path):
            try:
                if digest_of is not None:
                    return digest_of(entry, path)
                with open(path, "rb") as handle:
                    return hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError as exc:
                raise DetzipError(
                    f"cannot read ({exc.strerror}); fix its permissions or exclude it", path
                ) from None
        case FromBytes(data=data):
            return hashlib.sha256(data).hexdigest()
        case Precompressed():
            raw = hashlib.sha256(source.raw()).hexdigest()
            return f"{source.method}:{source.crc32}:{source.size}:{raw}"
    raise TypeError(source)
