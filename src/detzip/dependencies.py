"""What a layer (or a function zip) installs: a lock file, a target, and where wheels come from.

:func:`resolve` turns :class:`Dependencies` into a :class:`Resolution`: the description of the
resolved set (target, patterns, and each chosen wheel's name, version, file and sha256), which is
what the bytes depend on, and a way to get the wheels themselves. A lock that has not changed
since the last resolution (nor any file it reads) is answered from the cache's memo without
parsing it, so a cache hit does not import the lock readers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from detzip.targets import DEFAULT_ARCH, DEFAULT_RUNTIME, Target

if TYPE_CHECKING:
    from detzip.cache import Cache
    from detzip.wheelset import WheelSet
    from detzip.wheelstore import StoredWheel


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


@dataclass(frozen=True)
class Resolution:
    """The resolved set's description, and how to get its wheels into the store (on a build)."""

    description: dict[str, Any]
    wheels: Callable[[], list[StoredWheel]]


def resolve(deps: Dependencies, cache: Cache) -> Resolution:
    """The resolved set for ``deps``: remembered if no input changed, else read from the lock."""
    request = deps.request()
    remembered = cache.recall("dependencies", request)
    if isinstance(remembered, dict):
        return Resolution(remembered, lambda: _read(deps).wheels())
    resolved = _read(deps)
    if not resolved.floating:
        cache.remember("dependencies", request, resolved.inputs, resolved.description)
    return Resolution(resolved.description, resolved.wheels)


def _read(deps: Dependencies) -> WheelSet:
    from detzip.wheelset import resolve_wheels  # packaging and the lock readers: only now

    return resolve_wheels(deps)
