"""Where everything lives in the local cache folder: the one module that knows its layout.

::

    <root>/artifacts/<name>-<key[:16]>.zip   built zips, each beside its .json record
    <root>/locks/<key[:32]>.lock              per-key build locks
    <root>/memo/<kind>-<digest>.json          remembered resolutions (inputs → description)
    <root>/stat-memo/<digest>.json            source files' digests by their stat (one per tree)
    <root>/wheels/<sha[:2]>/<sha256>/<file>   the wheel store, content-addressed
    <root>/resolved/<digest>.json             which wheel pip chose for a hash-less pin
    <root>/failed-builds/<digest>.json        sdist builds that failed (refused at once again)
    <root>/CACHEDIR.TAG                       the mark of a detzip cache (see :func:`claim`)

detzip writes into, and prunes, only a folder marked as its cache: a folder given as the cache
that holds anything else is refused (``--cache-dir .`` would otherwise have its ``artifacts/``
pruned). The mark is a cache directory tag (https://bford.info/cachedir/): backup tools that
honour it skip the cache too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import NamedTuple

from detzip._fs import INCOMING
from detzip.errors import DetzipError, Setting

__all__ = ["FOLDERS", "TAG", "Layout", "NotACache", "claim", "default_cache_dir"]

#: the mark of a detzip cache folder, a cache directory tag
TAG = "CACHEDIR.TAG"
_TAG_TEXT = (
    b"Signature: 8a477f597d28d172789f06886806bc55\n"
    b"# This file is a cache directory tag created by detzip.\n"
    b"# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
#: what detzip keeps in a cache folder
FOLDERS = ("artifacts", "failed-builds", "locks", "memo", "resolved", "stat-memo", "wheels")


#: what file browsers leave in a folder they showed (Finder, Explorer)
_DROPPINGS = (".DS_Store", "Thumbs.db", "desktop.ini")


class NotACache(DetzipError):
    """A folder given as the cache that holds things that are not detzip's, and no mark."""


def claim(root: Path, *, create: bool, mark: bool = True) -> None:
    """Make sure ``root`` is a detzip cache before anything is written into it or pruned: its
    mark is there (one stat), or it holds nothing but detzip's folders (a cache made before
    there was a mark, or one just begun) and is marked now; a missing ``root`` is created and
    marked when ``create``. Anything else raises :class:`NotACache`. A folder that cannot be
    read or written is left to the writes that follow (each warns). ``mark=False`` only
    checks (a build that writes nothing there: ``cache_write = "none"``)."""
    tag = root / TAG
    try:
        os.stat(tag)
        return
    except OSError:
        pass
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        if not create:
            return
        names = []
    except OSError:
        return
    ours = (*FOLDERS, TAG, *_DROPPINGS)  # (what a file browser leaves is no one's data)
    foreign = sorted(n for n in names if n not in ours and not n.startswith((INCOMING, "._")))
    if foreign:
        shown = ", ".join(repr(name) for name in foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise NotACache(
            f"is not a detzip cache: it holds {shown} and has no {TAG}, and detzip writes into "
            "and prunes only its own cache folder; give {0} a new or empty folder",
            root,
            settings=[Setting("cache_dir")],
        )
    if not mark:
        return
    from detzip._fs import write_file

    with contextlib.suppress(OSError):  # (read-only, a file, full: the writes that follow warn)
        root.mkdir(parents=True, exist_ok=True)
        write_file(tag, _TAG_TEXT)


def default_cache_dir() -> Path:
    """``$DETZIP_CACHE_DIR``, else ``$XDG_CACHE_HOME/detzip``, else where the OS keeps caches:
    ``~/.cache/detzip`` (Linux), ``~/Library/Caches/detzip`` (macOS),
    ``%LOCALAPPDATA%\\detzip\\Cache`` (Windows): see :func:`detzip._platform.cache_folder`."""
    explicit = os.environ.get("DETZIP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "detzip"
    from detzip._platform import cache_folder

    return cache_folder("detzip")


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

    @property
    def failed_builds(self) -> Path:
        """sdist builds that failed, by the sdist's sha256 and the build's environment."""
        return self.root / "failed-builds"

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
