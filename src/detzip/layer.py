"""Dependency layers: a lock file → the wheels for a target → a canonical zip, through the cache.

Reads top to bottom: resolve the lock for the target (remembered while no input changes), key the
build on the resolved set and the zip options, and serve it from a cache, or choose, fetch and
install the wheels (raw members, no recompression) under ``python/`` and store the result.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from detzip import cache as caching
from detzip import progress
from detzip.artifact import Artifact
from detzip.cache import Cache
from detzip.dependencies import Dependencies, resolve
from detzip.entries import normalize_prefix
from detzip.limits import build_check
from detzip.options import ZipOptions
from detzip.targets import DEFAULT_ARCH, DEFAULT_RUNTIME

if TYPE_CHECKING:
    from pathlib import Path

    from detzip.zipwriter import WrittenZip

__all__ = ["Dependencies", "build_layer", "write_layer"]


def build_layer(
    requirements: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    runtime: str = DEFAULT_RUNTIME,
    arch: str = DEFAULT_ARCH,
    format: str | None = None,
    groups: Sequence[str] = (),
    prefix: str = "python",
    exclude: Sequence[str] = (),
    exclude_packages: Sequence[str] = (),
    default_excludes: bool = True,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
    find_links: Sequence[str] = (),
    no_index: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    mtime: str | int | float | datetime | None = None,
    compressor: str = "deflate",
    level: int | None = None,
    cache: Cache | bool = True,
    name: str | None = None,
    upload: str | None = None,
) -> Artifact:
    """Build a Lambda layer zip from a requirements.txt, poetry.lock, pylock.toml or uv.lock.

    The bytes depend on the resolved set of wheels and the target only, not on which lock
    format carried it. ``prefix`` is ``python`` (where Lambda looks in a layer); pass ``''`` to
    put the packages at the root. ``exclude`` patterns apply to paths inside the layer (e.g.
    ``*/tests/``); ``exclude_packages`` drops whole distributions (e.g. boto3, which the
    runtime provides). ``__pycache__/`` and ``*.pyc`` are dropped unless ``default_excludes``
    is false.

    ``cache``: True uses the local cache under ``cache_dir`` (and ``$DETZIP_CACHE`` if set, e.g.
    ``s3://bucket/prefix``); False always builds; or pass a :class:`detzip.cache.Cache`.
    ``name`` names the artifact in caches (default: the output's file name without ``.zip``).

    The layer must unzip to less than Lambda's 262,144,000 bytes (else
    :class:`detzip.limits.LimitExceeded`). Over the 52,428,800-byte direct-upload size it warns;
    ``upload="direct"`` makes that an error too, ``upload="s3"`` silences it.
    """
    deps = Dependencies(
        requirements,
        runtime,
        arch,
        format,
        tuple(groups),
        tuple(exclude),
        tuple(exclude_packages),
        default_excludes,
        index_url,
        tuple(extra_index_urls),
        tuple(find_links),
        no_index,
        cache_dir,
    )
    options = ZipOptions.create(mtime=mtime, compressor=compressor, level=level)
    return write_layer(
        deps, output, prefix=prefix, options=options, cache=cache, name=name, upload=upload
    )


def write_layer(
    deps: Dependencies,
    output: str | os.PathLike[str],
    *,
    prefix: str = "python",
    options: ZipOptions | None = None,
    cache: Cache | bool = True,
    name: str | None = None,
    upload: str | None = None,
) -> Artifact:
    """:func:`build_layer` for callers that already hold :class:`Dependencies` and options."""
    options = options or ZipOptions.create()
    check = build_check(output, "layer", upload)
    store = caching.choose(cache, deps.cache_dir)
    root = normalize_prefix(prefix)
    resolution = resolve(deps, store)
    description = {**options.describe(), "prefix": root, **resolution.description}
    key = caching.cache_key("layer", description)

    def build(path: Path) -> WrittenZip:
        from detzip.wheelset import install_entries
        from detzip.zipwriter import write_zip

        entries = install_entries(deps, resolution.wheels(), root)
        return write_zip(entries, path, options, progress=progress.bytes_done(f"zipping {name}"))

    name = name or caching.artifact_name(output)
    return store.through(name, key, description, output, build, check)
