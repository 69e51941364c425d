"""A wheel → the entries ``pip install --target`` would create, ready for the zip writer.

A wheel's members are copied as their raw compressed streams (CRC and sizes from its central
directory) under their installed names: nothing is extracted or recompressed, so the output does
not depend on this machine's compressor. ``.data/purelib`` and ``.data/platlib`` go to the root
and ``.data/data`` too (as ``pip install --target`` places them); scripts and headers are not
installed (a launcher would embed this machine's interpreter path). The ``.dist-info`` directory
is kept with ``INSTALLER`` = ``detzip`` and a ``RECORD`` that lists exactly what is in the zip.

What the central directory records is not taken on trust: every member was inflated and checked
against it (:mod:`detzip.zip.members`) when the wheel entered the store, and that verdict
(:mod:`detzip.inputs._verify`) is recalled for the sha256 each use checks the bytes against (a
wheel stored without one is checked at that use), so every size the limits add up is a checked
one. A bzip2 or lzma member is inflated and compressed like any other file; a member pip cannot
read, an encrypted one, one in an unknown ``.data`` scheme and a wheel that is not one are
refused, naming the member.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import mmap
import os
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from detzip.errors import DetzipError, Setting
from detzip.inputs import _verify
from detzip.zip import members
from detzip.zip.entries import DEFLATED, STORED, Entry, FromBytes, Precompressed
from detzip.zip.reader import Listed, central_directory, data_offset

if TYPE_CHECKING:
    from detzip.inputs._patterns import Matcher

__all__ = [
    "DEFAULT_LAYER_EXCLUDES",
    "INSTALLER",
    "Wheel",
    "check_wheel",
    "compile_excludes",
    "install",
    "read_metadata",
    "wheel_entries",
]

INSTALLER = b"detzip\n"
#: how much of a wheel is read (hashed, copied) at a time: memory stays flat for any wheel
CHUNK = 1 << 20
#: Dropped from layers unless switched off: Lambda cannot use bytecode compiled elsewhere.
DEFAULT_LAYER_EXCLUDES = ("__pycache__/", "*.pyc")


class Wheel(Protocol):
    """A wheel file to install: its ``path`` (named as the wheel), the ``sha256`` its bytes must
    have (the lock's hash, or the one recorded when it was fetched), and whether it was ``built``
    here from an sdist (then its members are recompressed: its compressed bytes are not portable).
    """

    @property
    def sha256(self) -> str:
        """The hex sha256 the wheel's bytes must have when they are used."""
        ...

    @property
    def path(self) -> Path:
        """The wheel file, named as the wheel."""
        ...

    @property
    def built(self) -> bool:
        """Whether it was built here from an sdist (its members are then recompressed)."""
        ...


def install(wheels: Iterable[Wheel], prefix: str, exclude: Matcher | None = None) -> list[Entry]:
    """Every wheel's files as pip would install them, under ``prefix``, less what ``exclude``
    matches (default: :func:`compile_excludes` of no patterns, i.e. the bytecode)."""
    spec = exclude if exclude is not None else compile_excludes((), True)
    entries: list[Entry] = []
    for wheel in wheels:
        entries += wheel_entries(wheel, prefix, spec)
    return entries


def read_metadata(wheel: Wheel) -> bytes:
    """The wheel's ``.dist-info/METADATA``, read from its verified bytes."""
    buffer = _verified(wheel)
    try:
        with _vouched_archive(wheel, buffer) as archive:
            dist_info, _ = _wheel_dirs(archive, wheel.path.name)
            return archive.read(f"{dist_info}/METADATA")
    except KeyError as exc:
        raise _broken(wheel.path.name, f"it is not a valid wheel ({exc})") from None
    finally:
        buffer.close()


def wheel_entries(wheel: Wheel, prefix: str, exclude: Matcher) -> list[Entry]:
    """The entries ``pip install --target`` would create for ``wheel``, under ``prefix``.

    The wheel is opened once; those very bytes are checked against ``wheel.sha256`` and then
    read (central directory and members: a member's compressed bytes from the same open file
    when it is written), so nothing but verified bytes reaches the zip; their members were
    checked against the central directory (the verdict kept for that sha256, or now), so every
    size and CRC-32 copied is a checked one.
    """
    origin = f"wheel {wheel.path.name}"
    fd = _opened(wheel.path)
    try:
        buffer = _verified(wheel, fd)
    except BaseException:
        os.close(fd)
        raise
    members = _InPlace(fd, wheel.path)  # (it closes the descriptor once no entry needs it)
    try:
        with _vouched_archive(wheel, buffer) as archive:
            return _entries(wheel, archive, buffer, members, prefix, exclude, origin)
    finally:  # the members are read from the file when they are written, not from the map
        buffer.release(0, len(buffer))
        buffer.close()


class _Mapped(mmap.mmap):
    """A read-only map that :class:`zipfile.ZipFile` can read like a file.

    Pages it has read are handed back (:meth:`release`): a mapped file's resident pages count
    in the process's memory, and a layer maps every wheel at once.
    """

    def seekable(self) -> bool:
        return True

    def release(self, start: int, end: int) -> None:
        """Drop the pages around ``[start, end)`` from this process (the page cache keeps
        them; a later read faults them back in). The range is widened to 2 MiB boundaries: a
        fault maps the neighbouring cached pages too ("fault-around", up to 2 MiB)."""
        if _DONTNEED is None:  # pragma: no cover - not Linux/BSD/macOS
            return
        low = start - start % _AROUND
        high = min(end + (-end) % _AROUND, len(self))
        if high > low:
            with contextlib.suppress(OSError, ValueError):
                self.madvise(_DONTNEED, low, high - low)

    def pieces(self, start: int, end: int) -> Iterator[bytes]:
        """``self[start:end]`` in pieces of at most :data:`CHUNK` bytes, each released once read."""
        while start < end:
            stop = min(start + CHUNK, end)
            piece = self[start:stop]
            self.release(start, stop)
            start = stop
            yield piece


class _InPlace:
    """The members of a verified wheel, read (:class:`~detzip.zip.entries.Archive`) from the
    very file whose bytes were hashed — its descriptor, kept open — when they are written:
    ``os.pread`` into a buffer that is dropped once written, so nothing of the wheel stays in
    this process's memory (a map's pages would), and one reader serves all its members."""

    __slots__ = ("fd", "path")

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    def part(self, start: int, end: int) -> bytes:
        """The bytes from ``start`` to ``end`` (fewer only past the end of the file)."""
        try:
            return os.pread(self.fd, end - start, start)
        except OSError as exc:
            raise DetzipError(
                f"cannot read the wheel ({exc.strerror}); build again", self.path
            ) from None

    def pieces(self, start: int, end: int) -> Iterator[bytes]:
        """The bytes from ``start`` to ``end`` in pieces of at most :data:`CHUNK` bytes."""
        while start < end:
            piece = self.part(start, min(start + CHUNK, end))
            if not piece:
                return
            start += len(piece)
            yield piece

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)
_AROUND = 2 << 20


def _opened(path: Path) -> int:
    """A descriptor of the file, open for reading."""
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DetzipError(f"cannot read the wheel ({exc.strerror}); build again", path) from None


def _mapped(path: Path, fd: int | None = None) -> _Mapped | None:
    """The file's bytes (``fd``'s, if given: that very open file), mapped (None if empty)."""
    opened = _opened(path) if fd is None else fd
    try:
        size = os.fstat(opened).st_size
        return _Mapped(opened, 0, access=mmap.ACCESS_READ) if size else None
    except OSError as exc:
        raise DetzipError(f"cannot read the wheel ({exc.strerror}); build again", path) from None
    finally:
        if fd is None:
            os.close(opened)


def _digest(buffer: _Mapped | None) -> str:
    hasher = hashlib.sha256()
    if buffer is not None:
        for piece in buffer.pieces(0, len(buffer)):
            hasher.update(piece)
    return hasher.hexdigest()


def _verified(wheel: Wheel, fd: int | None = None) -> _Mapped:
    """The wheel's bytes (``fd``'s, if given), mapped, once their sha256 is the one expected."""
    buffer = _mapped(wheel.path, fd)
    digest = _digest(buffer)
    if buffer is None or digest != wheel.sha256:
        raise DetzipError(
            f"the stored wheel's sha256 is {digest}, not the {wheel.sha256} it was locked or "
            f"fetched with: it was changed after it was fetched. Delete {wheel.path.parent} and "
            "build again (detzip fetches and checks it anew)",
            wheel.path,
        )
    return buffer


def check_wheel(path: Path, sha256: str) -> _verify.Verdict:
    """Check the wheel at ``path``, whose bytes have ``sha256``, before it enters the store:
    a wheel pip would install (one ``.dist-info`` with a ``WHEEL``, every member inside the
    layer and in a scheme pip knows) whose every member inflates to the size and CRC-32 its
    central directory records. The verdict, for that sha256; else a :class:`DetzipError`
    naming the wheel and the member."""
    buffer = _mapped(path)
    try:
        if _digest(buffer) != sha256:
            raise DetzipError("changed while it was being checked; run again", path.name)
        if buffer is None:
            raise _broken(path.name, "it is empty: not a valid wheel")
        with _open(buffer, path.name) as archive:
            return _check(archive, buffer, sha256, path.name)
    finally:
        if buffer is not None:
            buffer.close()


def _open(buffer: _Mapped | None, filename: str) -> zipfile.ZipFile:
    if buffer is None:
        raise _broken(filename, "it is empty: not a valid wheel")
    try:
        return zipfile.ZipFile(buffer)  # type: ignore[call-overload,no-any-return]  # mmap
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise _broken(filename, f"it is not a valid zip ({exc})") from None


class _Info(Protocol):
    """A central directory record, as the warm path reads it (a ZipInfo, or a
    :class:`~detzip.zip.reader.Listed`)."""

    @property
    def filename(self) -> str: ...
    @property
    def compress_type(self) -> int: ...
    @property
    def CRC(self) -> int: ...
    @property
    def compress_size(self) -> int: ...
    @property
    def file_size(self) -> int: ...
    @property
    def header_offset(self) -> int: ...
    @property
    def external_attr(self) -> int: ...


class _Archive(Protocol):
    """A wheel's central directory and the reads of its members the warm path makes."""

    def infolist(self) -> Sequence[_Info]: ...
    def namelist(self) -> list[str]: ...
    def read(self, name: str) -> bytes: ...
    def read_info(self, info: _Info) -> bytes: ...


class _ZipArchive:
    """A :class:`zipfile.ZipFile` as an :class:`_Archive`."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive

    def infolist(self) -> Sequence[_Info]:
        return self.archive.infolist()

    def namelist(self) -> list[str]:
        return self.archive.namelist()

    def read(self, name: str) -> bytes:
        return self.archive.read(name)

    def read_info(self, info: _Info) -> bytes:
        assert isinstance(info, zipfile.ZipInfo)
        return self.archive.read(info)


class _Listing:
    """A wheel's central directory as :func:`~detzip.zip.reader.central_directory` reads it
    (what zipfile reads, several times faster), for a wheel whose every member was checked
    (the verdict kept for its sha256). A member read here (RECORD, METADATA, one recompressed)
    is inflated and checked against its size and CRC-32 again, as zipfile checks it."""

    def __init__(self, buffer: _Mapped, listed: list[Listed], filename: str) -> None:
        self.buffer = buffer
        self.listed = listed
        self.filename = filename
        self.by_name = {info.filename: info for info in listed}  # (the last, as in zipfile)

    def infolist(self) -> Sequence[_Info]:
        return self.listed

    def namelist(self) -> list[str]:
        return [info.filename for info in self.listed]

    def read(self, name: str) -> bytes:
        info = self.by_name.get(name)
        if info is None:
            raise KeyError(f"There is no item named {name!r} in the archive")
        return self.read_info(info)

    def read_info(self, info: _Info) -> bytes:
        origin = f"wheel {self.filename}"
        start = data_offset(self.buffer, info, origin)
        raw = self.buffer[start : start + info.compress_size]
        if info.compress_type == DEFLATED:
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                data = inflater.decompress(raw, info.file_size + 1)
            except zlib.error:
                data = b""
        elif info.compress_type == STORED:
            data = raw
        else:  # bzip2, lzma: zipfile reads those
            with _open(self.buffer, self.filename) as archive:
                return archive.read(info.filename)
        if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
            raise _broken(self.filename, f"member {info.filename!r} is damaged (its CRC-32)")
        return data


@contextlib.contextmanager
def _vouched_archive(wheel: Wheel, buffer: _Mapped) -> Iterator[_Archive]:
    """The wheel's central directory, once it is vouched for (:func:`_vouched`): read fast
    where it can be (a verdict kept for these bytes, a plain layout), else by zipfile."""
    listed = central_directory(buffer)
    if listed is not None:
        kept = _verify.recall(wheel.path, wheel.sha256)
        if (
            kept is not None
            and kept.members == len(listed)
            and kept.unzipped == sum(info.file_size for info in listed)
        ):
            yield _Listing(buffer, listed, wheel.path.name)
            return
    with _open(buffer, wheel.path.name) as archive:
        _vouched(wheel, archive, buffer)
        yield _ZipArchive(archive)


def _vouched(wheel: Wheel, archive: zipfile.ZipFile, buffer: _Mapped) -> None:
    """The verdict for the wheel's sha256 (its bytes, just checked against it), recalled —
    every member counted and the sizes those members record adding up to the checked total —
    or, for a wheel stored before it had one, made now from these bytes and kept."""
    infos = archive.infolist()
    kept = _verify.recall(wheel.path, wheel.sha256)
    if (
        kept is not None
        and kept.members == len(infos)
        and kept.unzipped == sum(info.file_size for info in infos)
    ):
        return
    _verify.remember(wheel.path, _check(archive, buffer, wheel.sha256, wheel.path.name))


def _check(
    archive: zipfile.ZipFile, buffer: _Mapped, sha256: str, filename: str
) -> _verify.Verdict:
    """Every member of the wheel checked (see :func:`check_wheel`), in central directory
    order; the first that fails is refused by name."""
    dist_info, data_dir = _wheel_dirs(archive, filename)
    infos = archive.infolist()
    for info in infos:
        if not info.is_dir():
            _install_path(info.filename, dist_info, data_dir, filename)
        try:
            members.verify(buffer, info, buffer.pieces)
        except members.Broken as exc:
            raise _broken(filename, f"member {info.filename!r} {exc}") from None
    buffer.release(0, len(buffer))
    return _verify.Verdict(sha256, len(infos), sum(info.file_size for info in infos))


def _broken(filename: str, what: str) -> DetzipError:
    """A wheel that cannot be installed as it is: its bytes are the ones locked (or chosen), so
    fetching it again cannot help."""
    project = "-".join(filename.split("-", 1)[0].replace(".", "_").split("_")).lower()
    return DetzipError(
        f"{what}; the wheel itself is broken (fetching it again gives the same bytes): pin "
        f"another version of {project}, ask its publisher for a fixed wheel, or leave it out "
        "with {0}",
        f"wheel {filename}",
        settings=[Setting("exclude_packages", [project])],
    )


def _entries(
    wheel: Wheel,
    archive: _Archive,
    buffer: _Mapped,
    members: _InPlace,
    prefix: str,
    exclude: Matcher,
    origin: str,
) -> list[Entry]:
    """The wheel's installed entries, and its ``RECORD`` and ``INSTALLER``: one pass over its
    central directory (a layer may hold 70,000 members: no more than that per member)."""
    dist_info, data_dir = _wheel_dirs(archive, wheel.path.name)
    record = _record(archive, dist_info)
    own = (f"{dist_info}/RECORD", f"{dist_info}/INSTALLER")
    copied = not wheel.built  # (a wheel built here is recompressed: its bytes are not portable)
    entries: list[Entry] = []
    rows: list[tuple[str, str, str]] = []
    for info in archive.infolist():
        if info.filename[-1:] == "/":  # a directory
            continue
        target = _install_path(info.filename, dist_info, data_dir, wheel.path.name)
        if target is None or target in own or exclude.match_file(target):
            continue
        source: Precompressed | FromBytes
        if copied and info.compress_type in (STORED, DEFLATED):
            source = Precompressed(
                info.compress_type,
                info.CRC,
                info.compress_size,
                info.file_size,
                None,
                origin,
                None,
                members,  # read when written, from where the local header says it starts:
                data_offset(buffer, info, origin),
            )
        else:  # another compression method, or a wheel built here: recompress canonically
            source = FromBytes(archive.read_info(info), origin)
        entries.append(Entry(prefix + target, source, _executable(info)))
        # its RECORD row: the wheel's (under its installed name, or its name in the wheel)
        known = record.get(target) or record.get(info.filename)
        if known is None or not known[0]:
            data = source.data if isinstance(source, FromBytes) else archive.read_info(info)
            known = (_hash(data), str(len(data)))
        rows.append((target, *known))
    rows.append((f"{dist_info}/INSTALLER", _hash(INSTALLER), str(len(INSTALLER))))
    rows.append((f"{dist_info}/RECORD", "", ""))
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(sorted(rows))
    entries.append(Entry(prefix + f"{dist_info}/INSTALLER", FromBytes(INSTALLER, origin)))
    entries.append(
        Entry(prefix + f"{dist_info}/RECORD", FromBytes(text.getvalue().encode(), origin))
    )
    return entries


def _wheel_dirs(archive: _Archive | zipfile.ZipFile, filename: str) -> tuple[str, str]:
    names = set(archive.namelist())
    tops = {n.split("/", 1)[0] for n in names}
    infos = [t for t in tops if t.endswith(".dist-info") and f"{t}/WHEEL" in names]
    if len(infos) != 1:
        raise _broken(filename, "it is not a valid wheel (no single .dist-info with a WHEEL)")
    dist_info = infos[0]
    return dist_info, dist_info[: -len(".dist-info")] + ".data"


#: the folders of a wheel's ``.data`` that pip installs (sysconfig's scheme keys)
SCHEMES = ("data", "headers", "platlib", "purelib", "scripts")


def _install_path(member: str, dist_info: str, data_dir: str, filename: str) -> str | None:
    parts = member.split("/")
    if (
        member.startswith("/")
        or ".." in parts
        or "\\" in member
        or (len(member) > 1 and member[1] == ":")
    ):
        raise DetzipError(
            f"member {member!r} would be installed outside the layer; refusing this wheel",
            f"wheel {filename}",
        )
    if parts[0] != data_dir:
        return member
    if len(parts) < 3 or parts[1] not in SCHEMES:
        where = f"in an unknown scheme folder {parts[1]!r}" if len(parts) >= 3 else "loose"
        raise _broken(
            filename,
            f"member {member!r} is {where} in {data_dir}/ (its folders can only be "
            f'{", ".join(SCHEMES)}): pip refuses it too ("Unknown scheme key")',
        )
    scheme, rest = parts[1], "/".join(parts[2:])
    if scheme in ("purelib", "platlib", "data"):
        return rest
    return None  # scripts, headers: not installed into a layer


def _executable(info: _Info) -> bool:
    """Whether pip installs the member executable: a regular file with an exec bit (a member
    whose mode says "symlink" is installed as a file of its text, 0644)."""
    mode = info.external_attr >> 16
    return bool(mode and stat.S_ISREG(mode) and mode & 0o111)


def _record(archive: _Archive, dist_info: str) -> dict[str, tuple[str, str]]:
    try:
        text = archive.read(f"{dist_info}/RECORD").decode("utf-8")
    except KeyError:
        return {}
    rows: dict[str, tuple[str, str]] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 3 and row[1].startswith("sha256="):
            rows[row[0]] = (row[1], row[2])
    return rows


def _hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def compile_excludes(patterns: Sequence[str], defaults: bool) -> Matcher:
    """``patterns`` (and, with ``defaults``, :data:`DEFAULT_LAYER_EXCLUDES`) as one matcher."""
    from detzip.inputs._patterns import compile_patterns

    builtin = DEFAULT_LAYER_EXCLUDES if defaults else ()
    return compile_patterns([(builtin, "default_excludes"), (patterns, "exclude")])
