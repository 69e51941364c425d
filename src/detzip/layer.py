"""Dependency layers: a lock file → the wheels for a target → a canonical zip.

Reads top to bottom: load the lock for the target, drop excluded packages, choose one wheel per
package, make sure each is in the wheel store (fetching only what is missing), turn every wheel
into entries (raw members, no recompression), and write them under ``python/``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from detzip import compressors, locks
from detzip.artifact import Artifact
from detzip.entries import Entry, normalize_prefix
from detzip.options import ZipOptions
from detzip.targets import DEFAULT_ARCH, DEFAULT_RUNTIME, Target
from detzip.wheels import DEFAULT_LAYER_EXCLUDES, choose, compile_excludes, wheel_entries
from detzip.wheelstore import StoredWheel, WheelStore
from detzip.zipwriter import write_zip

log = logging.getLogger("detzip")


@dataclass(frozen=True)
class Dependencies:
    """What to install from a lock or requirements file, for which target, and from where."""

    requirements: str | os.PathLike[str]
    runtime: str = DEFAULT_RUNTIME
    arch: str = DEFAULT_ARCH
    format: str | None = None
    groups: Sequence[str] = ()
    exclude: Sequence[str] = ()
    exclude_packages: Sequence[str] = ()
    default_excludes: bool = True
    index_url: str | None = None
    extra_index_urls: Sequence[str] = ()
    find_links: Sequence[str] = ()
    no_index: bool = False
    cache_dir: str | os.PathLike[str] | None = None
    pip_options: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        options: list[str] = []
        if self.index_url:
            options += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            options += ["--extra-index-url", url]
        for link in self.find_links:
            options += ["--find-links", str(link)]
        if self.no_index:
            options.append("--no-index")
        object.__setattr__(self, "pip_options", tuple(options))

    @property
    def target(self) -> Target:
        return Target(self.runtime, self.arch)


def resolve(deps: Dependencies) -> list[StoredWheel]:
    """The wheels ``deps`` install, one per package, present in the local wheel store."""
    target = deps.target
    locked = locks.load(deps.requirements, target, format=deps.format, groups=deps.groups)
    dropped = {canonicalize_name(name) for name in deps.exclude_packages}
    pins = [pin for pin in locked.pins if pin.name not in dropped]
    for name in sorted(dropped - {pin.name for pin in locked.pins}):
        log.warning("--exclude-package %s: not in %s for this target", name, deps.requirements)
    store = WheelStore(Path(deps.cache_dir) if deps.cache_dir else None)
    options = [*locked.pip_options, *deps.pip_options]
    return store.ensure([choose(pin, target) for pin in pins], target, options)


def dependency_entries(deps: Dependencies, prefix: str) -> tuple[list[Entry], list[StoredWheel]]:
    wheels = resolve(deps)
    exclude = compile_excludes(deps.exclude, deps.default_excludes)
    entries: list[Entry] = []
    for wheel in wheels:
        entries += wheel_entries(wheel, prefix, exclude)
    return entries, wheels


def describe(deps: Dependencies, wheels: Sequence[StoredWheel]) -> dict[str, Any]:
    """The dependency options and the resolved set: what the layer's bytes depend on."""
    return {
        **deps.target.describe(),
        "exclude": list(deps.exclude),
        "exclude_packages": sorted(canonicalize_name(n) for n in deps.exclude_packages),
        "default_excludes": list(DEFAULT_LAYER_EXCLUDES) if deps.default_excludes else [],
        "packages": [
            {"name": w.name, "version": w.version, "wheel": w.filename, "sha256": w.sha256}
            for w in wheels
        ],
    }


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
) -> Artifact:
    """Build a Lambda layer zip from a requirements.txt, poetry.lock, pylock.toml or uv.lock.

    The bytes depend on the resolved set of wheels and the target only, not on which lock
    format carried it. ``prefix`` is ``python`` (where Lambda looks in a layer); pass ``''`` to
    put the packages at the root. ``exclude`` patterns apply to paths inside the layer (e.g.
    ``*/tests/``); ``exclude_packages`` drops whole distributions (e.g. boto3, which the
    runtime provides). ``__pycache__/`` and ``*.pyc`` are dropped unless ``default_excludes``
    is false.
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
    return write_layer(deps, output, prefix=prefix, options=options)


def write_layer(
    deps: Dependencies,
    output: str | os.PathLike[str],
    *,
    prefix: str = "python",
    options: ZipOptions | None = None,
) -> Artifact:
    """:func:`build_layer` for callers that already hold :class:`Dependencies` and options."""
    options = options or ZipOptions.create()
    root = normalize_prefix(prefix)
    entries, wheels = dependency_entries(deps, root)
    written = write_zip(entries, output, options)
    described = {
        **options.describe(),
        "compressor_identity": compressors.identity(options.compressor),
        "prefix": root,
        **describe(deps, wheels),
    }
    return Artifact.from_written(written, described)
