"""Where everything lives in the local cache folder: the one module that knows its layout.

::

    <root>/artifacts/<name>-<key[:16]>.zip   built zips, each beside its .json record
    <root>/locks/<key[:32]>.lock              per-key build locks
    <root>/memo/<kind>-<digest>.json          remembered resolutions (inputs → description)
    <root>/stat-memo/<digest>.json            source files' digests by their stat (one per tree)
    <root>/wheels/<sha[:2]>/<sha256>/<file>   the wheel store, content-addressed
    <root>/resolved/<digest>.json             which wheel pip chose for a hash-less pin
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

__all__ = ["Layout", "default_cache_dir"]


def default_cache_dir() -> Path:
    """``$DETZIP_CACHE_DIR``, else ``$XDG_CACHE_HOME/detzip``, else ``~/.cache/detzip``."""
    explicit = os.environ.get("DETZIP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "detzip"


class Layout(NamedTuple):  # a NamedTuple, not a dataclass: cheaper to define on a hit's path
    """The folders of a local cache rooted at ``root`` (None: :func:`default_cache_dir`)."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None) -> Layout:
        """The layout under ``root``, or under :func:`default_cache_dir` when it is None."""
        return cls(Path(root) if root else default_cache_dir())

    @property
    def artifacts(self) -> Path:
        """Built zips and their records."""
        return self.root / "artifacts"

    @property
    def locks(self) -> Path:
        """Per-key build locks."""
        return self.root / "locks"

    @property
    def memo(self) -> Path:
        """Remembered resolutions."""
        return self.root / "memo"

    @property
    def stat_memos(self) -> Path:
        """Source files' digests, remembered with their stat (see :mod:`detzip.cache.stats`)."""
        return self.root / "stat-memo"

    @property
    def wheels(self) -> Path:
        """The wheel store."""
        return self.root / "wheels"

    @property
    def resolved(self) -> Path:
        """Which wheel pip chose for a pin the lock leaves to it."""
        return self.root / "resolved"

    def artifact(self, entry: str) -> Path:
        """An artifact entry's zip (its record is the same path with ``.json``)."""
        return self.artifacts / f"{entry}.zip"

    def lock(self, key: str) -> Path:
        """The lock file for building ``key``."""
        return self.locks / f"{key[:32]}.lock"

    def stat_memo(self, name: str) -> Path:
        """The stat memo of the tree named ``name`` (see :func:`detzip.cache.stats.memo_name`)."""
        return self.stat_memos / f"{name}.json"

    def memo_file(self, kind: str, digest: str) -> Path:
        """Where a ``kind`` memo for a request with this digest lives."""
        return self.memo / f"{kind}-{digest[:32]}.json"
