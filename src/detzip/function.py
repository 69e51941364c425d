"""``build_function``: the Python API's front door for function zips (a thin wrapper).

It turns its keyword arguments into an :class:`~detzip.spec.ArtifactSpec` and calls
:func:`detzip.builder.build`, like every other front door.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detzip.artifact import Artifact
    from detzip.cache import Cache
    from detzip.dependencies import Dependencies


def build_function(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    exclude: Sequence[str] | None = None,
    include: Sequence[str] | None = None,
    default_excludes: bool | None = None,
    ignore_file: bool | None = None,
    prefix: str | None = None,
    allow_outside_links: bool | None = None,
    mtime: str | int | float | datetime | None = None,
    compressor: str | None = None,
    level: int | None = None,
    dependencies: Dependencies | None = None,
    cache: Cache | bool = True,
    name: str | None = None,
    upload: str | None = None,
    layers: Sequence[str | os.PathLike[str]] | None = None,
) -> Artifact:
    """Zip the code under ``source`` into ``output``; the bytes depend only on what is packed.

    ``exclude``/``include`` are gitignore-style patterns relative to ``source``; a
    ``.detzipignore`` file there is read too. ``mtime=None`` uses ``SOURCE_DATE_EPOCH`` if set,
    else 1980-01-01. An argument left at None takes the option table's default (see
    :mod:`detzip.optiontable`, or ``detzip function --help``).

    With ``dependencies`` (see :class:`detzip.dependencies.Dependencies`), the wheels it
    resolves are installed at the root of the same zip, beside the code.

    ``cache``: True uses the local cache (and ``$DETZIP_CACHE`` if set); False always builds; or
    pass a :class:`detzip.cache.Cache`. ``name`` names the artifact in caches (default: the
    output's file name without ``.zip``).

    The zip must unzip to less than Lambda's 262,144,000 bytes (else
    :class:`detzip.limits.LimitExceeded`). Over the 52,428,800-byte direct-upload size it warns;
    ``upload="direct"`` makes that an error too, ``upload="s3"`` silences it. With ``layers``
    (layer zips), the result's ``problems`` say whether function and layers fit together.
    """
    from detzip.builder import build
    from detzip.spec import ArtifactSpec

    values: dict[str, Any] = {
        "source": source,
        "output": output,
        "exclude": exclude,
        "include": include,
        "default_excludes": default_excludes,
        "ignore_file": ignore_file,
        "prefix": prefix,
        "allow_outside_links": allow_outside_links,
        "mtime": mtime,
        "compressor": compressor,
        "level": level,
        "name": name,
        "upload": upload,
        "layers": layers,
    }
    if dependencies is not None:
        values.update(dependencies.option_values())
    spec = ArtifactSpec.create("function", values)
    return build(spec, api_cache(cache, spec))


def api_cache(cache: Cache | bool, spec: Any) -> Cache:
    """The API's ``cache`` argument as a :class:`Cache`: True → the one ``spec`` describes."""
    from detzip.cache import Cache
    from detzip.errors import DetzipError

    if isinstance(cache, Cache):
        if spec.cache.dir is not None and spec.cache.dir != cache.root:
            raise DetzipError(
                f"cache_dir {str(spec.cache.dir)!r} is not the folder of the Cache passed "
                f"({cache.root}); give one or the other"
            )
        return cache
    if cache:
        return spec.cache.open()  # type: ignore[no-any-return]
    return Cache(spec.cache.dir, enabled=False)
