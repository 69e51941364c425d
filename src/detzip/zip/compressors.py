"""Compressors, and the known-answer check that guards the pinned one.

The compressed bytes are part of detzip's output format. The default compressor is libdeflate,
through the ``deflate`` package pinned to an exact version: its output is the same on every CPU
architecture for a given libdeflate version, but differs between versions. Before the first
compression in a process, :func:`verify_deflate` compresses fixed inputs and compares the digests
with the ones committed below; a different build is refused.

``zlib`` (the standard library's) is deterministic only on one machine: the system zlib may be
zlib-ng or another version. ``store`` does not compress.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable

from detzip.errors import CompressorMismatchError, Setting

__all__ = [
    "DEFLATE_PIN",
    "KNOWN_ANSWERS",
    "Compress",
    "get",
    "identity",
    "known_answer_inputs",
    "passthrough",
    "stored_block",
    "verify_deflate",
]

DEFLATE_PIN = "0.9.0"
"""The exact ``deflate`` release whose output detzip's format is defined by (libdeflate 1.26)."""

Compress = Callable[[bytes | bytearray], bytes]


def known_answer_inputs() -> list[bytes]:
    """Fixed inputs that exercise literals, matches of all lengths and incompressible runs."""
    words = (
        b"lambda layer python import def return self None True False class from package "
        b"requirements wheel zip deflate archive bytes boto3 json handler event context "
    ).split()
    import hashlib  # (OpenSSL: ~2 ms of start-up, which a cache hit does without)

    text = bytearray()
    counter = 0
    while len(text) < 24 * 1024:
        digest = hashlib.sha256(counter.to_bytes(8, "little")).digest()
        for byte in digest:
            text += words[byte % len(words)] + (b"\n" if byte % 11 == 0 else b" ")
        counter += 1
    noise = b"".join(
        hashlib.sha256(b"noise" + i.to_bytes(4, "little")).digest() for i in range(512)
    )
    mixed = bytes(text[:8000]) + noise[:8000] + bytes(text[8000:16000]) + b"\0" * 12000
    return [b"", b"a", bytes(text), noise, mixed]


# sha256 over the concatenation of deflate_compress(input, level) for known_answer_inputs(),
# computed with deflate==0.9.0. Changing these is a change of detzip's output format.
KNOWN_ANSWERS: dict[int, str] = {
    1: "0013e45c7ba151788566dccf6fd37faace79e3cf27784206ff236e1f5279df6b",
    2: "0e004e809736727fb39b70b1aa5b0472a2548cdeff137590dcff5be3005b983e",
    3: "f2e91347f243fe7f7ca3e8c056aa30cfd51c422707a2e4a330ede4762137b17c",
    4: "9de7fa085eba74d34915adfe4ed046617dede19f194aeba1f8a843472087c0c8",
    5: "29f121608792d7e9991a95d8001d2c4ec2c135eff055119b868836db16cc6604",
    6: "5af3d66c5234ce455a8795b75dcfa360d54fa4cf03e27da2fe38afb1104ccc1b",
    7: "d4b4faf01ba3e9a3758a14e5e269242a39e3f3c8d7b1a62d33393003721cb1f8",
    8: "963ab632ecd7bdb78d71d1ec63e854891f55d5437bad7bbe9e894eeddcc7f673",
    9: "359f16a707a569615acdacce8b73b08ebe66112a1dae944bbeddf45305903406",
    10: "f9e4c67dac4c990f49ee3dc5003c336e77fbf0985ae7bff4e1cafb899dacc3e1",
    11: "b64d6115ecbde51e855ec06cfc184b38ce2d4612c551c86a5379756775e97de6",
    12: "d974350e4d57a8c4baadcd7dabe312b754248c75b02f6818411f6d79cb6d0f9b",
}

_verified: set[int] = set()
_verify_lock = _thread.allocate_lock()  # (threading is not imported on a cache hit)


def _answer(level: int, compress: Callable[[bytes, int], bytes]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for data in known_answer_inputs():
        out = compress(data, level)
        digest.update(len(out).to_bytes(8, "little"))
        digest.update(out)
    return digest.hexdigest()


def verify_deflate(level: int) -> None:
    """Refuse to go on if this machine's libdeflate build gives bytes other than the pinned one.

    Runs once per level and process, before the first compression at that level (~2 ms).
    """
    if level in _verified:
        return
    with _verify_lock:
        if level in _verified:
            return
        import deflate

        def compress(data: bytes, level: int) -> bytes:
            return bytes(deflate.deflate_compress(data, level))

        framed = _deflate_at(level)  # (its stored blocks must be libdeflate's, byte for byte)
        edge = passthrough(level)
        samples = (b"", b"a", b"ab" * (edge // 2) + b"a" * (edge % 2))  # (the longest: "abab…")
        if _answer(level, compress) != KNOWN_ANSWERS[level] or any(
            framed(data) != compress(data, level) for data in samples
        ):
            from importlib.metadata import PackageNotFoundError, version

            try:
                found = version("deflate")
            except PackageNotFoundError:
                found = "unknown"
            raise CompressorMismatchError(
                f"the installed deflate (version {found}) compresses differently from "
                f"deflate=={DEFLATE_PIN} at level {level}; reinstall it with "
                f"'pip install --force-reinstall deflate=={DEFLATE_PIN}' or use "
                "{0} (reproducible on this machine only)",
                settings=[Setting("compressor", "zlib")],
            )
        _verified.add(level)


def get(name: str, level: int) -> Compress | None:
    """A function compressing bytes to raw DEFLATE, or None for ``store``."""
    if name == "store":
        return None
    if name == "zlib":
        import zlib

        def compress_zlib(data: bytes | bytearray) -> bytes:
            engine = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
            return engine.compress(data) + engine.flush()

        return compress_zlib
    verify_deflate(level)
    return _deflate_at(level)


def _deflate_at(level: int) -> Compress:
    """libdeflate at ``level``; an input it passes through as one stored block (at most
    :func:`passthrough` bytes: libdeflate does not try to compress those) is framed here, byte
    for byte as libdeflate would, without a call that allocates and frees a compressor (most
    of a small file's compression: a tree of tiny files spent a fifth of its build there)."""
    import deflate

    short = passthrough(level)

    def compress_deflate(data: bytes | bytearray) -> bytes:
        if len(data) <= short:
            return stored_block(data)
        return deflate.deflate_compress(data, level)  # type: ignore[return-value]

    return compress_deflate


def passthrough(level: int) -> int:
    """The longest input libdeflate (as pinned) stores rather than compresses at ``level``
    (``max_passthrough_size`` in its ``libdeflate_alloc_compressor``: 31 bytes at level 6)."""
    return 55 - 4 * level if 1 <= level <= 12 else -1


def stored_block(data: bytes | bytearray) -> bytes:
    """``data`` (under 64 KiB) as one final stored DEFLATE block: BFINAL with BTYPE 00, LEN,
    NLEN, the bytes."""
    size = len(data)
    return b"\x01" + (size | (size ^ 0xFFFF) << 16).to_bytes(4, "little") + bytes(data)


def identity(name: str) -> str:
    """What produced the compressed bytes, for results and cache keys."""
    if name == "zlib":  # (zlib is imported only for it: a hit with deflate does not load it)
        import zlib

        return f"zlib {zlib.ZLIB_RUNTIME_VERSION} (this machine only)"
    return {"deflate": f"libdeflate (deflate=={DEFLATE_PIN})", "store": "stored"}[name]
