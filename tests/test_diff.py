"""`detzip diff`: each kind of difference is found and named; exit 0 identical, 1 different."""

from __future__ import annotations

import json
import subprocess
import unicodedata
import zipfile
from pathlib import Path

import pytest

from detzip import build_function, diff_zips
from detzip.zip.diff import Difference
from detzip.zip.entries import Entry
from detzip.zip.options import ZipOptions
from detzip.zip.writer import write_zip

from .conftest import assert_one_line_error, make_tree, require_tool, run_cli


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "src",
        {"app.py": "print('x')\n" * 40, "lib/a.py": "A = 1\n", "run.sh": "#!/bin/sh\n"},
    )


def aspects(a: Path, b: Path) -> set[str]:
    return {d.aspect for d in diff_zips(a, b)}


def test_identical(src: Path, tmp_path: Path) -> None:
    a = build_function(src, tmp_path / "a.zip").path
    b = build_function(src, tmp_path / "b.zip").path
    assert diff_zips(a, b) == []
    result = run_cli("diff", str(a), str(b))
    assert result.returncode == 0 and "identical" in result.stdout


def test_content_only_in_and_mode(src: Path, tmp_path: Path) -> None:
    a = build_function(src, tmp_path / "a.zip").path
    (src / "app.py").write_text("print('y')\n")
    (src / "new.py").write_text("")
    (src / "lib" / "a.py").unlink()
    (src / "run.sh").chmod(0o755)
    b = build_function(src, tmp_path / "b.zip").path
    found = diff_zips(a, b)
    by = {(d.aspect, d.entry) for d in found}
    assert ("content", "app.py") in by
    assert ("only in A", "lib/a.py") in by
    assert ("only in B", "new.py") in by
    assert ("mode", "run.sh") in by
    result = run_cli("diff", str(a), str(b), "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["identical"] is False
    assert {"aspect": "mode", "entry": "run.sh", "a": "100644", "b": "100755"} in data[
        "differences"
    ]


def test_time_and_compression(src: Path, tmp_path: Path) -> None:
    a = build_function(src, tmp_path / "a.zip").path
    b = build_function(src, tmp_path / "b.zip", mtime="2024-01-01").path
    assert aspects(a, b) == {"time"}
    human = run_cli("diff", str(a), str(b))
    assert human.returncode == 1 and "SOURCE_DATE_EPOCH" in human.stdout
    from detzip.zip.compressors import known_answer_inputs

    (src / "words.txt").write_bytes(known_answer_inputs()[2])
    a = build_function(src, tmp_path / "a.zip").path
    c = build_function(src, tmp_path / "c.zip", level=1).path
    d = build_function(src, tmp_path / "d.zip", level=12).path
    assert aspects(c, d) == {"compressed bytes"}
    e = build_function(src, tmp_path / "e.zip", compressor="store").path
    assert aspects(a, e) == {"compression method"}


def test_order_and_header_fields(tmp_path: Path) -> None:
    a = write_zip(
        [Entry.data("a.txt", b"1"), Entry.data("b.txt", b"2")],
        tmp_path / "a.zip",
        ZipOptions(compressor="store"),
    ).path
    with zipfile.ZipFile(
        tmp_path / "b.zip", "w"
    ) as archive:  # the stdlib writer: other order, fields
        for name, data in (("b.txt", b"2"), ("a.txt", b"1")):
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            info.create_system = 3 if name == "a.txt" else 0
            archive.writestr(info, data)
    found = aspects(a, tmp_path / "b.zip")
    assert found == {"order", "header create_system", "mode"}


def test_layout_only_difference(tmp_path: Path) -> None:
    """Entries agree but bytes do not (here: junk after the end record): the offset is named."""
    a = write_zip([Entry.data("a.txt", b"1")], tmp_path / "a.zip").path
    b = tmp_path / "b.zip"
    b.write_bytes(a.read_bytes() + b"junk")
    found = diff_zips(a, b)
    assert [d.aspect for d in found] == ["archive layout"]
    assert found[0].a.startswith(f"byte {a.stat().st_size} of")


def test_zip_made_by_infozip(src: Path, tmp_path: Path) -> None:
    """The classic case: `zip -r` vs detzip — times, modes, extra fields are all named."""
    zip_tool = require_tool("zip")
    ours = build_function(src, tmp_path / "ours.zip").path
    theirs = tmp_path / "theirs.zip"
    subprocess.run([zip_tool, "-q", "-r", str(theirs), "."], cwd=src, check=True)
    found = aspects(ours, theirs)
    assert "time" in found and "header extra" in found


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_text("not a zip")
    good = write_zip([Entry.data("a", b"")], tmp_path / "g.zip").path
    assert_one_line_error(
        run_cli("diff", str(tmp_path / "x.zip"), str(good)), "x.zip", "not a valid zip"
    )
    assert_one_line_error(run_cli("diff", str(good), str(tmp_path / "none.zip")), "none.zip")


# -- the same commit checked out on Windows or macOS ----------------------------------------------

NFC = unicodedata.normalize("NFC", "café.py")
NFD = unicodedata.normalize("NFD", NFC)


def stdlib_zip(path: Path, entries: dict[str, bytes], mode: int = 0o644) -> Path:
    """A zip of ``entries`` in order, deflated, by Python's zipfile with one time and mode."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


def test_content_differing_only_in_line_endings(tmp_path: Path) -> None:
    lf = b"def handler(e, c):\n    return 1\n" * 5000  # more than one chunk read at a time
    a = stdlib_zip(tmp_path / "a.zip", {"app.py": lf.replace(b"\n", b"\r\n"), "x.py": b"1\n"})
    b = stdlib_zip(tmp_path / "b.zip", {"app.py": lf, "x.py": b"1\r\n2\n"})
    assert diff_zips(a, b) == [
        Difference("line endings", "app.py", "CRLF", "LF"),
        Difference("content", "x.py", "2 bytes, crc 6751fc53", "5 bytes, crc a83b864f"),
    ]
    assert diff_zips(b, a)[0] == Difference("line endings", "app.py", "LF", "CRLF")
    human = run_cli("diff", str(a), str(b))
    assert human.returncode == 1
    assert "  app.py: content differs only in line endings (A: CRLF, B: LF)" in human.stdout
    assert "core.autocrlf" in human.stdout
    assert "  x.py: 2 bytes, crc 6751fc53 -> 5 bytes, crc a83b864f" in human.stdout  # as before
    data = json.loads(run_cli("diff", str(a), str(b), "--json").stdout)
    assert data["differences"][0] == {
        "aspect": "line endings",
        "entry": "app.py",
        "a": "CRLF",
        "b": "LF",
    }
    mixed = stdlib_zip(tmp_path / "m.zip", {"app.py": lf.replace(b"\n", b"\r\n", 1), "x.py": b""})
    assert diff_zips(mixed, b)[0] == Difference("line endings", "app.py", "mixed CRLF and LF", "LF")


def test_names_differing_only_in_unicode_normalisation(tmp_path: Path) -> None:
    """NFD (as macOS may name files) vs NFC: one pair, not an entry only in A and one only in B;
    its contents and modes are compared as for one name."""
    a = stdlib_zip(tmp_path / "a.zip", {NFD: b"x = 1\n", "z.py": b""})
    b = stdlib_zip(tmp_path / "b.zip", {NFC: b"x = 1\n", "z.py": b""})
    assert diff_zips(a, b) == [Difference("name normalisation", NFD, "NFD", "NFC")]
    assert diff_zips(b, a) == [Difference("name normalisation", NFC, "NFC", "NFD")]
    c = stdlib_zip(tmp_path / "c.zip", {NFC: b"x = 2\n", "z.py": b""}, mode=0o755)
    assert {(d.aspect, d.entry) for d in diff_zips(a, c)} == {
        ("name normalisation", NFD),
        ("content", NFD),
        ("mode", NFD),
        ("mode", "z.py"),
    }
    human = run_cli("diff", str(a), str(b))
    assert human.returncode == 1 and "only in A" not in human.stdout
    assert "only in B" not in human.stdout
    assert f"  {NFD}: names differ only in Unicode normalisation (A: NFD, B: NFC)" in human.stdout
    data = json.loads(run_cli("diff", str(a), str(b), "--json").stdout)
    assert data["differences"] == [
        {"aspect": "name normalisation", "entry": NFD, "a": "NFD", "b": "NFC"}
    ]
    # the order is checked on the pairs, B's entry shown by its own name
    swapped = stdlib_zip(tmp_path / "s.zip", {"z.py": b"", NFC: b"x = 1\n"})
    order = next(d for d in diff_zips(swapped, a) if d.aspect == "order")
    assert (order.a, order.b) == ("#0: z.py", f"#0: {NFD}")


def test_one_entry_differing_in_both_name_form_and_line_endings(tmp_path: Path) -> None:
    a = stdlib_zip(tmp_path / "a.zip", {NFC: b"x = 1\r\ny = 2\r\n"})
    b = stdlib_zip(tmp_path / "b.zip", {NFD: b"x = 1\ny = 2\n"})
    assert diff_zips(a, b) == [
        Difference("name normalisation", NFC, "NFC", "NFD"),
        Difference("line endings", NFC, "CRLF", "LF"),
    ]
    human = run_cli("diff", str(a), str(b)).stdout
    assert f"  {NFC}: names differ only in Unicode normalisation (A: NFC, B: NFD)" in human
    assert f"  {NFC}: content differs only in line endings (A: CRLF, B: LF)" in human
    assert "only in A" not in human and "only in B" not in human
    result = run_cli("diff", str(a), str(b), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["differences"] == [
        {"aspect": "name normalisation", "entry": NFC, "a": "NFC", "b": "NFD"},
        {"aspect": "line endings", "entry": NFC, "a": "CRLF", "b": "LF"},
    ]
