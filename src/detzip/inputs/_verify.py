"""The verdict on a stored wheel's members, kept beside it.

A wheel is checked once, when it enters the wheel store (or at its first use, if it was stored
before there were checks): every member inflated against its central directory record
(:mod:`detzip.zip.members`). The verdict is kept beside it (``<sha256>/.verified``) for the
sha256 of the very bytes checked, with their member count and unzipped size: every use hashes
the wheel's bytes again and refuses other bytes before anything is read, so a verdict recalled
for that sha256 holds for the bytes that are read — and the sizes the limits add up are the
sizes that were checked.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from detzip._datatype import datatype

__all__ = ["CHECKS", "VERDICT", "Verdict", "recall", "remember"]

#: the version of the checks a verdict vouches for: a verdict of another version is not trusted
CHECKS = 1
#: the verdict's file, beside the stored wheel (a dot-file: the store ignores it as a wheel)
VERDICT = ".verified"


@datatype
class Verdict:
    """The wheel of this ``sha256`` was checked: its ``members`` (every one in its central
    directory) are what they record, ``unzipped`` bytes in all."""

    sha256: str
    members: int
    unzipped: int


def _where(wheel: Path, sha256: str) -> Path | None:
    """The verdict's file for ``wheel``, if it is in the store (a folder named by its sha256:
    a wheel anywhere else is checked at every use)."""
    return wheel.parent / VERDICT if wheel.parent.name == sha256 else None


def recall(wheel: Path, sha256: str) -> Verdict | None:
    """The verdict kept for the stored ``wheel`` whose bytes have ``sha256``, if there is one
    of these checks for that sha256."""
    where = _where(wheel, sha256)
    if where is None:
        return None
    try:
        data = json.loads(where.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("checks") != CHECKS or data.get("sha256") != sha256:
        return None
    members, unzipped = data.get("members"), data.get("unzipped")
    if not (isinstance(members, int) and isinstance(unzipped, int)):
        return None
    return Verdict(sha256, members, unzipped)


def remember(wheel: Path, verdict: Verdict) -> None:
    """Keep ``verdict`` beside the stored ``wheel`` (best effort: without it, the next use
    checks the wheel again)."""
    from detzip._fs import write_file

    where = _where(wheel, verdict.sha256)
    if where is None:
        return
    data = {"checks": CHECKS, "sha256": verdict.sha256, "members": verdict.members,
            "unzipped": verdict.unzipped}  # fmt: skip
    with contextlib.suppress(OSError):
        write_file(where, json.dumps(data).encode())
