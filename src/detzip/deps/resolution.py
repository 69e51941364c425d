"""Resolution: a lock for a target → one file per package, and its description.

Reads top to bottom: load the lock for the target, drop excluded packages, choose one file per
package, and describe the set. A wheel the lock names with its sha256 is described without
fetching it (so a cache hit needs no download); a pin the lock leaves to pip (a requirements.txt
with several hashes, or none) is fetched into the wheel store to learn which wheel it is; a local
package is described by its files' content, and built now unless a build of that content is
remembered (:mod:`detzip.deps.local`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from detzip import _log as log
from detzip._datatype import datatype, field
from detzip._memo import Memo
from detzip.deps.local import LocalWheel, build_local
from detzip.deps.locks.loading import load as load_lock
from detzip.deps.locks.model import Pin
from detzip.deps.request import Dependencies
from detzip.deps.store import StoredWheel, Wanted, WheelStore
from detzip.deps.targets import Target
from detzip.errors import DetzipError, Setting, literal, warn
from detzip.inputs.wheel import DEFAULT_LAYER_EXCLUDES

__all__ = ["Resolution", "choose", "describe", "resolve"]


@datatype(frozen=False, slots=False)
class Resolution:
    """The chosen files for a target; ``wheels()`` makes sure they are all in the store."""

    description: dict[str, Any]
    inputs: tuple[Path, ...]
    floating: bool
    wanted: list[Wanted]
    target: Target
    store: WheelStore
    pip_options: list[str]
    lock: Path
    format: str
    provided: frozenset[str]
    local: list[LocalWheel] = field(default_factory=list)
    _wheels: list[StoredWheel | LocalWheel] | None = field(default=None, repr=False)

    def wheels(self) -> list[StoredWheel | LocalWheel]:
        """Every chosen wheel, in the store (fetched now if missing), once the set is checked
        complete: each wheel's requirements met by the set (:mod:`detzip.deps.closure`)."""
        if self._wheels is None:
            fetched = self.store.ensure(self.wanted, self.target, self.pip_options)
            wheels: list[StoredWheel | LocalWheel] = [*fetched, *self.local]
            wheels.sort(key=lambda w: w.name)
            _complete(self, wheels)
            self._wheels = wheels
        return self._wheels


def _complete(resolution: Resolution, wheels: Sequence[StoredWheel | LocalWheel]) -> None:
    """Refuse a set whose packages need a package it lacks (or another version of one)."""
    from detzip.deps.closure import Installed, unmet
    from detzip.inputs.wheel import read_metadata

    asked = {want.pin.name: want.pin.extras for want in resolution.wanted}
    asked.update({w.name: w.extras for w in resolution.local})
    installed = [
        Installed(w.name, w.version, read_metadata(w), asked.get(w.name, frozenset()))
        for w in wheels
    ]
    missing = unmet(installed, resolution.provided, resolution.target)
    if not missing:
        return
    shown = "; ".join(map(str, missing[:5]))
    more = f"; and {len(missing) - 5} more" if len(missing) > 5 else ""
    target = resolution.target
    if resolution.format == "requirements":
        fix = (
            "pin the full set (e.g. uv pip compile --python-platform "
            f"{target.machine}-manylinux_2_{target.glibc[1]} --python-version {target.python} "
            "requirements.in -o requirements.txt)"
        )
        if not resolution.local:  # pip cannot resolve beside local packages
            fix += ", or leave a line unpinned (name>=version) so detzip resolves it"
    else:
        fix = f"lock again for {target.runtime} {target.arch}"
    raise DetzipError(
        f"the set is incomplete for {target.runtime} {target.arch}: {literal(shown + more)}; "
        f"{fix}, or if the runtime provides a package, leave it out with {{0}}",
        resolution.lock,
        settings=[Setting("exclude_packages", [missing[0].name])],
    )


def resolve(deps: Dependencies, store: WheelStore, memo: Memo) -> Resolution:
    """Read the lock for the target, drop excluded packages, choose a file per package, and
    describe the set (fetching into ``store`` only the pins the lock leaves to pip, building
    the local packages whose build ``memo`` does not remember)."""
    target = deps.target
    locked = load_lock(
        deps.requirements,
        target,
        format=deps.format,
        groups=deps.groups,
        extras=deps.extras,
        package=deps.package,
        project=deps.include_project,
        pip_options=deps.pip_options,
    )
    dropped = {canonicalize_name(name) for name in deps.exclude_packages}
    pins = [pin for pin in locked.pins if pin.name not in dropped]
    for name in sorted(dropped - {pin.name for pin in locked.pins}):
        warn(
            f"{{0}}: {literal(name)} is not in the set for {target.runtime} {target.arch}; "
            "nothing to leave out",
            deps.requirements,
            settings=[Setting("exclude_packages", [name])],
        )
    options = [*locked.pip_options, *deps.pip_options]
    local = [
        build_local(pin, memo, store, options, target.runtime, deps.never_pack)
        for pin in pins
        if pin.local
    ]
    wanted = [choose(pin, target) for pin in pins if not pin.local]
    _distinct(local, [want.pin.name for want in wanted], deps.requirements)
    _extras_declared(local, deps.requirements)
    packages: dict[str, dict[str, object]] = {w.name: w.describe() for w in local}
    unknown: list[Wanted] = []
    for want in wanted:
        if want.filename and want.sha256 and not want.build:
            packages[want.pin.name] = _package(
                want.pin.name, want.pin.version, want.filename, want.sha256
            )
        else:
            unknown.append(want)
    for wheel in store.ensure(unknown, target, options):
        packages[wheel.name] = wheel.describe()
    description = describe(deps, [packages[name] for name in sorted(packages)])
    if locked.floating:  # resolved now, and again on every build: say so, and what to do
        description["locked"] = False
        what = "is not a lock" if locked.format == "pyproject" else "has lines that are not pinned"
        log.warning(
            "%s: %s: its requirements were resolved against the index for %s %s now, and will "
            "be on every build (the layer can change while the file does not); lock them "
            "(uv lock, poetry lock, uv pip compile) for repeatable layers",
            deps.requirements,
            what,
            target.runtime,
            target.arch,
        )
    return Resolution(
        description,
        locked.inputs,
        locked.floating,
        wanted,
        target,
        store,
        options,
        Path(deps.requirements),
        locked.format,
        frozenset(dropped),
        local,
    )


def _distinct(local: Sequence[LocalWheel], others: Sequence[str], lock: object) -> None:
    """Two packages of one name cannot share a layer: a local package that builds the name of
    another (local or from the index) is an error naming both."""
    seen: dict[str, str] = {name: "the index" for name in others}
    for wheel in local:
        if wheel.name in seen:
            raise DetzipError(
                f"{wheel.name} is both the local package at {literal(str(wheel.folder))} and "
                f"{literal(seen[wheel.name])}; keep one",
                str(lock),
            )
        seen[wheel.name] = str(wheel.folder)


def _extras_declared(local: Sequence[LocalWheel], lock: object) -> None:
    """An extra asked of a local package (``./libs/x[aws]``) must be one it declares: checked on
    every run (a hit too), since the key does not hold the extras asked."""
    from detzip.deps.closure import declared_extras
    from detzip.inputs.wheel import read_metadata

    for wheel in local:
        if not wheel.extras:
            continue
        declared = declared_extras(read_metadata(wheel))
        missing = sorted(wheel.extras - declared)
        if missing:
            raise DetzipError(
                f"{wheel.name} (the local package at {literal(str(wheel.folder))}) has no extra "
                f"{literal(', '.join(missing))} (it declares "
                f"{literal(', '.join(sorted(declared)) or 'none')}); fix the name",
                str(lock),
            )


def choose(pin: Pin, target: Target) -> Wanted:
    """The best file in the lock's list for the target; without a list, leave it to pip."""
    if not pin.files:
        return Wanted(pin)
    best: tuple[tuple[int, int, str], Wanted] | None = None
    sdist = None
    for file in pin.files:
        if not file.filename.endswith(".whl"):
            if file.filename.endswith((".tar.gz", ".zip")):
                sdist = file
            continue
        try:
            _, _, build, tags = parse_wheel_filename(file.filename)
        except InvalidWheelFilename:
            continue
        ranks = [target.tag_rank[tag] for tag in tags if tag in target.tag_rank]
        if not ranks:
            continue
        key = (min(ranks), -(build[0] if build else 0), file.filename)
        if best is None or key < best[0]:
            best = (key, Wanted(pin, file.filename, file.url, file.sha256))
    if best is not None:
        return best[1]
    wheels = sorted(f.filename for f in pin.files if f.filename.endswith(".whl"))
    # the lock names wheels, none for the target: why not (the glibc of the runtime, its Python)
    why = target.why_not(wheels) if wheels else None
    if sdist is not None:
        return Wanted(pin, sdist.filename, sdist.url, sdist.sha256, build=True, passed_over=why)
    if why is None:
        fix = ""
    elif "need glibc" in why:  # a wheel for this Python, for a newer glibc than the runtime's
        fix = (
            f"use a runtime whose glibc loads it, pin a version with a manylinux_2_"
            f"{target.glibc[1]} or older wheel, or leave it out with {{0}}"
        )
    else:  # locked for another machine (pip lock and uv pip compile record the machine's wheels)
        fix = (
            "the lock was made for another Python or machine (pip lock and uv pip compile "
            "record the wheels of the machine they run on): lock for the target, e.g. uv pip "
            f"compile --python-platform {target.machine}-manylinux_2_{target.glibc[1]} "
            f"--python-version {target.python} --generate-hashes; or "
        )
    if not fix.endswith("{0}"):
        fix += "pin a version that publishes such a wheel, or leave it out with {0}"
    shown = ", ".join(wheels[:4]) + (f" and {len(wheels) - 4} more" if len(wheels) > 4 else "")
    reason = f": {why}" if why else ""
    raise DetzipError(
        f"{pin.name} {pin.version} has no wheel for {target.runtime} {target.arch} "
        f"(manylinux up to glibc 2.{target.glibc[1]}){literal(reason)} among "
        f"{literal(shown or 'no wheels')}; {fix}",
        settings=[Setting("exclude_packages", [pin.name])],
    )


def _package(name: str, version: str, filename: str, sha256: str) -> dict[str, object]:
    return {"name": name, "version": version, "wheel": filename, "sha256": sha256}


def describe(deps: Dependencies, packages: Sequence[dict[str, object]]) -> dict[str, Any]:
    """The dependency options and the resolved set: what the installed files depend on."""
    return {
        **deps.target.describe(),
        "exclude": list(deps.exclude),
        "exclude_packages": sorted(canonicalize_name(n) for n in deps.exclude_packages),
        "default_excludes": list(DEFAULT_LAYER_EXCLUDES) if deps.default_excludes else [],
        "packages": list(packages),
        # what was checked before it was built: every requirement met within the set
        "checked": ["requirements-met"],
    }
