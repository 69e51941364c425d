"""Opt-in recompression of members that arrive compressed (a wheel's), and format 2's folders.

A recompressed member must be exactly what detzip writes for the same content read from
anywhere else: the zip equals the one built from the inflated bytes, at every level.
"""

from __future__ import annotations

import builtins
import hashlib
import itertools
import json
import os
import subprocess
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detzip import build_layer
from detzip.errors import DetzipError
from detzip.zip.entries import DEFLATED, STORED, Entry, Precompressed
from detzip.zip.options import ZipOptions
from detzip.zip.writer import write_zip

from .conftest import make_tree, require_tool, run_cli
from .wheelfactory import Locked as _Locked
from .wheelfactory import Wheel, requirements_txt


def precompressed(name: str, content: bytes, *, method: int = DEFLATED, level: int = 6) -> Entry:
    """``content`` as zlib compresses it (as a wheel carries it), in 7-byte chunks."""
    if method == DEFLATED:
        engine = zlib.compressobj(level, zlib.DEFLATED, -15)
        raw = engine.compress(content) + engine.flush()
    else:
        raw = content

    def chunks() -> Iterator[bytes]:
        return iter([raw[i : i + 7] for i in range(0, len(raw), 7)])

    source = Precompressed(
        method, zlib.crc32(content), len(raw), len(content), lambda: raw, "a wheel", chunks
    )
    return Entry(name, source)


TEXT = b"".join(b"def handler_%d(event, context):\n    return %d\n" % (i, i) for i in range(300))


@settings(max_examples=40, deadline=None)
@given(
    contents=st.lists(st.binary(max_size=3000), min_size=1, max_size=6),
    level=st.sampled_from([1, 6, 9, 12]),
    method=st.sampled_from([DEFLATED, STORED]),
)
def test_recompressed_equals_built_from_the_content(
    tmp_path_factory: pytest.TempPathFactory, contents: list[bytes], level: int, method: int
) -> None:
    folder = tmp_path_factory.mktemp("z")
    contents = [c + TEXT[: len(c)] for c in contents]  # some compressible, some not
    options = ZipOptions(level=level, recompress=True)
    copied = [precompressed(f"m{i}.py", c, method=method) for i, c in enumerate(contents)]
    plain = [Entry.data(f"m{i}.py", c) for i, c in enumerate(contents)]
    a = write_zip(copied, folder / "a.zip", options)
    b = write_zip(plain, folder / "b.zip", ZipOptions(level=level))
    assert a.sha256 == b.sha256
    with zipfile.ZipFile(folder / "a.zip") as archive:
        assert archive.testzip() is None
        assert [archive.read(f"m{i}.py") for i in range(len(contents))] == contents


def test_without_recompress_the_wheel_stream_is_copied(tmp_path: Path) -> None:
    entry = precompressed("m.py", TEXT, level=1)
    assert isinstance(entry.source, Precompressed)
    copied = write_zip([entry], tmp_path / "a.zip", ZipOptions(level=12))
    again = write_zip([entry], tmp_path / "b.zip", ZipOptions(level=12, recompress=True))
    with zipfile.ZipFile(copied.path) as a, zipfile.ZipFile(again.path) as b:
        assert a.getinfo("m.py").compress_size == entry.source.compressed_size
        assert b.getinfo("m.py").compress_size < a.getinfo("m.py").compress_size
        assert a.read("m.py") == b.read("m.py") == TEXT


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("crc", "CRC-32"),
        ("size", "CRC-32"),
        ("stream", "inflate"),
        ("truncated", "cut short"),
        ("trailing", "bytes after its end"),
    ],
)
def test_a_member_that_does_not_inflate_to_its_record_is_refused(
    tmp_path: Path, damage: str, says: str
) -> None:
    engine = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = engine.compress(TEXT) + engine.flush()
    crc, size = zlib.crc32(TEXT), len(TEXT)
    if damage == "crc":
        crc ^= 1
    elif damage == "size":
        size += 1
    elif damage == "stream":
        raw = b"\xff" * 8 + raw
    elif damage == "truncated":
        raw = raw[: len(raw) // 2]
    else:
        raw = raw + b"extra"
    entry = Entry("m.py", Precompressed(DEFLATED, crc, len(raw), size, lambda: raw, "wheel w"))
    out = tmp_path / "out.zip"
    out.write_bytes(b"previous")
    with pytest.raises(DetzipError, match=says) as caught:
        write_zip([entry], out, ZipOptions(recompress=True))
    assert "wheel w" in str(caught.value)
    assert out.read_bytes() == b"previous"


def test_a_stream_far_longer_than_its_record_is_stopped_at_the_record(tmp_path: Path) -> None:
    # a bomb: 64 MiB of zeros declared as 10 bytes; inflating stops one byte past the record
    engine = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = engine.compress(bytes(64 << 20)) + engine.flush()
    entry = Entry("m.py", Precompressed(DEFLATED, 0, len(raw), 10, lambda: raw, "wheel w"))
    with pytest.raises(DetzipError, match="recorded size"):
        write_zip([entry], tmp_path / "out.zip", ZipOptions(recompress=True))


@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=6))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_stream_in_any_chunks_recompresses_to_the_same_bytes(
    tmp_path: Path, cuts: list[int]
) -> None:
    engine = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = engine.compress(TEXT) + engine.flush()
    bounds = [0, *sorted(min(cut, len(raw)) for cut in cuts), len(raw)]
    pieces = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    whole = Precompressed(DEFLATED, zlib.crc32(TEXT), len(raw), len(TEXT), lambda: raw, "w")
    chunked = Precompressed(
        DEFLATED, zlib.crc32(TEXT), len(raw), len(TEXT), lambda: raw, "w", lambda: iter(pieces)
    )
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    write_zip([Entry("m.py", whole)], a, ZipOptions(recompress=True))
    write_zip([Entry("m.py", chunked)], b, ZipOptions(recompress=True))
    assert a.read_bytes() == b.read_bytes()


# -- layers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    Wheel(
        "bulky",
        "1.0",
        files={
            f"bulky/mod{i}.py": TEXT.replace(b"handler", b"f%d_" % i).decode() for i in range(30)
        },
        compression=zipfile.ZIP_DEFLATED,
    ).build(folder)
    Wheel(
        "plain", "2.0", files={"plain.py": "X = 1\n" * 400}, compression=zipfile.ZIP_STORED
    ).build(folder)
    return folder


def _requirements(wheels: Path, where: Path) -> Path:
    locked = [
        _Locked(path.name.split("-")[0], path.name.split("-")[1], [path])
        for path in sorted(wheels.glob("*.whl"))
    ]
    path = where / "requirements.txt"
    path.write_text(requirements_txt(locked, wheels))
    return path


def _contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


@pytest.mark.slow
def test_layer_recompressed_has_the_same_files_and_is_smaller(wheels: Path, tmp_path: Path) -> None:
    requirements = _requirements(wheels, tmp_path)
    common = {"find_links": [str(wheels)], "no_index": True, "cache": False}
    copied = build_layer(requirements, tmp_path / "copied.zip", **common)  # type: ignore[arg-type]
    small = build_layer(
        requirements,
        tmp_path / "small.zip",
        level=12,
        recompress=True,
        **common,  # type: ignore[arg-type]
    )
    assert _contents(copied.path) == _contents(small.path)
    assert small.size < copied.size
    assert small.description["recompress"] is True and copied.description["recompress"] is False
    assert copied.key != small.key
    unzip = require_tool("unzip")
    for path in (copied.path, small.path):
        assert subprocess.run([unzip, "-tq", str(path)], capture_output=True).returncode == 0
    again = build_layer(
        requirements,
        tmp_path / "again.zip",
        level=12,
        recompress=True,
        **common,  # type: ignore[arg-type]
    )
    assert again.sha256 == small.sha256


@pytest.mark.slow
def test_the_cache_keeps_recompressed_and_copied_layers_apart(wheels: Path, tmp_path: Path) -> None:
    requirements = _requirements(wheels, tmp_path)
    env = {"DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(tmp_path / "cache")}
    base = ["layer", "-r", str(requirements), "--find-links", str(wheels), "--no-index", "--json"]
    first = run_cli(*base, "-o", str(tmp_path / "a.zip"), env=env)
    second = run_cli(*base, "-o", str(tmp_path / "b.zip"), "--recompress", "--level", "9", env=env)
    third = run_cli(*base, "-o", str(tmp_path / "c.zip"), "--recompress", "--level", "9", env=env)
    assert first.returncode == second.returncode == third.returncode == 0, second.stderr
    a, b, c = (json.loads(p.stdout) for p in (first, second, third))
    assert b["sha256"] != a["sha256"] and b["cache_hit"] is False
    assert c["cache_hit"] is True and c["sha256"] == b["sha256"]
    assert _contents(tmp_path / "a.zip") == _contents(tmp_path / "b.zip")


# -- format 2: folder entries only for empty folders ---------------------------------------------


def test_only_empty_folders_have_entries(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"pkg/sub/mod.py": "X = 1\n", "app.py": "Y = 2\n"})
    (src / "empty" / "inner").mkdir(parents=True)
    out = tmp_path / "fn.zip"
    proc = run_cli("function", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["app.py", "empty/inner/", "pkg/sub/mod.py"]
    extracted = tmp_path / "x"
    unzip, bsdtar = require_tool("unzip"), require_tool("bsdtar")
    assert subprocess.run([unzip, "-q", str(out), "-d", str(extracted)]).returncode == 0
    assert (extracted / "pkg/sub/mod.py").read_text() == "X = 1\n"
    assert (extracted / "empty/inner").is_dir()
    listed = subprocess.run([bsdtar, "-tf", str(out)], capture_output=True, text=True)
    assert listed.stdout.split() == ["app.py", "empty/inner/", "pkg/sub/mod.py"]
    assert hashlib.sha256(out.read_bytes()).hexdigest()  # written, readable


def test_a_file_and_a_folder_of_the_same_name_still_clash(tmp_path: Path) -> None:
    entries = [Entry.data("a/b", b"1"), Entry.data("a/b/c", b"2")]
    with pytest.raises(DetzipError, match="both a file"):
        write_zip(entries, tmp_path / "z.zip")
    entries = [Entry.data("a", b"1"), Entry.data("a/b/c/d", b"2")]
    with pytest.raises(DetzipError, match="both a file"):
        write_zip(entries, tmp_path / "z.zip")


def test_a_member_recording_more_than_its_stream_can_hold_is_refused_unallocated(
    tmp_path: Path,
) -> None:
    # a forged record (16 TiB from a few bytes): refused before any buffer is made for it
    engine = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = engine.compress(TEXT) + engine.flush()
    entry = Entry(
        "m.py", Precompressed(DEFLATED, zlib.crc32(TEXT), len(raw), 1 << 44, lambda: raw, "wheel w")
    )
    with pytest.raises(DetzipError, match="more than its") as caught:
        write_zip([entry], tmp_path / "out.zip", ZipOptions(recompress=True), workers=2)
    assert "wheel w" in str(caught.value)
    assert not (tmp_path / "out.zip").exists()


def test_too_little_memory_to_recompress_is_an_error_naming_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detzip.zip import writer

    def no_memory(*size: int) -> bytearray:
        if not size:  # the writer's own (empty) buffers
            return builtins.bytearray()
        raise MemoryError

    monkeypatch.setattr(writer, "bytearray", no_memory, raising=False)
    with pytest.raises(DetzipError, match="too little memory") as caught:
        write_zip([precompressed("m.py", TEXT)], tmp_path / "out.zip", ZipOptions(recompress=True))
    assert caught.value.settings[0].option == "recompress"


def test_files_are_read_to_their_end_when_reads_come_back_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Linux returns at most 0x7ffff000 bytes per read: a short read is not always the end
    from detzip.zip import writer

    make_tree(tmp_path / "src", {"big.bin": bytes(range(256)) * 40, "small.py": "x = 1\n"})
    whole = write_zip(writer_entries(tmp_path / "src"), tmp_path / "a.zip")
    real = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: real(fd, min(n, 1000)))
    assert writer._read(tmp_path / "src/big.bin") == bytes(range(256)) * 40
    capped = write_zip(writer_entries(tmp_path / "src"), tmp_path / "b.zip")
    assert capped.sha256 == whole.sha256


def writer_entries(root: Path) -> list[Entry]:
    return [Entry.file(p.name, p) for p in sorted(root.iterdir())]
