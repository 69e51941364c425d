"""Why two zips differ, entry by entry: the tool to reach for when a hash changes."""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import unicodedata
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from detzip._datatype import datatype
from detzip.errors import DetzipError
from detzip.zip.reader import local_header, raw_bytes

__all__ = ["Difference", "diff_zips", "open_zip", "render"]

_SHOW_PER_ASPECT = 10
_CHUNK = 1 << 16


@datatype
class Difference:
    """One way in which archive B differs from archive A. ``entry`` is None for the archive."""

    aspect: str
    entry: str | None
    a: str
    b: str

    def to_dict(self) -> dict[str, str | None]:
        """The difference as JSON-ready values (``detzip diff --json``)."""
        return {"aspect": self.aspect, "entry": self.entry, "a": self.a, "b": self.b}


def open_zip(path: str | os.PathLike[str]) -> zipfile.ZipFile:
    """A zip opened for reading its directory; not a zip is a one-line error."""
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DetzipError("no such file; check the path", path) from None
    except IsADirectoryError:
        raise DetzipError("is a directory; give a zip file", path) from None
    except zipfile.BadZipFile as exc:
        raise DetzipError(f"not a valid zip file ({exc}); rebuild it", path) from None
    except OSError as exc:
        raise DetzipError(f"cannot read ({exc.strerror}); check the path", path) from None


def _mode(info: zipfile.ZipInfo) -> str:
    return oct(info.external_attr >> 16)[2:] if info.create_system == 3 else "(not Unix)"


def _time(info: zipfile.ZipInfo) -> str:
    return "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format(*info.date_time)


_HEADER_FIELDS = (
    "create_system",
    "create_version",
    "extract_version",
    "flag_bits",
    "internal_attr",
    "volume",
    "extra",
    "comment",
)


def diff_zips(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> list[Difference]:
    """Every difference between the zips at ``a`` and ``b``; empty when the bytes are equal."""
    with open_zip(a) as za, open_zip(b) as zb:
        if _same_bytes(Path(a), Path(b)):
            return []
        with _mapped(a) as ha, _mapped(b) as hb:
            return _differences(a, b, za, zb, ha, hb)


@contextlib.contextmanager
def _mapped(path: str | os.PathLike[str]) -> Iterator[mmap.mmap]:
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        yield m


def _differences(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    za: zipfile.ZipFile,
    zb: zipfile.ZipFile,
    ha: mmap.mmap,
    hb: mmap.mmap,
) -> list[Difference]:
    found: list[Difference] = []
    infos_a = {info.filename: info for info in za.infolist()}
    infos_b = {info.filename: info for info in zb.infolist()}
    # a name in A -> its name in B, where the two differ only in Unicode normalisation
    twins = _normalisation_twins(
        [n for n in infos_a if n not in infos_b], [n for n in infos_b if n not in infos_a]
    )
    in_a = {twin: name for name, twin in twins.items()}  # B's name -> A's
    found += [
        Difference("only in A", n, "present", "absent")
        for n in infos_a
        if n not in infos_b and n not in twins
    ]
    found += [
        Difference("only in B", n, "absent", "present")
        for n in infos_b
        if n not in infos_a and n not in in_a
    ]
    common_a = [n for n in infos_a if n in infos_b or n in twins]
    common_b = [in_a.get(n, n) for n in infos_b if n in infos_a or n in in_a]  # A's names
    if common_a != common_b:
        where = next(i for i, (x, y) in enumerate(zip(common_a, common_b, strict=True)) if x != y)
        shown_b = twins.get(common_b[where], common_b[where])
        found.append(
            Difference("order", None, f"#{where}: {common_a[where]}", f"#{where}: {shown_b}")
        )
    for name in common_a:
        ia, ib = infos_a[name], infos_b[twins.get(name, name)]
        found += _entry_differences(name, ia, ib, (za, ha), (zb, hb))
    if za.comment != zb.comment:
        found.append(Difference("archive comment", None, repr(za.comment), repr(zb.comment)))
    if not found:
        found.append(_layout_difference(Path(a), Path(b)))
    return found


def _normalisation_twins(only_a: list[str], only_b: list[str]) -> dict[str, str]:
    """Each name only in A paired with a name only in B that differs from it only in Unicode
    normalisation (the same NFC form: NFC vs NFD, as macOS may write names); in order."""
    waiting: dict[str, list[str]] = defaultdict(list)
    for name in only_b:
        waiting[unicodedata.normalize("NFC", name)].append(name)
    twins: dict[str, str] = {}
    for name in only_a:
        candidates = waiting.get(unicodedata.normalize("NFC", name))
        if candidates:
            twins[name] = candidates.pop(0)
    return twins


def _form(name: str) -> str:
    """The Unicode normalisation form ``name`` is in (NFC first: a name in both is NFC)."""
    for form in ("NFC", "NFD"):
        if unicodedata.is_normalized(form, name):
            return form
    return "neither NFC nor NFD"


def _entry_differences(
    name: str,
    ia: zipfile.ZipInfo,
    ib: zipfile.ZipInfo,
    a: tuple[zipfile.ZipFile, mmap.mmap],
    b: tuple[zipfile.ZipFile, mmap.mmap],
) -> list[Difference]:
    """How entry ``ib`` of B differs from ``ia`` of A (named ``name`` in A, and in B unless
    the two names differ only in Unicode normalisation)."""
    (za, ha), (zb, hb) = a, b
    found: list[Difference] = []
    if ia.filename != ib.filename:
        found.append(Difference("name normalisation", name, _form(ia.filename), _form(ib.filename)))
    same_content = ia.CRC == ib.CRC and ia.file_size == ib.file_size
    endings = None if same_content else _line_endings_only((za, ia), (zb, ib))
    if endings is not None:
        found.append(Difference("line endings", name, *endings))
    elif not same_content:
        found.append(
            Difference(
                "content",
                name,
                f"{ia.file_size} bytes, crc {ia.CRC:08x}",
                f"{ib.file_size} bytes, crc {ib.CRC:08x}",
            )
        )
    if _mode(ia) != _mode(ib):
        found.append(Difference("mode", name, _mode(ia), _mode(ib)))
    if ia.date_time != ib.date_time:
        found.append(Difference("time", name, _time(ia), _time(ib)))
    if ia.compress_type != ib.compress_type:
        found.append(
            Difference("compression method", name, str(ia.compress_type), str(ib.compress_type))
        )
    for field in _HEADER_FIELDS:
        va, vb = getattr(ia, field), getattr(ib, field)
        if va != vb:
            found.append(Difference(f"header {field}", name, repr(va), repr(vb)))
    if (ia.external_attr & 0xFFFF) != (ib.external_attr & 0xFFFF):
        found.append(
            Difference(
                "header MS-DOS attributes",
                name,
                hex(ia.external_attr & 0xFFFF),
                hex(ib.external_attr & 0xFFFF),
            )
        )
    local_a, raw_a = local_header(ha, ia, "A"), raw_bytes(ha, ia, "A")
    local_b, raw_b = local_header(hb, ib, "B"), raw_bytes(hb, ib, "B")
    if same_content and ia.compress_type == ib.compress_type and raw_a != raw_b:
        found.append(
            Difference(
                "compressed bytes",
                name,
                f"{ia.compress_size} bytes, sha256 {hashlib.sha256(raw_a).hexdigest()[:12]}",
                f"{ib.compress_size} bytes, sha256 {hashlib.sha256(raw_b).hexdigest()[:12]}",
            )
        )
    if local_a != local_b and not found:
        found.append(Difference("local header", name, local_a[4:].hex(), local_b[4:].hex()))
    return found


def _line_endings_only(
    a: tuple[zipfile.ZipFile, zipfile.ZipInfo], b: tuple[zipfile.ZipFile, zipfile.ZipInfo]
) -> tuple[str, str] | None:
    """(A's line endings, B's) when one entry's content is the other's with every CRLF made LF;
    else None (also for an entry Python's zipfile cannot read: encrypted, damaged, or neither
    stored nor deflated). Streamed: the entries are never held whole."""
    ia, ib = a[1], b[1]
    if ia.file_size == ib.file_size:  # making CRLF LF shortens; equal sizes differ otherwise
        return None
    swapped = ia.file_size < ib.file_size
    (zl, longer), (zs, shorter) = (b, a) if swapped else (a, b)
    if longer.file_size - shorter.file_size > shorter.file_size:  # a CRLF drops 1 byte of 2
        return None
    if any(
        info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
        for info in (longer, shorter)
    ):
        return None
    try:
        with zl.open(longer) as fl, zs.open(shorter) as fs:
            counts = _crlf_made_lf(fl, fs)
    except (zipfile.BadZipFile, zlib.error, EOFError):
        return None
    if counts is None:
        return None
    lines, crlf_in_shorter = counts
    crlf_in_longer = longer.file_size - shorter.file_size  # one byte fewer for each CRLF
    endings = _endings(lines, crlf_in_longer), _endings(lines, crlf_in_shorter)
    return (endings[1], endings[0]) if swapped else endings


def _crlf_made_lf(longer: IO[bytes], shorter: IO[bytes]) -> tuple[int, int] | None:
    """(LFs, CRLFs in ``shorter``) when ``shorter`` is ``longer`` with every CRLF made LF; else
    None."""
    lines = crlf = 0
    last = b""
    for chunk in _lf_chunks(longer):
        if _read_exactly(shorter, len(chunk)) != chunk:
            return None
        lines += chunk.count(b"\n")
        crlf += chunk.count(b"\r\n") + int(last == b"\r" and chunk.startswith(b"\n"))
        last = chunk[-1:] or last
    return (lines, crlf) if shorter.read(1) == b"" else None


def _lf_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """``stream`` with every CRLF made LF, chunk by chunk (a CR ending a chunk waits for the
    next, which may start with its LF)."""
    held = b""
    while chunk := stream.read(_CHUNK):
        data = held + chunk
        held = b"\r" if data.endswith(b"\r") else b""
        yield data[: len(data) - len(held)].replace(b"\r\n", b"\n")
    yield held


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = b""
    while len(data) < size and (more := stream.read(size - len(data))):
        data += more
    return data


def _endings(lines: int, crlf: int) -> str:
    """How text with ``lines`` LFs, ``crlf`` of them after a CR, ends its lines."""
    if crlf == 0:
        return "LF"
    return "CRLF" if crlf == lines else "mixed CRLF and LF"


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return (
            hashlib.file_digest(fa, "sha256").digest() == hashlib.file_digest(fb, "sha256").digest()
        )


def _layout_difference(a: Path, b: Path) -> Difference:
    """Entries agree but the bytes do not: report the first differing offset."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        offset = 0
        while True:
            ca, cb = fa.read(1 << 16), fb.read(1 << 16)
            if ca != cb:
                index = next(
                    (i for i, (x, y) in enumerate(zip(ca, cb, strict=False)) if x != y),
                    min(len(ca), len(cb)),
                )
                where = offset + index
                return Difference(
                    "archive layout",
                    None,
                    f"byte {where} of {a.stat().st_size}",
                    f"byte {where} of {b.stat().st_size}",
                )
            offset += len(ca)


_HINTS = {
    "time": "entry times differ: the zips were built with different --mtime (or "
    "SOURCE_DATE_EPOCH), or one was not built by detzip",
    "mode": "permissions differ: an exec bit changed, or one zip kept the filesystem's permissions",
    "compressed bytes": "same content compressed differently: another compressor, version or level",
    "order": "entry order differs: one zip was not written in canonical order",
    "line endings": "the same text with other line endings: git converted them in one checkout "
    "(core.autocrlf, usual on Windows); pin them for every checkout in .gitattributes "
    "(e.g. `* text=auto eol=lf`)",
    "name normalisation": "the same names in another Unicode form: one side's files were named "
    "decomposed (NFD), as macOS filesystems and tools may do; name them composed (NFC)",
}


def render(a: str, b: str, differences: list[Difference]) -> str:
    """A human report, grouped by aspect, with a hint for the usual causes."""
    if not differences:
        return f"{a} and {b} are identical"
    lines = [f"{a} (A) and {b} (B) differ: {len(differences)} difference(s)"]
    grouped: dict[str, list[Difference]] = defaultdict(list)
    for difference in differences:
        grouped[difference.aspect].append(difference)
    for aspect, items in grouped.items():
        lines.append(f"{aspect}: {len(items)}")
        if aspect in _HINTS:
            lines.append(f"  hint: {_HINTS[aspect]}")
        for item in items[:_SHOW_PER_ASPECT]:
            where = item.entry if item.entry is not None else "(archive)"
            if aspect.startswith("only in"):
                lines.append(f"  {where}")
            elif aspect == "line endings":
                lines.append(
                    f"  {where}: content differs only in line endings (A: {item.a}, B: {item.b})"
                )
            elif aspect == "name normalisation":
                lines.append(
                    f"  {where}: names differ only in Unicode normalisation "
                    f"(A: {item.a}, B: {item.b})"
                )
            else:
                lines.append(f"  {where}: {item.a} -> {item.b}")
        if len(items) > _SHOW_PER_ASPECT:
            lines.append(f"  ... and {len(items) - _SHOW_PER_ASPECT} more")
    return "\n".join(lines)
