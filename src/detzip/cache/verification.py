"""Verification by rebuilding: a served zip compared with what its key builds.

A cache hit trusts the mapping from key to bytes: the zip is checked against its record's
sha256, but whoever wrote the record chose both. detzip's builds are deterministic, so anyone
can rebuild an entry and compare: :class:`NotWhatItsKeyBuilds` is the verdict when the bytes
differ (exit 1), naming the artifact, the key, the entry, who wrote it (its provenance) and the
first entries that differ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from detzip.errors import DetzipError, literal

__all__ = ["FIRST", "NotWhatItsKeyBuilds", "mismatch", "provenance_text", "shown"]

#: how many differing entries a verdict names
FIRST = 3


class NotWhatItsKeyBuilds(DetzipError):
    """A cached artifact whose bytes are not what its key builds (exit 1: a verdict)."""

    exit_code = 1


def provenance_text(record: Mapping[str, Any]) -> str:
    """Who wrote a record, in a few words, as the record claims it (whoever writes a record
    writes its provenance too: a claim, not evidence). Each value is shown printable and short:
    a hostile record cannot forge lines or drive a terminal."""
    made = record.get("provenance")
    if not isinstance(made, dict):
        return "written by an unknown builder (a record without provenance: an older detzip's)"
    parts = [f"detzip {shown(made.get('detzip', '?'))}"]
    where = " ".join(shown(made[k]) for k in ("os", "arch") if made.get(k))
    if where:
        parts.append(f"on {where}")
    if made.get("built_at"):
        parts.append(f"at {shown(made['built_at'])}")
    ci = made.get("ci")
    if isinstance(ci, dict):
        run = ci.get("run_url") or ci.get("job_url") or ci.get("build_url") or ci.get("build_id")
        parts.append(f"in {shown(ci.get('service', 'CI'))}" + (f" {shown(run)}" if run else ""))
    return "written by " + " ".join(parts) + ", as its record claims"


def shown(value: object, limit: int = 120) -> str:
    """``value`` as text safe to print: control characters escaped, at most ``limit`` long."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mismatch(
    name: str,
    key: str,
    where: str,
    record: Mapping[str, Any],
    served: str | os.PathLike[str] | None,
    rebuilt: str | os.PathLike[str],
    rebuilt_sha256: str,
    then: str = "it was not used",
) -> NotWhatItsKeyBuilds:
    """The verdict on the entry at ``where`` (a path, or a cache URL) whose ``record`` says
    ``served`` holds this key's zip, when a rebuild (``rebuilt``) has other bytes; ``then``
    says what became of it."""
    detail = ""
    if served is not None:
        from detzip.zip.diff import diff_zips

        try:
            differences = diff_zips(served, rebuilt)
        except DetzipError:
            differences = []
        shown = [
            f"{d.entry or '(archive)'} ({d.aspect})" for d in differences if d.aspect != "sha256"
        ][:FIRST]
        if shown:
            more = len(differences) - len(shown)
            detail = (
                "; first differences: "
                + ", ".join(shown)
                + (f" and {more} more" if more > 0 else "")
            )
    return NotWhatItsKeyBuilds(
        literal(
            f"{name}: the cached artifact is not what its key builds: entry {where} (key "
            f"{key[:16]}, {provenance_text(record)}) has sha256 {record.get('sha256')}, a "
            f"rebuild has {rebuilt_sha256}{detail}; {then} — remove the entry and find out "
            "who wrote it"
        )
    )
