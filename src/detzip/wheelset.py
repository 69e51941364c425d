"""A lock for a target → the set of wheels to install, its description, and their entries.

Reads top to bottom: load the lock for the target, drop excluded packages, choose one file per
package, and describe the set. A wheel the lock names with its sha256 is described without
fetching it (so a cache hit needs no download); a pin the lock leaves to pip (a requirements.txt
with several hashes, or none) is fetched into the wheel store to learn which wheel it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from detzip.dependencies import Dependencies
from detzip.entries import Entry
from detzip.locks.loading import load as load_lock
from detzip.targets import Target
from detzip.wheels import DEFAULT_LAYER_EXCLUDES, choose, compile_excludes, wheel_entries
from detzip.wheelstore import StoredWheel, Wanted, WheelStore

log = logging.getLogger("detzip")


@dataclass
class WheelSet:
    """The chosen files for a target; ``wheels()`` makes sure they are all in the store."""

    description: dict[str, Any]
    inputs: tuple[Path, ...]
    floating: bool
    wanted: list[Wanted]
    target: Target
    store: WheelStore
    pip_options: list[str]
    _wheels: list[StoredWheel] | None = field(default=None, repr=False)

    def wheels(self) -> list[StoredWheel]:
        if self._wheels is None:
            self._wheels = self.store.ensure(self.wanted, self.target, self.pip_options)
        return self._wheels


def resolve_wheels(deps: Dependencies) -> WheelSet:
    target = deps.target
    locked = load_lock(deps.requirements, target, format=deps.format, groups=deps.groups)
    dropped = {canonicalize_name(name) for name in deps.exclude_packages}
    pins = [pin for pin in locked.pins if pin.name not in dropped]
    for name in sorted(dropped - {pin.name for pin in locked.pins}):
        log.warning("exclude_packages: %s is not in %s for this target", name, deps.requirements)
    store = WheelStore(Path(deps.cache_dir) if deps.cache_dir else None)
    options = [*locked.pip_options, *deps.pip_options]
    wanted = [choose(pin, target) for pin in pins]
    packages: dict[str, dict[str, str]] = {}
    unknown: list[Wanted] = []
    for want in wanted:
        if want.filename and want.sha256 and not want.build:
            packages[want.pin.name] = _package(
                want.pin.name, want.pin.version, want.filename, want.sha256
            )
        else:
            unknown.append(want)
    for wheel in store.ensure(unknown, target, options):
        packages[wheel.name] = _package(wheel.name, wheel.version, wheel.filename, wheel.sha256)
    description = describe(deps, [packages[name] for name in sorted(packages)])
    return WheelSet(description, locked.inputs, locked.floating, wanted, target, store, options)


def _package(name: str, version: str, filename: str, sha256: str) -> dict[str, str]:
    return {"name": name, "version": version, "wheel": filename, "sha256": sha256}


def describe(deps: Dependencies, packages: Sequence[dict[str, str]]) -> dict[str, Any]:
    """The dependency options and the resolved set: what the installed files depend on."""
    return {
        **deps.target.describe(),
        "exclude": list(deps.exclude),
        "exclude_packages": sorted(canonicalize_name(n) for n in deps.exclude_packages),
        "default_excludes": list(DEFAULT_LAYER_EXCLUDES) if deps.default_excludes else [],
        "packages": list(packages),
    }


def install_entries(deps: Dependencies, wheels: Sequence[StoredWheel], prefix: str) -> list[Entry]:
    """Every wheel's files as pip would install them, under ``prefix``."""
    exclude = compile_excludes(deps.exclude, deps.default_excludes)
    entries: list[Entry] = []
    for wheel in wheels:
        entries += wheel_entries(wheel, prefix, exclude)
    return entries
