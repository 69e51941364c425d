"""The cache keys (detzip.cache.keys), imported directly: canonical JSON, keys over the kind and
every value (stable, versioned), safe entry names, and records valid only whole."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from detzip.cache import keys
from detzip.inputs.tree import TreeSpec, collect
from detzip.inputs.walked import Walked, fingerprint_items
from detzip.zip.entries import Entry, Precompressed, fingerprint


def test_canonical_json_ignores_key_order_and_keeps_unicode() -> None:
    assert keys.canonical_json({"b": 1, "a": "é"}) == keys.canonical_json({"a": "é", "b": 1})
    assert keys.canonical_json({"a": "é"}) == '{"a":"é"}'.encode()


def test_cache_key_depends_on_kind_and_every_value() -> None:
    base = keys.cache_key("layer", {"packages": [{"name": "a"}], "arch": "x86_64"})
    assert base == keys.cache_key("layer", {"arch": "x86_64", "packages": [{"name": "a"}]})
    assert base != keys.cache_key("function", {"packages": [{"name": "a"}], "arch": "x86_64"})
    assert base != keys.cache_key("layer", {"packages": [{"name": "a"}], "arch": "arm64"})
    assert len(base) == 64 and int(base, 16) >= 0


def test_cache_key_is_stable() -> None:
    """A key change invalidates every cache: it must be a deliberate, versioned event."""
    assert keys.KEY_VERSION == 2  # 2: layers are checked complete before they are built
    assert (
        keys.cache_key("function", {"content": "x"})
        == hashlib.sha256(
            b'{"description":{"content":"x"},"detzip-cache-key":2,"kind":"function"}'
        ).hexdigest()
    )


def test_content_fingerprint_is_stable(tmp_path: Path) -> None:
    """What a tree's ``content`` key is made of (every name, exec bit and content digest) hashes
    to the same value however it is computed: a change is a key change, so it is pinned here
    (the value 0.x gave, before the fingerprint was made as one string)."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "h.py").write_bytes(b"def handler(e, c):\n    return 1\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (tmp_path / "bin" / "run.sh").chmod(0o755)
    (tmp_path / "empty").mkdir()
    raw = b"stored bytes"
    entries = [
        *collect(tmp_path, TreeSpec()),
        Entry.data("caf\u00e9/\u00fcber.txt", "na\u00efve\n".encode()),
        Entry(
            "pkg/data.bin", Precompressed(0, zlib.crc32(raw), len(raw), len(raw), read=lambda: raw)
        ),
    ]
    digests: dict[str, str] = {}
    assert fingerprint(entries, digests) == {
        "entries": 5,
        "sha256": "4195373cccb9540fb1598f4c176ce3db06e57749f6b7c45bf8f8491d9d269e44",
    }
    assert digests["app/h.py"] == hashlib.sha256(b"def handler(e, c):\n    return 1\n").hexdigest()
    # a walked folder's fingerprint (as a build without a cache keys it, and as a memo's items)
    walked = Walked(tmp_path, {}, entries=collect(tmp_path, TreeSpec()))
    walked.read()
    tree_only = fingerprint(collect(tmp_path, TreeSpec()))
    assert walked.fingerprint() == tree_only == fingerprint_items(walked.items())
    assert walked.digests == {n: d for n, d in digests.items() if n in ("app/h.py", "bin/run.sh")}


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("api", "api"),
        ("my fn/v2", "my_fn_v2"),
        ("..", "artifact"),
        ("é", "artifact"),
        ("a" * 300, "a" * 100),  # room for the key and the suffixes in a 255-byte name
        ("a" * 99 + "._b", "a" * 99),
    ],
)
def test_entry_names_are_safe_file_names(name: str, safe: str) -> None:
    assert keys.entry_name(name, "ab" * 32) == f"{safe}-{'ab' * 8}"


def test_a_record_is_valid_only_whole() -> None:
    key = "ab" * 32
    good = {"key": key, "name": "f", "sha256": "0" * 64, "size": 1, "unzipped_size": 1,
            "entries": 1, "options": {}}  # fmt: skip
    assert keys.valid_record(good, key)
    assert not keys.valid_record(good, "cd" * 32)
    for field, bad in [("size", "1"), ("size", -1), ("entries", True), ("sha256", "0" * 63),
                       ("sha256", "G" * 64), ("options", []), ("name", None)]:  # fmt: skip
        assert not keys.valid_record({**good, field: bad}, key), field
    assert not keys.valid_record([], key) and not keys.valid_record({}, key)
