"""The local cache folder as a build uses it: the artifacts it holds (with the shared cache
behind them), the memos, and the folders of the wheel store.

With the cache off (``--no-cache``, ``cache = "off"``) there is no artifact cache and nothing is
remembered, but the wheel store is still the cache folder's.
"""

from __future__ import annotations

import os

from detzip._memo import NO_MEMO
from detzip._memo import Memo as MemoProtocol
from detzip.cache.artifacts import ArtifactCache
from detzip.cache.layout import Layout, claim
from detzip.cache.memo import Memo
from detzip.cache.remote import Remote

__all__ = ["Cache"]


class Cache:
    """The local cache at ``root`` (default :func:`~detzip.cache.layout.default_cache_dir`),
    laid out as :class:`~detzip.cache.layout.Layout` says.

    ``artifacts`` looks built zips up and stores them, with ``remote`` (a shared cache URL,
    ``s3://bucket/prefix``, or object) behind it; ``require`` makes an unreachable shared cache
    an error instead of a warning. ``memo`` remembers resolutions and source files' digests.
    ``enabled=False`` is the cache off: no ``artifacts`` (None), a memo that remembers nothing.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        remote: str | Remote | None = None,
        *,
        require: bool = False,
        enabled: bool = True,
    ) -> None:
        self.layout = Layout.at(root)
        self.root = self.layout.root
        claim(self.root, create=enabled)  # (a folder that is not detzip's cache is refused)
        self.artifacts = ArtifactCache(self.layout, remote, require=require) if enabled else None
        self.memo: MemoProtocol = Memo(self.layout) if enabled else NO_MEMO
