"""Dependencies → the resolved set: its description and, on a build, its wheels.

:func:`resolve` turns :class:`~detzip.dependencies.Dependencies` into a :class:`Resolution`: the
description of the resolved set (target, patterns, and each chosen wheel's name, version, file and
sha256), which is what the bytes depend on, and a way to get the wheels themselves. A lock that
has not changed since the last resolution (nor any file it reads) is answered from the cache's
memo without parsing it, so a cache hit does not import the lock readers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detzip.cache import Cache
    from detzip.dependencies import Dependencies
    from detzip.wheelset import WheelSet
    from detzip.wheelstore import StoredWheel


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
