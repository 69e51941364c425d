"""Function zips: a source tree, filtered, written canonically, through the cache.

Reads top to bottom: collect the tree's entries, key the build on their names, contents and exec
bits, the patterns and the zip options (and the resolved dependency set, if any), then serve it
from a cache or write it and store it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip import cache as caching
from detzip import progress
from detzip.artifact import Artifact
from detzip.cache import Cache
from detzip.entries import fingerprint
from detzip.limits import build_check
from detzip.options import ZipOptions
from detzip.tree import TreeSpec, collect

if TYPE_CHECKING:
    from detzip.dependencies import Dependencies
    from detzip.zipwriter import WrittenZip


def build_function(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    default_excludes: bool = True,
    ignore_file: bool = True,
    prefix: str = "",
    allow_outside_links: bool = False,
    mtime: str | int | float | datetime | None = None,
    compressor: str = "deflate",
    level: int | None = None,
    dependencies: Dependencies | None = None,
    cache: Cache | bool = True,
    name: str | None = None,
    upload: str | None = None,
) -> Artifact:
    """Zip the code under ``source`` into ``output``; the bytes depend only on what is packed.

    ``exclude``/``include`` are gitignore-style patterns relative to ``source``; a
    ``.detzipignore`` file there is read too. ``mtime=None`` uses ``SOURCE_DATE_EPOCH`` if set,
    else 1980-01-01. See :class:`detzip.tree.TreeSpec` for the other options.

    With ``dependencies`` (see :class:`detzip.layer.Dependencies`), the wheels it resolves
    are installed at the root of the same zip, beside the code.

    ``cache``: True uses the local cache (and ``$DETZIP_CACHE`` if set); False always builds; or
    pass a :class:`detzip.cache.Cache`. ``name`` names the artifact in caches (default: the
    output's file name without ``.zip``).

    The zip must unzip to less than Lambda's 262,144,000 bytes (else
    :class:`detzip.limits.LimitExceeded`). Over the 52,428,800-byte direct-upload size it warns;
    ``upload="direct"`` makes that an error too, ``upload="s3"`` silences it.
    """
    options = ZipOptions.create(mtime=mtime, compressor=compressor, level=level)
    out = Path(output)
    check = build_check(out, "function", upload)
    spec = TreeSpec(
        exclude=tuple(exclude),
        include=tuple(include),
        default_excludes=default_excludes,
        ignore_file=ignore_file,
        prefix=prefix,
        allow_outside_links=allow_outside_links,
        skip_files=_identity(out),
    ).resolved(Path(source))
    entries = collect(source, spec)
    store = caching.choose(cache, dependencies.cache_dir if dependencies else None)
    description: dict[str, Any] = {
        **options.describe(),
        **spec.describe(Path(source)),
        "content": fingerprint(entries),
    }
    resolution = None
    if dependencies is not None:
        from detzip.dependencies import resolve

        resolution = resolve(dependencies, store)
        description["dependencies"] = resolution.description
    key = caching.cache_key("function", description)

    def build(path: Path) -> WrittenZip:
        from detzip.zipwriter import write_zip

        more = []
        if dependencies is not None and resolution is not None:
            from detzip.wheelset import install_entries  # packaging, pip: only when needed

            more = install_entries(dependencies, resolution.wheels(), "")
        report = progress.bytes_done(f"zipping {name}")
        return write_zip([*entries, *more], path, options, progress=report)

    name = name or caching.artifact_name(out)
    return store.through(name, key, description, out, build, check)


def _identity(path: Path) -> frozenset[tuple[int, int]]:
    try:
        info = path.stat()
    except OSError:
        return frozenset()
    return frozenset({(info.st_dev, info.st_ino)})
