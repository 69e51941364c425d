"""The local cache folder as a build uses it: the artifacts it holds (with the shared cache
behind them), the memos, and the folders of the wheel store.

With the cache off (``--no-cache``, ``cache = "off"``) there is no artifact cache and nothing is
remembered, but the wheel store is still the cache folder's.

What a build may write follows ``cache_write``: ``all`` caches; ``local`` (the shared cache is
only read); ``none``, where the local folder is only read too — its artifacts are served, its
wheels copied (each checked) into a scratch store, and every memo, wheel and download of this
run goes to that scratch folder, removed when the process ends.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from detzip._memo import NO_MEMO
from detzip._memo import Memo as MemoProtocol
from detzip.cache.artifacts import ArtifactCache
from detzip.cache.layout import Layout, claim
from detzip.cache.memo import Memo
from detzip.cache.writes import resolve_write

if TYPE_CHECKING:
    from detzip.cache.remote import Remote

__all__ = ["Cache"]


class Cache:
    """The local cache at ``root`` (default :func:`~detzip.cache.layout.default_cache_dir`),
    laid out as :class:`~detzip.cache.layout.Layout` says.

    ``artifacts`` looks built zips up and stores them, with ``remote`` (a shared cache URL,
    ``s3://bucket/prefix``, or object) behind it; ``require`` makes an unreachable shared cache
    an error instead of a warning. ``memo`` remembers resolutions and source files' digests.
    ``enabled=False`` is the cache off: no ``artifacts`` (None), a memo that remembers nothing.
    ``write`` is which caches may be written (``all``, ``local``, ``none``; None: as
    ``$DETZIP_CACHE_WRITE`` says, else ``all``; never more than it allows); with ``none``,
    :attr:`layout` is a scratch folder's (memos, this run's wheels) and :attr:`seed` the local
    cache's wheel store, read only. ``verify``: every zip a cache serves is rebuilt and must
    have the same bytes.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        remote: str | Remote | None = None,
        *,
        require: bool = False,
        enabled: bool = True,
        write: str | None = None,
        verify: bool = False,
    ) -> None:
        read = Layout.at(root)
        self.root = read.root
        self.write = write = resolve_write(write)  # (the stricter of it and the environment's)
        self.verify = verify  # rebuild what a cache serves, and compare
        self.seed = None
        if write == "none":  # nothing in the local folder changes: this run's is a scratch one
            from detzip._scratch import Scratch

            claim(self.root, create=False, mark=False)  # (read only: still only detzip's)
            self._scratch = Scratch("cache")  # (removed when the process ends)
            self.layout = Layout(self._scratch.path)
            self.seed = read.wheels
        else:
            claim(self.root, create=enabled)  # (a folder that is not detzip's cache is refused)
            self.layout = read
        self.artifacts = (
            ArtifactCache(read, remote, require=require, write=write) if enabled else None
        )
        self.memo: MemoProtocol = Memo(self.layout) if enabled else NO_MEMO
