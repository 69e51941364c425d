"""What a layer (or a function zip) installs: a lock file, a target, and where wheels come from.

:func:`detzip.deps.resolution.resolve` turns :class:`Dependencies` into the resolved set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip._datatype import datatype, field
from detzip.deps.targets import DEFAULT_ARCH, DEFAULT_RUNTIME, Target

if TYPE_CHECKING:
    pass

__all__ = ["Dependencies"]


@datatype(slots=False)
class Dependencies:
    """What to install from a lock or requirements file, for which target, and from where."""

    requirements: str | os.PathLike[str]
    runtime: str = DEFAULT_RUNTIME
    arch: str = DEFAULT_ARCH
    format: str | None = None
    groups: Sequence[str] = ()
    exclude: Sequence[str] = ()
    extras: Sequence[str] = ()
    package: str | None = None
    include_project: bool = False
    exclude_packages: Sequence[str] = ()
    default_excludes: bool = True
    index_url: str | None = None
    extra_index_urls: Sequence[str] = ()
    find_links: Sequence[str] = ()
    no_index: bool = False
    cache_dir: str | os.PathLike[str] | None = None
    pip_options: tuple[str, ...] = field(init=False, default=())
    never_pack: tuple[Path, ...] = field(default=(), compare=False)
    """Files and folders a local package's files never include (the output, the cache)."""

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

    def option_values(self) -> dict[str, Any]:
        """These dependencies as option values of a function that bundles them.

        A bundle's installed files get the layer defaults; ``exclude`` and
        ``default_excludes`` here would be dropped, so they are refused.
        """
        from detzip.errors import DetzipError

        if tuple(self.exclude) or not self.default_excludes:
            raise DetzipError(
                "Dependencies(exclude=…, default_excludes=False) applies to layers only; a "
                "function's exclude patterns apply to its source (build a layer with "
                "build_layer for filtered dependencies)"
            )
        return {
            "requirements": self.requirements,
            "runtime": self.runtime,
            "arch": self.arch,
            "format": self.format,
            "groups": tuple(self.groups) or None,
            "extras": tuple(self.extras) or None,
            "package": self.package,
            "include_project": self.include_project or None,
            "exclude_packages": tuple(self.exclude_packages) or None,
            "index_url": self.index_url,
            "extra_index_urls": tuple(self.extra_index_urls) or None,
            "find_links": tuple(map(str, self.find_links)) or None,
            "no_index": self.no_index or None,
            "cache_dir": self.cache_dir,
        }

    @property
    def target(self) -> Target:
        """The Lambda target (``runtime``, ``arch``) the wheels are chosen for."""
        return Target(self.runtime, self.arch)

    def request(self) -> dict[str, Any]:
        """This request without the files' contents: the memo key (not the cache key)."""
        from detzip import __version__

        def where(link: str) -> str:
            return link if "://" in link else os.path.abspath(link)

        return {
            "detzip": __version__,
            "requirements": os.path.abspath(self.requirements),
            "format": self.format,
            "groups": sorted(self.groups),
            "extras": sorted(self.extras),
            "package": self.package,
            "include_project": self.include_project,
            "runtime": self.runtime,
            "arch": self.arch,
            "exclude": list(self.exclude),
            "exclude_packages": sorted(self.exclude_packages),
            "default_excludes": self.default_excludes,
            "index_url": self.index_url,
            "extra_index_urls": list(self.extra_index_urls),
            "find_links": [where(str(link)) for link in self.find_links],
            "no_index": self.no_index,
        }
