"""Cache keys: the sha256 of a canonical description of everything that determines a zip's bytes,
and how an artifact is named under its key in every cache (local or remote)."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from io import BufferedReader

    from detzip.zip.writer import WrittenZip

__all__ = [
    "KEY_VERSION",
    "RECORD_FIELDS",
    "cache_key",
    "canonical_json",
    "entry_name",
    "new_record",
    "safe_name",
    "sha256",
    "sha256_of_file",
    "valid_record",
]

#: Version of the key derivation; bump it if the description's shape changes meaning.
KEY_VERSION = 2  # 2: layers are checked complete before they are built (older: unchecked)


class Sha256(Protocol):
    """What :func:`sha256` returns: a sha256 hash object (hashlib's, or Python's own)."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        """Hash ``data`` too."""

    def digest(self) -> bytes:
        """The digest of all the bytes given, 32 bytes."""

    def hexdigest(self) -> str:
        """The digest in hex, 64 characters."""


#: the bytes a process hashes with Python's own sha256 (no OpenSSL) before it loads hashlib's:
#: a hit hashes only its key, its memos' checks and lock files, and importing hashlib (OpenSSL)
#: is ~2 ms of its start-up. Python's is ~5x slower per byte: past this many bytes in all (a
#: project's hundred hits), OpenSSL's import pays for itself, and every later one is OpenSSL's
SMALL = 1 << 18

_BUILTIN_LEFT = [SMALL]  # (this process's: what the built-in sha256 may still hash)


def sha256(data: bytes | bytearray | memoryview = b"") -> Sha256:
    """``hashlib.sha256(data)``, the same digest: by Python's built-in sha256 while hashlib is
    not loaded and this process has hashed under :data:`SMALL` bytes with it (a cache hit
    never loads hashlib), else by hashlib's (OpenSSL: faster on many bytes)."""
    if "hashlib" not in sys.modules and len(data) <= _BUILTIN_LEFT[0]:
        builtin = _builtin_sha256()
        if builtin is not None:
            _BUILTIN_LEFT[0] -= len(data)
            made: Sha256 = builtin(data)
            return made
    import hashlib

    return hashlib.sha256(data)


def sha256_of_file(handle: BufferedReader) -> str:
    """The sha256 (hex) of the rest of the file open as ``handle`` (a small one read whole and
    hashed by :func:`sha256`; else ``hashlib.file_digest``)."""
    try:
        size = os.fstat(handle.fileno()).st_size
    except (OSError, AttributeError, ValueError):  # (not a real file: hashlib reads it)
        size = SMALL + 1
    if size <= SMALL:
        data = handle.read(SMALL + 1)
        if len(data) <= SMALL:  # (not grown past SMALL while read)
            return sha256(data).hexdigest()
        digest = sha256(data)  # (grown while read: hashlib's, since data is over SMALL)
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
        return digest.hexdigest()
    import hashlib

    return hashlib.file_digest(handle, "sha256").hexdigest()


def _builtin_sha256() -> Any:
    """Python's built-in sha256 constructor (``_sha2`` from 3.12, ``_sha256`` before), or None
    in a Python built without it; looked for once (a failed import is not cached by Python:
    every attempt would search sys.path again)."""
    if not _BUILTIN:
        found = None
        names = ("_sha2", "_sha256") if sys.version_info >= (3, 12) else ("_sha256", "_sha2")
        for module in names:
            try:
                found = getattr(__import__(module), "sha256")  # noqa: B009 (untyped module)
                break
            except (ImportError, AttributeError):
                continue
        _BUILTIN.append(found)
    return _BUILTIN[0]


_BUILTIN: list[Any] = []  # (this process's: the constructor, or None, once looked for)


def canonical_json(data: Any) -> bytes:
    """``data`` as compact UTF-8 JSON with sorted keys: equal data, equal bytes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def cache_key(kind: str, description: Mapping[str, Any]) -> str:
    """The sha256 (hex) of a build's kind and description: equal keys mean equal bytes."""
    payload = {"detzip-cache-key": KEY_VERSION, "kind": kind, "description": dict(description)}
    return sha256(canonical_json(payload)).hexdigest()


def entry_name(name: str, key: str) -> str:
    """``<name>-<key[:16]>``: how an artifact is addressed in every cache."""
    return f"{safe_name(name)}-{key[:16]}"


def safe_name(name: str) -> str:
    """``name`` made safe for file and object names: each run of characters outside
    ``A-Za-z0-9._-`` becomes ``_``; leading and trailing dots and underscores are dropped
    (``artifact`` if nothing is left), and it is cut to 100 characters (a file name must
    leave room for the key and the suffixes)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:100].rstrip("._")
    return cleaned or "artifact"


#: the fields of an artifact's record every reader relies on, and their types
RECORD_FIELDS: dict[str, type] = {
    "key": str,
    "name": str,
    "sha256": str,
    "size": int,
    "unzipped_size": int,
    "entries": int,
    "options": dict,
}


def new_record(
    name: str, key: str, description: Mapping[str, Any], written: WrittenZip
) -> dict[str, Any]:
    """The record of a zip just ``written`` under ``key``: what every cache keeps beside it and
    every build reports (see :data:`RECORD_FIELDS`), with its ``provenance`` (who built it,
    where and when: outside the key, see :mod:`detzip.cache.provenance`)."""
    from detzip.cache.provenance import provenance

    return {
        "detzip-cache-entry": KEY_VERSION,
        "key": key,
        "name": name,
        "sha256": written.sha256,
        "size": written.size,
        "unzipped_size": written.unzipped_size,
        "entries": written.entries,
        "options": dict(description),
        "provenance": provenance(),
    }


def valid_record(record: Any, key: str) -> bool:
    """Whether ``record`` (parsed JSON, local or remote) is a whole record of ``key``: every
    field of :data:`RECORD_FIELDS` present with its type, sizes not negative, a hex sha256."""
    if not isinstance(record, dict) or record.get("key") != key:
        return False
    for field, kind in RECORD_FIELDS.items():
        value = record.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
    sha = record["sha256"]
    return (
        len(sha) == 64
        and all(c in "0123456789abcdef" for c in sha)
        and min(record["size"], record["unzipped_size"], record["entries"]) >= 0
    )
