"""Which cache a build uses: the one rule every front door and the API share.

Light on purpose: every spec carries these settings, so importing them costs next to nothing;
the cache itself is imported only when :meth:`CacheSettings.open` is called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from detzip._datatype import datatype
from detzip.cache.writes import WRITES, resolve_write

if TYPE_CHECKING:
    from detzip.cache.local import Cache

__all__ = ["OFF", "WRITES", "CacheSettings"]

#: values of ``$DETZIP_CACHE`` / ``--cache`` that turn the artifact cache off
OFF = ("off", "none", "no", "false", "0")


@datatype
class CacheSettings:
    """Which cache a build uses: the one rule every front door and the API share.

    ``url`` is the shared cache (``s3://BUCKET/PREFIX``), or ``off`` to turn the artifact cache
    off; None means ``$DETZIP_CACHE`` (itself unset: local only). ``dir`` is the local cache
    folder (None: :func:`~detzip.cache.layout.default_cache_dir`), which also holds the wheel
    store. ``require`` makes an unreachable shared cache an error; ``enabled=False`` neither
    reads nor writes artifacts (``--no-cache``). ``write`` says which caches a build may write
    (one of :data:`WRITES`; a build writes no more than the stricter of it and
    ``$DETZIP_CACHE_WRITE`` allow; neither given: ``all``), and
    ``verify`` rebuilds every artifact a cache serves and compares bytes.
    """

    url: str | None = None
    dir: Path | None = None
    require: bool = False
    enabled: bool = True
    write: str | None = None
    verify: bool = False

    def remote(self, environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
        """The shared cache's URL (None: none, or ``off``) and where that was said."""
        if self.url is not None:
            url, origin = self.url.strip(), "configured"
        else:
            env = os.environ if environ is None else environ
            url, origin = env.get("DETZIP_CACHE", "").strip(), "$DETZIP_CACHE"
        return (url or None), origin

    def writes(self, environ: Mapping[str, str] | None = None) -> str:
        """Which caches a build may write: ``all``, ``local`` or ``none`` (see :data:`WRITES`;
        the stricter of ``write`` and ``$DETZIP_CACHE_WRITE``)."""
        return resolve_write(self.write, environ)

    def is_off(self, environ: Mapping[str, str] | None = None) -> bool:
        """True when no artifact is read or written (``--no-cache``, or the URL ``off``)."""
        url, _ = self.remote(environ)
        return not self.enabled or (url is not None and url.lower() in OFF)

    def open(self, environ: Mapping[str, str] | None = None) -> Cache:
        """The :class:`~detzip.cache.local.Cache` these settings describe."""
        from detzip.cache.local import Cache

        write, verify = self.writes(environ), self.verify
        if self.is_off(environ):
            return Cache(self.dir, enabled=False, write=write, verify=verify)
        url = self.remote(environ)[0]
        return Cache(self.dir, url, require=self.require, write=write, verify=verify)
