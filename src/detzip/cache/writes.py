"""What a build may write to the caches it reads (``cache_write``), and the one rule that
decides it: the stricter of the option and ``$DETZIP_CACHE_WRITE``.

Light on purpose: the option table names the choices on every start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["WRITES", "resolve_write"]

#: every cache; the local one only (the shared cache is read-only); none (the local cache
#: folder is read-only too), from the least strict to the strictest
WRITES = ("all", "local", "none")


def resolve_write(given: str | None, environ: Mapping[str, str] | None = None) -> str:
    """What a build may write, from ``given`` (an option: ``cache_write``) and
    ``$DETZIP_CACHE_WRITE``: the stricter of the two (``none`` over ``local`` over ``all``). The
    variable is the CI job's ceiling: a project file — which a pull request can change — or a
    query can only narrow it, never widen it. Anything else is an error naming where it came
    from."""
    env = os.environ if environ is None else environ
    chosen = []
    for value, origin in ((given, None), (env.get("DETZIP_CACHE_WRITE"), "$DETZIP_CACHE_WRITE")):
        if value is None or not value.strip():
            continue
        value = value.strip().lower()
        if value not in WRITES:
            from detzip.errors import DetzipError, Setting, literal

            where = f"{origin} is" if origin else "{0} is"
            raise DetzipError(
                f"{where} {literal(repr(value))}; use one of {', '.join(WRITES)}",
                settings=[] if origin else [Setting("cache_write")],
            )
        chosen.append(WRITES.index(value))
    return WRITES[max(chosen, default=0)]
