"""Function zips: a source tree, filtered, written canonically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip import compressors
from detzip.artifact import Artifact
from detzip.options import ZipOptions
from detzip.tree import TreeSpec, collect
from detzip.zipwriter import write_zip

if TYPE_CHECKING:
    from detzip.layer import Dependencies


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
) -> Artifact:
    """Zip the code under ``source`` into ``output``; the bytes depend only on what is packed.

    ``exclude``/``include`` are gitignore-style patterns relative to ``source``; a
    ``.detzipignore`` file there is read too. ``mtime=None`` uses ``SOURCE_DATE_EPOCH`` if set,
    else 1980-01-01. See :class:`detzip.tree.TreeSpec` for the other options.

    With ``dependencies`` (see :class:`detzip.layer.Dependencies`), the wheels it resolves
    are installed at the root of the same zip, beside the code.
    """
    options = ZipOptions.create(mtime=mtime, compressor=compressor, level=level)
    out = Path(output)
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
    extra: dict[str, Any] = {}
    if dependencies is not None:
        from detzip.layer import dependency_entries, describe  # packaging, pip: only when needed

        more, wheels = dependency_entries(dependencies, "")
        entries += more
        extra = {"dependencies": describe(dependencies, wheels)}
    written = write_zip(entries, out, options)
    described = {
        **options.describe(),
        "compressor_identity": compressors.identity(options.compressor),
        **spec.describe(Path(source)),
        **extra,
    }
    return Artifact.from_written(written, described)


def _identity(path: Path) -> frozenset[tuple[int, int]]:
    try:
        info = path.stat()
    except OSError:
        return frozenset()
    return frozenset({(info.st_dev, info.st_ino)})
