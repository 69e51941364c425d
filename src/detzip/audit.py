"""``detzip cache verify``: the entries a project's artifacts have in the caches, rebuilt and
compared.

A hit trusts the cache's mapping from key to bytes (see :mod:`detzip.cache.verification`). An
audit works that mapping out again for what the project builds now: for each artifact chosen
(all, the names given, or a random ``sample`` of them, and the layers they use), the key is
described as a build would describe it, the local cache's entry and the shared cache's entry
for that key are looked up, and if either is there the artifact is rebuilt without the cache
(into a scratch folder) and each entry's bytes compared with the rebuild's. No artifact is
written to any cache (only the memos of the files' digests), and no output is touched. Entries
of keys the project no longer builds (older commits) cannot be rebuilt from here and are not
audited.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip._datatype import datatype, field, replace
from detzip.errors import DetzipError

if TYPE_CHECKING:
    from detzip.cache.local import Cache
    from detzip.project import Declared, Project

__all__ = ["Audited", "Entry", "audit", "choose", "render"]


@datatype
class Entry:
    """One cache entry of an audited artifact: where it is, what its record says it holds,
    who wrote it, and whether a rebuild has the same bytes."""

    where: str
    sha256: str
    provenance: dict[str, Any] | None
    same: bool
    problem: str | None = None  # not the key's bytes: the verdict, one line

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready values."""
        return {
            "where": self.where,
            "sha256": self.sha256,
            "provenance": self.provenance,
            "same": self.same,
            "problem": self.problem,
        }


@datatype
class Audited:
    """One artifact of the audit: its key now, the entries found for it, the rebuild's sha256
    (None: no entry, nothing rebuilt)."""

    name: str
    kind: str
    key: str
    entries: list[Entry] = field(default_factory=list)
    rebuilt_sha256: str | None = None

    @property
    def ok(self) -> bool:
        """No entry holds other bytes than the rebuild."""
        return all(entry.same for entry in self.entries)

    @property
    def status(self) -> str:
        """``ok``, ``MISMATCH`` or ``not cached``."""
        if not self.entries:
            return "not cached"
        return "ok" if self.ok else "MISMATCH"

    def to_dict(self) -> dict[str, Any]:
        """The artifact's audit as JSON-ready values."""
        return {
            "name": self.name,
            "kind": self.kind,
            "key": self.key,
            "status": self.status,
            "rebuilt_sha256": self.rebuilt_sha256,
            "entries": [entry.to_dict() for entry in self.entries],
        }


def choose(
    project: Project,
    names: Sequence[str],
    sample: float | None = None,
    rng: random.Random | None = None,
) -> list[Declared]:
    """The artifacts to audit: those named (all if none), or a random ``sample`` fraction of
    them (at least one), each with the layers it uses; layers first."""
    if sample is not None and not 0 < sample <= 1:
        raise DetzipError(f"--sample {sample} is not a fraction; give one in (0, 1], e.g. 0.1")
    chosen = [d.name for d in project.select(names)]
    if sample is not None and sample < 1:
        count = max(1, math.ceil(sample * len(chosen)))
        chosen = sorted((rng or random.SystemRandom()).sample(chosen, count))
    return project.select(chosen)


def audit(
    project: Project,
    chosen: Sequence[Declared],
    cache: Cache,
) -> list[Audited]:
    """Audit the entries of ``chosen`` in ``cache`` (its local folder and its shared cache)."""
    from detzip._scratch import Scratch
    from detzip.builder import describe

    outputs = project.never_pack
    results = []
    with Scratch("verify") as scratch:
        for declared in chosen:
            key, _ = describe(declared.spec, cache, never_pack=outputs)
            audited = Audited(declared.name, declared.kind, key)
            found = _entries(declared.name, key, cache, scratch)
            if found:
                rebuilt, sha256 = _rebuild(declared, key, cache, scratch, outputs)
                audited = replace(audited, rebuilt_sha256=sha256)
                for where, record, path in found:
                    audited.entries.append(_compare(declared.name, key, where, record, path,
                                                    rebuilt, sha256))  # fmt: skip
            results.append(audited)
    return results


def _entries(
    name: str, key: str, cache: Cache, scratch: Path
) -> list[tuple[str, dict[str, Any], Path | None]]:
    """The local and the shared cache's entry for ``key``: where, its record, its zip."""
    found: list[tuple[str, dict[str, Any], Path | None]] = []
    artifacts = cache.artifacts
    if artifacts is None:
        return found
    local = artifacts.entry(name, key)
    if local is not None:
        found.append((str(local[0]), local[1], local[0]))
    remote = artifacts.remote
    if remote is not None:
        from detzip.cache.remote import RemoteUnavailable

        into = scratch / f"{key}.zip"
        try:
            record = remote.fetch(name, key, into)  # (None: absent, or its zip other bytes)
            broken = remote.record(key) if record is None else None
        except RemoteUnavailable as exc:
            raise DetzipError(f"cannot read the shared cache ({exc}); fix access to it") from None
        if record is not None:
            found.append((f"{remote.url} (key {key})", record, into))
        elif broken is not None:  # a record whose zip is missing or is other bytes
            found.append((f"{remote.url} (key {key})", broken, None))
    return found


def _rebuild(
    declared: Declared, key: str, cache: Cache, scratch: Path, outputs: Sequence[Path]
) -> tuple[Path, str]:
    """The artifact built now without the cache, into ``scratch``; its path and sha256. Only
    its bytes matter: layers and the handler are not checked, and Lambda's direct-upload
    limit does not apply."""
    from detzip.builder import build
    from detzip.cache.local import Cache as LocalCache

    output = scratch / f"{declared.name}.zip"
    spec = replace(
        declared.spec,
        output=output,
        layers=(),
        external_layers=(),
        handler=None,
        upload="s3",
        upload_to=None,
    )
    off = LocalCache(cache.root, enabled=False, write=cache.write)
    built = build(spec, off, never_pack=outputs)
    if built.key != key:
        raise DetzipError(
            f"{declared.name}: its files changed while it was being verified (key {key[:16]} "
            f"became {str(built.key)[:16]}); run the audit again"
        )
    return output, built.sha256


def _compare(
    name: str,
    key: str,
    where: str,
    record: dict[str, Any],
    path: Path | None,
    rebuilt: Path,
    sha256: str,
) -> Entry:
    provenance = record.get("provenance")
    made = provenance if isinstance(provenance, dict) else None
    if path is None:  # the shared cache's record, without a zip of its bytes
        broken = (
            f"{where}: its zip is missing or is not the bytes its record names (every hit "
            "rejects it and builds; entries are never replaced): remove the record and its zip"
        )
        return Entry(where, record["sha256"], made, False, broken)
    if record["sha256"] == sha256:
        if path is not None and _sha256(path) != sha256:  # (a hit would discard it, rebuilding)
            corrupt = (
                f"{where}: corrupt: the zip's bytes are not its record's sha256 (a hit "
                "discards it and rebuilds); remove it"
            )
            return Entry(where, sha256, made, False, corrupt)
        return Entry(where, sha256, made, True)
    from detzip.cache.verification import mismatch

    verdict = mismatch(name, key, where, record, path, rebuilt, sha256, "a hit serves it")
    return Entry(where, record["sha256"], made, False, str(verdict))


def _sha256(path: Path) -> str | None:
    from detzip._digest import file_sha256

    try:
        return file_sha256(path)
    except (OSError, DetzipError):
        return None


def render(results: Sequence[Audited]) -> str:
    """The audit as text: one line per artifact (status, name, key), then one per entry."""
    lines = []
    for result in results:
        lines.append(f"{result.status:<10}  {result.kind} {result.name}  key {result.key[:16]}")
        for entry in result.entries:
            verdict = "same bytes" if entry.same else "NOT what its key builds"
            lines.append(f"            {entry.where}: {verdict}")
    checked = sum(1 for r in results if r.entries)
    bad = sum(1 for r in results for e in r.entries if not e.same)
    if bad:
        verdict = f"{bad} {'entry is' if bad == 1 else 'entries are'} not what its key builds"
    else:
        verdict = "every entry verified" if checked else "nothing cached to verify"
    count = f"{len(results)} artifact" + ("" if len(results) == 1 else "s")
    lines.append(f"{count}, {checked} with cache entries rebuilt and compared; {verdict}")
    return "\n".join(lines)
