"""What the local cache holds, and pruning it by age and size.

The cache dir holds built artifacts (``artifacts/``: a zip and its record), wheels
(``wheels/<sha[:2]>/<sha256>/``), small memos (``memo/``, ``resolved/``, ``stat-memo/``) and per-key
lock files
(``locks/``). Every artifact and wheel carries its last use as a modification time (a cache hit
touches it), so pruning removes the least recently used first. Files are removed record first,
so a concurrent reader sees either a whole entry or none.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from detzip._datatype import datatype, field
from detzip._fs import INCOMING, is_dead
from detzip.cache.layout import Layout, claim
from detzip.errors import DetzipError

__all__ = ["CacheInfo", "Item", "Pruned", "info", "parse_age", "parse_size", "prune"]

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_AGES = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_STALE_LOCK = 86400


@datatype
class Item:
    """An artifact or a wheel: the files that go together, their size and last use."""

    kind: str  # "artifact" or "wheel"
    name: str
    paths: tuple[Path, ...]
    size: int
    last_used: float


@datatype
class CacheInfo:
    """How many artifacts, wheels and memos a local cache holds, and their bytes."""

    root: Path
    artifacts: int
    artifact_bytes: int
    wheels: int
    wheel_bytes: int
    memos: int

    def to_dict(self) -> dict[str, object]:
        """The counts as JSON-ready values (``detzip cache info --json``)."""
        return {
            "root": str(self.root),
            "artifacts": self.artifacts,
            "artifact_bytes": self.artifact_bytes,
            "wheels": self.wheels,
            "wheel_bytes": self.wheel_bytes,
            "memos": self.memos,
            "total_bytes": self.artifact_bytes + self.wheel_bytes,
        }

    def render(self) -> str:
        """What the cache holds, as text (``detzip cache info``), and which shared cache a build
        here would use (``$DETZIP_CACHE``)."""
        from detzip.cache.settings import CacheSettings

        settings = CacheSettings()
        remote, origin = settings.remote()
        if settings.is_off():
            shared = f"off ({origin.lstrip('$')}: artifacts are not cached)"
        else:
            shared = f"{remote} (from {origin})" if remote else "none"
        return "\n".join(
            [
                f"cache dir   {self.root}",
                f"artifacts   {self.artifacts} ({_bytes(self.artifact_bytes)})",
                f"wheels      {self.wheels} ({_bytes(self.wheel_bytes)})",
                f"memos       {self.memos}",
                f"shared      {shared}",
            ]
        )


@datatype(frozen=False)
class Pruned:
    """What a prune removed (or would remove, on a dry run) and what it kept."""

    removed: list[Item] = field(default_factory=list)
    kept_bytes: int = 0
    temporaries: int = 0

    @property
    def freed(self) -> int:
        """Bytes freed by removing the items."""
        return sum(item.size for item in self.removed)

    def to_dict(self) -> dict[str, object]:
        """The result as JSON-ready values (``detzip cache prune --json``)."""
        return {
            "removed_artifacts": sum(1 for i in self.removed if i.kind == "artifact"),
            "removed_wheels": sum(1 for i in self.removed if i.kind == "wheel"),
            "freed_bytes": self.freed,
            "kept_bytes": self.kept_bytes,
            "removed_temporaries": self.temporaries,
        }

    def render(self, dry_run: bool = False) -> str:
        """What was removed and kept, as text (``detzip cache prune``)."""
        data = self.to_dict()
        verb = "would remove" if dry_run else "removed"
        return (
            f"{verb} {_count(data['removed_artifacts'], 'artifact')} and "
            f"{_count(data['removed_wheels'], 'wheel')} ({_bytes(self.freed)}); "
            f"{_bytes(self.kept_bytes)} kept"
        )


def _count(number: object, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _bytes(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError


def info(root: Path) -> CacheInfo:
    """What the local cache at ``root`` holds."""
    layout = Layout(root)
    items = list(_items(layout))
    artifacts = [i for i in items if i.kind == "artifact"]
    wheels = [i for i in items if i.kind == "wheel"]
    memos = sum(1 for folder in _memo_folders(layout) for _ in _files(folder, ".json"))
    return CacheInfo(
        root,
        len(artifacts),
        sum(i.size for i in artifacts),
        len(wheels),
        sum(i.size for i in wheels),
        memos,
    )


def prune(
    root: Path,
    *,
    max_size: int | None = None,
    older_than: float | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> Pruned:
    """Remove artifacts and wheels unused for ``older_than`` seconds, then the least recently
    used until at most ``max_size`` bytes remain; always remove stale temporary files."""
    now = time.time() if now is None else now
    claim(root, create=False)  # (a folder that is not detzip's cache is refused, untouched)
    layout = Layout(root)
    result = Pruned()
    items = sorted(_items(layout), key=lambda item: item.last_used)
    kept: list[Item] = []
    for item in items:
        if older_than is not None and now - item.last_used > older_than:
            result.removed.append(item)
        else:
            kept.append(item)
    if max_size is not None:
        total = sum(item.size for item in kept)
        while kept and total > max_size:
            item = kept.pop(0)
            total -= item.size
            result.removed.append(item)
    result.kept_bytes = sum(item.size for item in kept)
    if older_than is not None:
        for folder in _memo_folders(layout):
            for path in _files(folder, ".json"):
                if now - _mtime(path) > older_than and not dry_run:
                    _unlink(path)
    for path in _temporaries(layout, now):
        result.temporaries += 1
        if not dry_run:
            _unlink(path)
    if not dry_run:
        for item in result.removed:
            for path in item.paths:
                _unlink(path)
            if item.kind == "wheel":
                with contextlib.suppress(OSError):
                    item.paths[0].parent.rmdir()
    return result


def parse_size(text: str) -> int:
    """'500M', '2G', '1.5GB', '1048576' → bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not match:
        raise DetzipError(f"--max-size {text!r} is not a size; use e.g. 500M or 2G")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_age(text: str) -> float:
    """'30d', '12h', '90m', '2w', '3600' (seconds) → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not match:
        raise DetzipError(f"--older-than {text!r} is not an age; use e.g. 30d, 12h or 2w")
    return float(match.group(1)) * _AGES[match.group(2) or "s"]


#: the names detzip gives what it caches: nothing else is counted or removed
_ARTIFACT = re.compile(r".+-[0-9a-f]{16}\.(zip|json)")
_SHARD = re.compile(r"[0-9a-f]{2}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _items(layout: Layout) -> Iterator[Item]:
    artifacts = layout.artifacts
    stems: dict[str, list[Path]] = {}
    for path in _files(artifacts, ".zip", ".json"):
        if _ARTIFACT.fullmatch(path.name):
            stems.setdefault(path.stem, []).append(path)
    for stem, paths in sorted(stems.items()):
        record = artifacts / f"{stem}.json"
        ordered = tuple(sorted(paths, key=lambda p: p != record))  # the record goes first
        yield Item(
            "artifact",
            stem,
            ordered,
            sum(_size(p) for p in paths),
            _mtime(record) if record in paths else min(_mtime(p) for p in paths),
        )
    for shard in _dirs(layout.wheels, _SHARD):
        for folder in _dirs(shard, _SHA256):
            files = tuple(_files(folder, ""))
            if files:
                yield Item(
                    "wheel", folder.name, files, sum(_size(p) for p in files), _mtime(folder)
                )


def _memo_folders(layout: Layout) -> tuple[Path, ...]:
    return (layout.memo, layout.resolved, layout.stat_memos, layout.failed_builds)


def _temporaries(layout: Layout, now: float) -> Iterator[Path]:
    """Temporaries whose writer is gone (its lock is free), and lock files long unused."""
    folders = [layout.artifacts, *_memo_folders(layout)]
    folders += [f for shard in _dirs(layout.wheels, _SHARD) for f in _dirs(shard, _SHA256)]
    for folder in folders:
        for path in _files(folder, ""):
            if path.name.startswith(INCOMING) and is_dead(path):
                yield path
    for path in _files(layout.locks, ".lock"):
        if now - _mtime(path) > _STALE_LOCK and is_dead(path):
            yield path


def _files(folder: Path, *suffixes: str) -> Iterator[Path]:
    """The regular files in ``folder`` (itself not a symbolic link) whose names end with one of
    ``suffixes``: a link is never followed, so nothing outside the cache is counted or removed."""
    for entry in _scan(folder):
        if entry.name.endswith(suffixes) and entry.is_file(follow_symlinks=False):
            yield Path(entry.path)


def _dirs(folder: Path, named: re.Pattern[str]) -> Iterator[Path]:
    """The folders in ``folder`` (not links to folders) whose names are ``named``."""
    for entry in _scan(folder):
        if named.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            yield Path(entry.path)


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    """``folder``'s entries by name; none if it is a symbolic link (or unreadable)."""
    try:
        if os.path.islink(folder):
            return []
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError:
        return []


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def entries(root: Path, name: str) -> list[dict[str, object]]:
    """The local cache's entries of the artifact ``name``, newest first: where each zip is,
    its key, sha256 and size, its last use, and its record's provenance (who built it, where
    and when)."""
    import json

    from detzip.cache.keys import safe_name, valid_record

    stem = safe_name(name)
    found = []
    for path in _files(Layout(root).artifacts, ".json"):
        head, _, digits = path.stem.rpartition("-")
        if head != stem or not _ARTIFACT.fullmatch(path.name):
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if not isinstance(record, dict) or not valid_record(record, record.get("key", "")):
            continue
        if record["name"] != name or not record["key"].startswith(digits):
            continue
        used = _mtime(path)
        found.append((-used, path.name, described(str(path.with_suffix(".zip")), record, used)))
    return [entry for _, _, entry in sorted(found)]


def described(where: str, record: dict[str, object], last_used: float | None) -> dict[str, object]:
    """An entry as ``detzip cache info NAME`` shows it."""
    made = record.get("provenance")
    return {
        "where": where,
        "name": record["name"],
        "key": record["key"],
        "sha256": record["sha256"],
        "size": record["size"],
        "last_used": last_used,
        "provenance": made if isinstance(made, dict) else None,
    }


def render_entries(entries: list[dict[str, object]]) -> str:
    """Entries as ``detzip cache info NAME`` prints them: one block per entry."""
    from detzip.cache.verification import provenance_text, shown

    lines: list[str] = []
    for entry in entries:
        if lines:
            lines.append("")
        used = entry["last_used"]
        lines += [
            shown(entry["where"]),
            f"  key         {entry['key']}",
            f"  sha256      {entry['sha256']}",
            f"  size        {entry['size']:,} bytes",
        ]
        if isinstance(used, float):
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(used))
            lines.append(f"  last used   {when}")
        made = {"provenance": entry["provenance"]}
        lines.append(f"  built by    {provenance_text(made).removeprefix('written by ')}")
    return "\n".join(lines)
