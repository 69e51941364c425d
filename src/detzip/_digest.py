"""File digests in the forms Terraform and humans use."""

from __future__ import annotations

import binascii
import os
from pathlib import Path

from detzip.errors import DetzipError


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes (a regular file: a FIFO would block forever)."""
    from detzip._fs import regular_file

    regular_file(Path(path), "a file")
    import hashlib  # (OpenSSL: ~2 ms of start-up, which a cache hit does without)

    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        raise DetzipError("no such file; check the path", path) from None
    except IsADirectoryError:
        raise DetzipError("is a directory; give a zip file", path) from None
    except OSError as exc:
        raise DetzipError(f"cannot read ({exc.strerror}); check the path", path) from None


def b64(hex_digest: str) -> str:
    """Standard base64 of a raw digest given in hex (Terraform's ``filebase64sha256`` form)."""
    return binascii.b2a_base64(bytes.fromhex(hex_digest), newline=False).decode("ascii")
