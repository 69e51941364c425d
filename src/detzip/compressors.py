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

import hashlib
import threading
import zlib
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version

from detzip.errors import CompressorMismatchError

DEFLATE_PIN = "0.9.0"
"""The exact ``deflate`` release whose output detzip's format is defined by (libdeflate 1.26)."""

Compress = Callable[[bytes], bytes]


def known_answer_inputs() -> list[bytes]:
    """Fixed inputs that exercise literals, matches of all lengths and incompressible runs."""
    words = (
        b"lambda layer python import def return self None True False class from package "
        b"requirements wheel zip deflate archive bytes boto3 json handler event context "
    ).split()
    text = bytearray()
    counter = 0
    while len(text) < 96 * 1024:
        digest = hashlib.sha256(counter.to_bytes(8, "little")).digest()
        for byte in digest:
            text += words[byte % len(words)] + (b"\n" if byte % 11 == 0 else b" ")
        counter += 1
    noise = b"".join(
        hashlib.sha256(b"noise" + i.to_bytes(4, "little")).digest() for i in range(2048)
    )
    mixed = bytes(text[:20000]) + noise[:20000] + bytes(text[20000:40000]) + b"\0" * 30000
    return [b"", b"a", bytes(text), noise, mixed]


# sha256 over the concatenation of deflate_compress(input, level) for known_answer_inputs(),
# computed with deflate==0.9.0. Changing these is a change of detzip's output format.
KNOWN_ANSWERS: dict[int, str] = {
    1: "0776791ed87e218a15f0ae33f9c4cb0b0d65edb0a680a0b024f6c03e383c6db3",
    2: "e59ee8acbd7e6a138be42b620cb94d5cc32bb67e078f6a60011bc3e727287fb8",
    3: "a8b63a8474ff0c459df6b20b587bcc7bdb0096e63a60783efe3013ca6a763fd9",
    4: "d2a60625c042a2a7318e93ea0cb1ba8d664571f3aa8fd55e9dd6afc03153ee57",
    5: "1bcb7395260083632cde0be623f51b6f4e1459d3f0f35e4293a7c41f413e1a40",
    6: "32b096c000932b3d6c88783a6698bcf30c7c88acd7946403b93f6f1330ca140a",
    7: "8775c86619784e61579962231f6eedbc8baee32cee50b3bda8ac000c02e46e8e",
    8: "f52410af11a634be0dfe0bb38bdbdb265d4268770a2e53aedddd92d324a90a95",
    9: "7b64e04cc97e546eab83b532eabbf03b540a49c3be065056afca8b455574d008",
    10: "3079a468a128547d5e6903ee3ad745bda9226dc80bdd234f14d6326742b2d195",
    11: "0fc9813e0f7422bd12e5a0e08ed2e9f3e41c426629f542a75929ea4edaf2dfac",
    12: "a419f2691488241e47be47a827ba5cfb1f5261dda4cc1754ab2b0f700c51f947",
}

_verified: set[int] = set()
_verify_lock = threading.Lock()


def _answer(level: int, compress: Callable[[bytes, int], bytes]) -> str:
    digest = hashlib.sha256()
    for data in known_answer_inputs():
        out = compress(data, level)
        digest.update(len(out).to_bytes(8, "little"))
        digest.update(out)
    return digest.hexdigest()


def verify_deflate(level: int) -> None:
    """Refuse to go on if this machine's libdeflate build gives bytes other than the pinned one.

    Runs once per level and process, before the first compression at that level (~10 ms).
    """
    if level in _verified:
        return
    with _verify_lock:
        if level in _verified:
            return
        import deflate

        def compress(data: bytes, level: int) -> bytes:
            return bytes(deflate.deflate_compress(data, level))

        if _answer(level, compress) != KNOWN_ANSWERS[level]:
            try:
                found = dist_version("deflate")
            except PackageNotFoundError:
                found = "unknown"
            raise CompressorMismatchError(
                f"the installed deflate (version {found}) compresses differently from "
                f"deflate=={DEFLATE_PIN} at level {level}; reinstall it with "
                f"'pip install --force-reinstall deflate=={DEFLATE_PIN}' or use "
                "--compressor zlib (reproducible on this machine only)"
            )
        _verified.add(level)


def get(name: str, level: int) -> Compress | None:
    """A function compressing bytes to raw DEFLATE, or None for ``store``."""
    if name == "store":
        return None
    if name == "zlib":

        def compress_zlib(data: bytes) -> bytes:
            engine = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
            return engine.compress(data) + engine.flush()

        return compress_zlib
    verify_deflate(level)
    import deflate

    def compress_deflate(data: bytes) -> bytes:
        return deflate.deflate_compress(data, level)  # type: ignore[return-value]

    return compress_deflate


def identity(name: str) -> str:
    """What produced the compressed bytes, for results and cache keys."""
    return {
        "deflate": f"libdeflate (deflate=={DEFLATE_PIN})",
        "zlib": f"zlib {zlib.ZLIB_RUNTIME_VERSION} (this machine only)",
        "store": "stored",
    }[name]
