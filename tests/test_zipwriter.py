"""The canonical writer: header fields, ordering, compression rules, ZIP64, golden bytes."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import deflate
import pytest

from detzip.errors import CompressorMismatchError, DetzipError
from detzip.zip import compressors
from detzip.zip import writer as zipwriter
from detzip.zip.entries import DEFLATED, STORED, Entry, Precompressed
from detzip.zip.options import ZipOptions, resolve_mtime
from detzip.zip.writer import write_zip


def golden_entries() -> list[Entry]:
    text = b"".join(b"line %d of a handler module\n" % i for i in range(400))
    noise = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(64))
    return [
        Entry.data("pkg/handler.py", text),
        Entry.data("pkg/__init__.py", b""),
        Entry.data("bin/run.sh", b"#!/bin/sh\necho hi\n", executable=True),
        Entry.data("data/noise.bin", noise),
        Entry.data("data/\u00e9t\u00e9.txt", "caf\u00e9\n".encode()),
        Entry.directory("empty"),
    ]


# Changing one of these is changing detzip's output format: bump FORMAT_VERSION and say so.
# Format 2 (folder entries only for empty folders) changed all three.
GOLDEN = {
    ("deflate", 6): "9162cdd540e2e797563b2a6fa0dceed73ad73e403291d5c60825f6e044db7999",
    ("deflate", 1): "fa57229b54c05cf6b65a9e99a2a610f669a5f57e20bc4539f0d8f9a7d62fcb42",
    ("store", 0): "050c1c163f94eece74085f849e5e4d00b8d7d7f50984b2b1584c99f9a3cd9b3e",
}


@pytest.mark.parametrize(("compressor", "level"), list(GOLDEN))
def test_golden_digest(tmp_path: Path, compressor: str, level: int) -> None:
    written = write_zip(
        golden_entries(), tmp_path / "g.zip", ZipOptions(compressor=compressor, level=level)
    )
    assert written.sha256 == hashlib.sha256((tmp_path / "g.zip").read_bytes()).hexdigest()
    assert written.sha256 == GOLDEN[(compressor, level)]


def read_infos(path: Path) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as archive:
        return archive.infolist()


def test_every_header_field_is_canonical(tmp_path: Path) -> None:
    written = write_zip(golden_entries(), tmp_path / "g.zip")
    infos = read_infos(written.path)
    names = [info.filename for info in infos]
    assert names == sorted(names, key=lambda n: n.encode())
    assert names == [  # format 2: a folder has an entry only when it is empty
        "bin/run.sh",
        "data/noise.bin",
        "data/\u00e9t\u00e9.txt",
        "empty/",
        "pkg/__init__.py",
        "pkg/handler.py",
    ]
    for info in infos:
        assert info.create_system == 3
        assert info.create_version == 20
        assert info.extract_version == 20
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.extra == b""
        assert info.comment == b""
        assert info.internal_attr == 0
        assert info.flag_bits == (0x800 if not info.filename.isascii() else 0)
        mode = info.external_attr >> 16
        if info.filename.endswith("/"):
            assert mode == 0o40755
            assert info.external_attr & 0xFFFF == 0x10
            assert info.compress_type == STORED and info.file_size == 0
        elif info.filename == "bin/run.sh":
            assert mode == 0o100755
        else:
            assert mode == 0o100644
    by_name = {info.filename: info for info in infos}
    assert by_name["pkg/handler.py"].compress_type == DEFLATED
    assert by_name["pkg/__init__.py"].compress_type == STORED  # empty: deflate is not smaller
    assert by_name["data/noise.bin"].compress_type == STORED  # incompressible
    assert written.entries == len(infos)
    assert written.unzipped_size == sum(info.file_size for info in infos)
    assert written.size == written.path.stat().st_size


def test_no_data_descriptor_and_no_comment_bytes(tmp_path: Path) -> None:
    path = write_zip(golden_entries(), tmp_path / "g.zip").path
    data = path.read_bytes()
    assert b"PK\x07\x08" not in data
    # the end record is the last 22 bytes, with an empty comment
    assert data[-22:-18] == b"PK\x05\x06" and data[-2:] == b"\0\0"


def test_parallel_and_serial_give_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small entries (prepared by the writer's thread) between large ones (on the threads)
    entries = [
        Entry.data(f"f{i:04d}.txt", (b"payload %d " % i) * (i % 50 if i % 7 else 400))
        for i in range(600)
    ]
    one = write_zip(entries, tmp_path / "one.zip", workers=1).sha256
    monkeypatch.setattr(zipwriter, "WINDOW_BYTES", 1000)
    monkeypatch.setattr(zipwriter, "BATCH_ENTRIES", 3)
    many = write_zip(reversed(entries), tmp_path / "many.zip", workers=4).sha256
    assert one == many


def test_small_files_are_prepared_by_the_writer_threads_take_the_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    prepared_by: dict[str, str] = {}
    real = zipwriter._prepare_batch

    def recording(batch, compress, recompress):  # type: ignore[no-untyped-def]
        for entry in batch:
            prepared_by[entry.name] = threading.current_thread().name
        return real(batch, compress, recompress)

    monkeypatch.setattr(zipwriter, "_prepare_batch", recording)
    monkeypatch.setattr(zipwriter, "BATCH_ENTRIES", 4)
    small = [Entry.data(f"a/small{i:03d}.py", b"VALUE = %d\n" % i) for i in range(40)]
    large = [Entry.data(f"b/large{i:03d}.py", b"x = %d\n" % i * 400) for i in range(40)]
    write_zip([*small, *large], tmp_path / "mixed.zip", workers=2)
    assert {prepared_by[e.name] for e in small} == {threading.current_thread().name}
    assert all(prepared_by[e.name].startswith("detzip-compress") for e in large)


@pytest.mark.parametrize("level", range(1, 13))
def test_short_inputs_are_framed_as_libdeflate_frames_them(level: int) -> None:
    """libdeflate stores an input of up to ``passthrough(level)`` bytes without compressing it;
    detzip frames those itself, and must give libdeflate's bytes on each side of the edge."""
    compress = compressors.get("deflate", level)
    assert compress is not None
    edge = compressors.passthrough(level)
    assert edge == 55 - 4 * level
    for size in range(edge + 3):
        for data in (os.urandom(size), b"a" * size, b"ab" * (size // 2)):
            assert compress(data) == bytes(deflate.deflate_compress(data, level)), (level, size)
    assert len(compress(b"a" * (edge + 1))) < edge + 1  # past it, libdeflate compresses


def test_known_answer_check_refuses_a_build_whose_short_inputs_differ(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A libdeflate that compresses what the pinned one passes through would make other bytes
    than the framing detzip does itself: refused before anything is written."""
    compressors._verified.clear()
    monkeypatch.setattr(compressors, "passthrough", lambda level: 40)
    with pytest.raises(CompressorMismatchError):
        write_zip([Entry.data("a", b"a" * 100)], tmp_path / "k.zip")
    assert list(tmp_path.iterdir()) == []
    compressors._verified.clear()


def test_precompressed_members_are_copied_as_is(tmp_path: Path) -> None:
    content = b"import os\n" * 500
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = raw.compress(content) + raw.flush()
    assert packed != bytes(deflate.deflate_compress(content, 6))  # so a recompression would show
    member = Precompressed(DEFLATED, zlib.crc32(content), len(packed), len(content), lambda: packed)
    stored = Precompressed(STORED, zlib.crc32(b"abc"), 3, 3, lambda: b"abc")
    path = write_zip([Entry("a.py", member), Entry("b.txt", stored)], tmp_path / "p.zip").path
    data = path.read_bytes()
    assert packed in data
    with zipfile.ZipFile(path) as archive:
        assert archive.read("a.py") == content
        assert archive.read("b.txt") == b"abc"
        assert archive.getinfo("b.txt").compress_type == STORED


def test_precompressed_short_read_is_an_error(tmp_path: Path) -> None:
    member = Precompressed(DEFLATED, 0, 10, 20, lambda: b"short")
    with pytest.raises(DetzipError, match="expected 10 compressed bytes"):
        write_zip([Entry("x", member)], tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
    assert list(tmp_path.iterdir()) == []


def _never() -> bytes:
    raise AssertionError("a member with chunks is never read whole")


def test_precompressed_chunks_are_streamed(tmp_path: Path) -> None:
    content = os.urandom(1 << 16) * 40  # large, and compressible
    packed = bytes(deflate.deflate_compress(content, 1))
    pieces = [packed[i : i + 4096] for i in range(0, len(packed), 4096)]
    crc = zlib.crc32(content)
    streamed = Precompressed(
        DEFLATED, crc, len(packed), len(content), _never, "test", lambda: iter(pieces)
    )
    whole = Precompressed(DEFLATED, crc, len(packed), len(content), lambda: packed)
    one = write_zip([Entry("big.bin", streamed)], tmp_path / "one.zip", workers=2)
    two = write_zip([Entry("big.bin", whole)], tmp_path / "two.zip", workers=1)
    assert one.sha256 == two.sha256
    with zipfile.ZipFile(one.path) as archive:
        assert archive.read("big.bin") == content


@pytest.mark.parametrize("pieces", [[b"short"], [b"0123456789", b"more"]])
def test_precompressed_chunks_of_the_wrong_length_are_an_error(
    tmp_path: Path, pieces: list[bytes]
) -> None:
    member = Precompressed(DEFLATED, 0, 10, 20, _never, "test", lambda: iter(pieces))
    with pytest.raises(DetzipError, match="expected 10 compressed bytes"):
        write_zip([Entry("x", member)], tmp_path / "x.zip")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("compressor", "level"), [("zlib", 1), ("zlib", 9), ("store", 0), ("deflate", 12)]
)
def test_other_compressors_round_trip(tmp_path: Path, compressor: str, level: int) -> None:
    path = write_zip(
        golden_entries(), tmp_path / "z.zip", ZipOptions(compressor=compressor, level=level)
    ).path
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert archive.read("pkg/handler.py").startswith(b"line 0 ")
        kinds = {i.compress_type for i in archive.infolist()}
    assert kinds == ({STORED} if compressor == "store" else {STORED, DEFLATED})


@pytest.mark.parametrize(
    ("compressor", "level"), [("deflate", 13), ("deflate", 0), ("zlib", 10), ("lzma", 6)]
)
def test_bad_compressor_settings(compressor: str, level: int) -> None:
    with pytest.raises(DetzipError):
        ZipOptions(compressor=compressor, level=level)


def test_duplicate_names_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(DetzipError, match=r"two inputs map to the archive name 'a\.txt'"):
        write_zip([Entry.data("a.txt", b"1"), Entry.data("a.txt", b"2")], tmp_path / "d.zip")
    with pytest.raises(DetzipError, match="both a file"):
        write_zip([Entry.data("a", b"1"), Entry.data("a/b", b"2")], tmp_path / "d.zip")
    with pytest.raises(DetzipError, match="both a file"):
        write_zip([Entry.data("a", b"1"), Entry.directory("a")], tmp_path / "d.zip")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["/abs", "../up", "a/../b", "a//b", "./a", "", "C:/x"])
def test_bad_archive_names(name: str) -> None:
    with pytest.raises(DetzipError):
        Entry.data(name, b"")


def test_zip64_records_when_limits_are_crossed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ZIP64 fields are exercised by lowering the thresholds; the readers must still agree."""
    monkeypatch.setattr(zipwriter, "ZIP64_LIMIT", 200)
    monkeypatch.setattr(zipwriter, "COUNT_LIMIT", 5)
    entries = [
        *golden_entries(),
        Entry.data("big.txt", b"x" * 300),
        Entry.data("rnd.bin", os.urandom(300)),
    ]
    path = write_zip(entries, tmp_path / "z64.zip").path
    data = path.read_bytes()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert archive.read("big.txt") == b"x" * 300
        assert len(archive.infolist()) == 8
        info = archive.getinfo("rnd.bin")
        assert info.extract_version == 45 and info.create_version == 45
        assert info.extra.startswith(b"\x01\x00")


@pytest.mark.slow
def test_more_than_65535_entries_uses_zip64(tmp_path: Path) -> None:
    entries = [Entry.data(f"d{i // 1000}/f{i}", b"") for i in range(70_000)]
    written = write_zip(entries, tmp_path / "many.zip", ZipOptions(compressor="store"))
    with zipfile.ZipFile(written.path) as archive:
        assert len(archive.infolist()) == 70_000
    data = written.path.read_bytes()
    assert data[-22:-18] == b"PK\x05\x06"
    assert data[-22 + 8 : -22 + 10] == b"\xff\xff"  # entry count deferred to the ZIP64 record


def test_mtime_resolution() -> None:
    assert resolve_mtime(None, {}) == datetime(1980, 1, 1, tzinfo=UTC)
    # SOURCE_DATE_EPOCH only when asked for: a CI exporting the commit time changes nothing
    assert resolve_mtime(None, {"SOURCE_DATE_EPOCH": "1700000000"}) == datetime(1980, 1, 1,
                                                                               tzinfo=UTC)  # fmt: skip
    assert resolve_mtime(
        "source-date-epoch", {"SOURCE_DATE_EPOCH": "1700000000"}
    ) == datetime.fromtimestamp(1700000000, UTC)
    assert resolve_mtime("1700000000", {"SOURCE_DATE_EPOCH": "1"}) == datetime.fromtimestamp(
        1700000000, UTC
    )
    assert resolve_mtime("2024-01-31T12:00:00Z") == datetime(2024, 1, 31, 12, tzinfo=UTC)
    assert resolve_mtime("2024-01-31") == datetime(2024, 1, 31, tzinfo=UTC)
    assert resolve_mtime("2024-01-31T14:00:00+02:00").astimezone(UTC) == datetime(
        2024, 1, 31, 12, tzinfo=UTC
    )
    resolve_mtime(None, {"SOURCE_DATE_EPOCH": "yesterday"})  # not asked for: not read
    with pytest.raises(DetzipError, match="SOURCE_DATE_EPOCH"):
        resolve_mtime("source-date-epoch", {"SOURCE_DATE_EPOCH": "yesterday"})
    with pytest.raises(DetzipError, match=r"SOURCE_DATE_EPOCH, which is not set"):
        resolve_mtime("source-date-epoch", {})
    with pytest.raises(DetzipError, match=r"write it as source-date-epoch"):
        resolve_mtime("SOURCE_DATE_EPOCH", {"SOURCE_DATE_EPOCH": "1"})
    with pytest.raises(DetzipError, match=r"mtime .last tuesday. is neither"):
        resolve_mtime("last tuesday")


def test_mtime_is_clamped_and_rounded_in_utc(tmp_path: Path) -> None:
    assert ZipOptions.create(mtime=0).mtime == datetime(1980, 1, 1, tzinfo=UTC)
    assert ZipOptions.create(mtime="2024-05-06T07:08:09Z").mtime == datetime(
        2024, 5, 6, 7, 8, 8, tzinfo=UTC
    )
    assert ZipOptions.create(mtime="2200-01-01").mtime.year == 2107
    options = ZipOptions.create(mtime="2024-05-06T07:08:09Z")
    path = write_zip([Entry.data("a", b"a")], tmp_path / "t.zip", options).path
    assert read_infos(path)[0].date_time == (2024, 5, 6, 7, 8, 8)
    assert options.describe()["mtime"] == "2024-05-06T07:08:08Z"


def test_known_answer_check_passes_on_the_pinned_build() -> None:
    compressors._verified.clear()
    compressors.verify_deflate(6)
    assert 6 in compressors._verified
    assert set(compressors.KNOWN_ANSWERS) == set(range(1, 13))


def test_known_answer_check_refuses_a_different_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    compressors._verified.clear()
    monkeypatch.setitem(compressors.KNOWN_ANSWERS, 6, "0" * 64)
    with pytest.raises(CompressorMismatchError, match=r"deflate==0\.9\.0.*compressor='zlib'"):
        write_zip([Entry.data("a", b"a" * 100)], tmp_path / "k.zip")
    assert list(tmp_path.iterdir()) == []
    compressors._verified.clear()


def test_an_existing_output_is_replaced_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    out.write_bytes(b"previous")
    with pytest.raises(DetzipError):
        write_zip([Entry.data("a", b"1"), Entry.data("a", b"2")], out)
    assert out.read_bytes() == b"previous"
    write_zip([Entry.data("a", b"1")], out)
    assert zipfile.ZipFile(io.BytesIO(out.read_bytes())).read("a") == b"1"


def test_output_file_mode_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_zip([Entry.data("a", b"1")], tmp_path / "m.zip").path
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_file_longer_than_its_stat_says_is_read_to_its_end(tmp_path: Path) -> None:
    """The writer reads a file in one call of its stat size + 1; a file that says 0 bytes but
    has more (as /proc files do, or one growing while read) is read to its end all the same."""
    source = Path("/proc/self/maps")
    if not source.exists() or source.stat().st_size != 0:
        pytest.skip("needs a /proc file that reports size 0")
    content = zipwriter._read(source)
    assert len(content) > 1 and content.endswith(b"\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    assert zipwriter._read(big) == big.read_bytes()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert zipwriter._read(empty) == b""


def test_a_file_read_whole_at_its_stat_size_takes_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first read of exactly the size fstat gave is the whole file: no read to find its end
    (a tenth of a small file's reading); a short one still reads on (see test_recompress)."""
    source = tmp_path / "m.py"
    source.write_bytes(b"x = 1\n" * 100)
    reads: list[int] = []
    real = os.read

    def counted(fd: int, n: int) -> bytes:
        reads.append(n)
        return real(fd, n)

    monkeypatch.setattr(os, "read", counted)
    assert zipwriter._read(source) == b"x = 1\n" * 100
    assert reads == [601]
    reads.clear()
    monkeypatch.setattr(os, "read", lambda fd, n: counted(fd, min(n, 100)))
    assert zipwriter._read(source) == b"x = 1\n" * 100
    assert len(reads) == 7  # six pieces, then the read that returns nothing


@pytest.mark.parametrize("hint", [0, 1, 599, 600, 601, 5000])
def test_a_file_is_read_whole_whatever_size_the_walk_saw(tmp_path: Path, hint: int) -> None:
    """The size the walk saw stands for fstat's; a stale one (the file grew or shrank since)
    still gives the whole file, and an entry with it zips to the same bytes."""
    source = tmp_path / "m.py"
    source.write_bytes(b"x = 1\n" * 100)
    assert zipwriter._read(source, hint) == source.read_bytes()
    hinted = write_zip([Entry.file("m.py", source, size_hint=hint)], tmp_path / "a.zip")
    plain = write_zip([Entry.file("m.py", source, size_hint=600)], tmp_path / "b.zip")
    assert hinted.sha256 == plain.sha256
