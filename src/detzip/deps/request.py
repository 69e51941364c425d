"""What a layer (or a function zip) installs: a lock file, a target, and where wheels come from.

:func:`detzip.deps.remembered.resolved_set` turns :class:`Dependencies` into the resolved set. Its
fields are the option table's dependency options, by name (a spec makes one with
:meth:`detzip.spec.ArtifactSpec.dependencies`), plus the cache folder and what never to pack.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from detzip._datatype import datatype, field
from detzip._fs import NeverPack
from detzip.deps.targets import DEFAULT_ARCH, DEFAULT_RUNTIME, Target

__all__ = ["Dependencies"]

#: fields that say where things are kept, not what is installed: not part of the request
_NOT_ASKED = ("cache_dir", "never_pack", "pip_options")


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
    never_pack: NeverPack = field(default=frozenset(), compare=False)
    """The (device, inode) of what a local package's files never include (the output, the
    cache)."""
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
        """The Lambda target (``runtime``, ``arch``) the wheels are chosen for."""
        return Target(self.runtime, self.arch)

    def request(self) -> dict[str, Any]:
        """This request without the files' contents: the memo key (not the cache key). Every
        field that says what is installed is in it, paths made absolute."""
        from detzip._version import __version__

        def where(link: str) -> str:
            return link if "://" in link else os.path.abspath(link)

        asked: dict[str, Any] = {"detzip": __version__}
        for name, value in vars(self).items():
            if name in _NOT_ASKED:
                continue
            if name == "requirements":
                value = os.path.abspath(value)
            elif name == "find_links":
                value = [where(str(link)) for link in value]
            elif isinstance(value, Sequence) and not isinstance(value, str):
                value = list(value)
            asked[name] = value
        return asked
