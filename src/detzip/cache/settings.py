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

if TYPE_CHECKING:
    from detzip.cache.local import Cache

__all__ = ["OFF", "WRITES", "CacheSettings"]

#: values of ``$DETZIP_CACHE`` / ``--cache`` that turn the artifact cache off
OFF = ("off", "none", "no", "false", "0")
#: what a build may write to the caches it reads (``cache_write``): every cache; the local one
#: only (the shared cache is read-only); none (the local cache folder is read-only too)
WRITES = ("all", "local", "none")


@datatype
class CacheSettings:
    """Which cache a build uses: the one rule every front door and the API share.

    ``url`` is the shared cache (``s3://BUCKET/PREFIX``), or ``off`` to turn the artifact cache
    off; None means ``$DETZIP_CACHE`` (itself unset: local only). ``dir`` is the local cache
    folder (None: :func:`~detzip.cache.layout.default_cache_dir`), which also holds the wheel
    store. ``require`` makes an unreachable shared cache an error; ``enabled=False`` neither
    reads nor writes artifacts (``--no-cache``). ``write`` says which caches a build may write
    (one of :data:`WRITES`; None means ``$DETZIP_CACHE_WRITE``, itself unset: ``all``), and
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
        """Which caches a build may write: ``all``, ``local`` or ``none`` (see :data:`WRITES`)."""
        if self.write is not None:
            value, origin = self.write, None
        else:
            env = os.environ if environ is None else environ
            origin = "$DETZIP_CACHE_WRITE"
            value = env.get("DETZIP_CACHE_WRITE", "").strip() or "all"
        if value not in WRITES:
            from detzip.errors import DetzipError, Setting, literal

            where = f"{origin} is" if origin else "{0} is"
            raise DetzipError(
                f"{where} {literal(repr(value))}; use one of {', '.join(WRITES)}",
                settings=[] if origin else [Setting("cache_write")],
            )
        return value

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
