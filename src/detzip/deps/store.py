"""The wheel store: a local, content-addressed folder of wheels, filled by pip.

Layout under its folder: ``<sha[:2]>/<sha256>/<filename>``. Only missing wheels are
fetched, with one ``pip download --no-deps`` per index for the target; every file is checked
against the hashes the lock accepts before it enters the store, and every member of it is
inflated and checked against the sizes and CRC-32 its central directory records
(:func:`detzip.inputs.wheel.check_wheel`; a wheel that fails is refused, naming the wheel and
the member, and never stored). The verdict is kept beside the wheel (``<sha256>/.verified``), so
a warm build recalls it instead of inflating anything (see :mod:`detzip.inputs._verify`); a
wheel built here (from an sdist, or a local package) is checked as it is stored too.

A wheel known only by ``name==version`` (a pinned requirements.txt without hashes) is remembered
under ``<resolved>/<key>.json`` once pip has chosen it, so a warm store needs no network.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from detzip import _log as log
from detzip import _platform
from detzip import _progress as progress
from detzip._datatype import datatype, replace
from detzip._fs import copy_file, umask, write_file
from detzip._scratch import Scratch
from detzip.deps import pip
from detzip.deps.locks.model import Pin
from detzip.deps.targets import RUNTIMES, Target
from detzip.errors import DetzipError, Setting, literal, warn

if TYPE_CHECKING:
    from concurrent.futures import Future

    from detzip.inputs._verify import Verdict

__all__ = ["StoredWheel", "Wanted", "WheelStore"]

#: how many ``pip download`` processes fetch missing wheels at once (each takes a share of them;
#: pip's own configuration — indexes, credentials, proxies, certificates — applies to each): one
#: per core, 2 to 4 (each pip is a second of start-up on a core before it downloads)
DOWNLOADS = min(4, max(2, os.cpu_count() or 1))
#: temporary stores of this process (see :meth:`WheelStore._use_scratch`)
_SCRATCH: list[Scratch] = []
#: packages said to be built as pure Python in this process (see :func:`_lost`)
_LOST: set[tuple[str, str, str, str]] = set()


@datatype
class Wanted:
    """A file to have in the store: chosen from the lock's list, or left to pip."""

    pin: Pin
    filename: str | None = None
    url: str | None = None
    sha256: str | None = None
    build: bool = False  # an sdist to build into a wheel (pure Python only)
    #: building: why none of the lock's wheels fits the target (None: it lists no wheels)
    passed_over: str | None = None


@datatype
class StoredWheel:
    """A wheel in the store: its project ``name`` and ``version``, file name, sha256 and path."""

    name: str
    version: str
    filename: str
    sha256: str
    path: Path
    built: bool = False  # built here from an sdist: its compressed bytes are not portable
    sdist_sha256: str | None = None  # built: from this sdist …
    build_requires: tuple[str, ...] = ()  # … with these build requirements
    #: built: why none of the package's wheels fits the target (what the pure build lost)
    passed_over: str | None = None

    def describe(self) -> dict[str, object]:
        """The wheel as the layer's description lists it (what its bytes depend on)."""
        found: dict[str, object] = {
            "name": self.name,
            "version": self.version,
            "wheel": self.filename,
            "sha256": self.sha256,
        }
        if self.built:
            found["built_from"] = {
                "sdist_sha256": self.sdist_sha256,
                "build_requires": list(self.build_requires),
            }
        return found


class WheelStore:
    """Wheels under ``folder`` by sha256; ``resolved`` remembers which wheel pip chose for a pin
    the lock leaves to it (the cache's :class:`~detzip.cache.layout.Layout` names both).
    ``seed`` is another store, only read: a wheel it holds is copied in (and checked) rather
    than fetched (a build that must not write the local cache, ``cache_write = "none"``)."""

    def __init__(
        self, folder: Path, resolved: Path, failed: Path | None = None, *, seed: Path | None = None
    ) -> None:
        self.root = folder
        self.memo = resolved
        self.seed = seed
        # failed sdist builds (see :class:`detzip.deps._sdist.Failures`): the cache's
        # ``failed-builds`` folder, beside the store's
        self.failed = failed if failed is not None else folder.parent / "failed-builds"
        self._scratch: Scratch | None = None

    def _folder(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def get(self, sha256: str) -> Path | None:
        """The stored wheel with this sha256, if there is one (and mark it used, for prune)."""
        folder = self._folder(sha256)
        try:
            names = [n for n in os.listdir(folder) if not n.startswith(".")]
        except OSError:  # not stored, or the store cannot be read: fetch it
            return None
        if len(names) != 1 or not _readable(folder / names[0]):
            return None if self.seed is None else self._seeded(sha256)
        with contextlib.suppress(OSError):
            os.utime(folder)  # last use, for prune
        return folder / names[0]

    def _seeded(self, sha256: str) -> Path | None:
        """The seed store's wheel with this sha256, copied in once its bytes and members are
        checked (a wheel the seed holds with other bytes is not used, and fetched instead)."""
        assert self.seed is not None
        folder = self.seed / sha256[:2] / sha256
        try:
            names = [n for n in os.listdir(folder) if not n.startswith(".")]
        except OSError:
            return None
        if len(names) != 1 or not _readable(folder / names[0]):
            return None
        try:
            return self.add(folder / names[0], sha256)  # (checks its sha256 and its members)
        except DetzipError as exc:
            log.warning("%s; fetching it again", exc)
            return None

    def add(
        self, source: Path, sha256: str, verdict: Verdict | None = None, *, move: bool = False
    ) -> Path:
        """Copy ``source`` (whose bytes have this sha256) into the store, once its members are
        checked (``verdict``, or checked now: a :class:`DetzipError` names the wheel and the
        member that fails, and nothing is stored); its stored path. The verdict is kept beside
        it. ``move``: ``source`` is this run's own download, no longer needed, renamed into
        the store when both are on one file system (the checked file itself, not a copy)."""
        final = self._folder(sha256) / source.name
        if _readable(final):
            return final  # (its verdict is recalled, or made, where it is used)
        if verdict is None:
            from detzip.inputs.wheel import check_wheel

            verdict = check_wheel(source, sha256)
        try:
            if not (move and _moved(source, final)):
                copy_file(source, final)
        except OSError as exc:
            if self._scratch is not None:
                raise
            self._use_scratch(exc)
            return self.add(source, sha256, verdict, move=move)
        from detzip.inputs._verify import remember

        remember(final, verdict)
        return final

    def _use_scratch(self, exc: OSError) -> None:
        """The store's folder cannot take a wheel (read-only, a file, full): keep this run's
        wheels in a temporary folder, removed when the process ends, and say so once."""
        reason = literal(f"({exc.strerror or exc})")
        warn(
            f"cannot store wheels here {reason}; using a temporary folder for this run "
            "(fetched again next time) — fix the folder or set {0}",
            self.root,
            settings=[Setting("cache_dir")],
        )
        self._scratch = Scratch("wheels")
        _SCRATCH.append(self._scratch)  # lives until the process ends: the build reads it
        self.root = self._scratch.path / "wheels"
        self.memo = self._scratch.path / "resolved"

    def _memo_key(self, pin: Pin, target: Target, options: Sequence[str]) -> Path:
        text = json.dumps([pin.name, pin.version, pin.index, target.describe(), list(options)])
        return self.memo / f"{hashlib.sha256(text.encode()).hexdigest()}.json"

    def remembered(self, pin: Pin, target: Target, options: Sequence[str]) -> StoredWheel | None:
        """The wheel pip chose for ``pin`` on ``target`` before, if it is still stored."""
        memo = self._memo_key(pin, target, options)
        try:
            data = json.loads(memo.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            if self.seed is None:
                return None
            try:  # what pip chose is in the seed's memo too (its wheel: copied from the seed)
                seeded = self.seed.parent / "resolved" / memo.name
                data = json.loads(seeded.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                return None
        accepted = pin.accepted_hashes
        if not isinstance(data, dict) or not isinstance(data.get("sha256"), str):
            return None
        built = bool(data.get("built"))
        checked = data.get("sdist_sha256") if built else data["sha256"]
        if accepted and checked not in accepted:
            return None  # the lock's hashes changed since: fetch again, checked against them
        path = self.get(data["sha256"])
        if path is None:
            return None
        requires = data.get("build_requires", [])
        if built and not (isinstance(checked, str) and isinstance(requires, list)):
            return None  # remembered before builds were recorded: build again
        return StoredWheel(
            pin.name,
            pin.version,
            path.name,
            data["sha256"],
            path,
            built,
            checked if built else None,
            tuple(map(str, requires)),
            str(data["passed_over"]) if built and data.get("passed_over") else None,
        )

    def remember(
        self, pin: Pin, target: Target, options: Sequence[str], wheel: StoredWheel
    ) -> None:
        """Remember that pip chose ``wheel`` for ``pin`` on ``target``."""
        data = json.dumps(
            {
                "sha256": wheel.sha256,
                "built": wheel.built,
                "sdist_sha256": wheel.sdist_sha256,
                "build_requires": list(wheel.build_requires),
                "passed_over": wheel.passed_over,
            }
        )
        with contextlib.suppress(OSError):  # only a memo: the next run asks pip again
            write_file(self._memo_key(pin, target, options), data.encode())

    def ensure(
        self, wanted: Iterable[Wanted], target: Target, options: Sequence[str]
    ) -> list[StoredWheel]:
        """Every wanted wheel, from the store or fetched (one pip call per index)."""
        found: dict[str, StoredWheel] = {}
        missing: list[Wanted] = []
        for want in wanted:
            hit = self._lookup(want, target, options)
            if hit is not None:
                found[want.pin.name] = hit
            else:
                missing.append(want)
        groups: dict[tuple[str | None, bool, bool], list[Wanted]] = defaultdict(list)
        for want in missing:
            groups[(want.pin.index, bool(want.pin.accepted_hashes), want.build)].append(want)
        for (index, hashed, build), batch in sorted(groups.items(), key=lambda kv: str(kv[0])):
            for wheel in self._fetch(batch, target, options, index, hashed, build):
                found[wheel.name] = wheel
        return [found[name] for name in sorted(found)]

    def _lookup(self, want: Wanted, target: Target, options: Sequence[str]) -> StoredWheel | None:
        if want.sha256 and not want.build:
            path = self.get(want.sha256)
            if path is not None:
                return StoredWheel(want.pin.name, want.pin.version, path.name, want.sha256, path)
            return None
        hit = self.remembered(want.pin, target, options)
        if hit is not None and hit.passed_over:  # said on every build that resolves it
            _lost(want.pin, target, hit.passed_over)
        return hit

    def _fetch(
        self,
        batch: list[Wanted],
        target: Target,
        options: Sequence[str],
        index: str | None,
        hashed: bool,
        build: bool,
    ) -> list[StoredWheel]:
        names = _names(batch)
        log.info("fetching %s for %s %s", names, target.runtime, target.arch)
        with Scratch("fetch") as folder:
            # on a terminal pip shows its own download progress; elsewhere it stays quiet
            quiet = [] if progress.enabled() else ["--quiet"]
            progress.clear()
            args = ["--no-deps", *quiet, *options, *(["--index-url", index] if index else [])]
            if build:
                return [self._build(w, target, options, index, hashed, folder) for w in batch]
            parts = [batch[i::DOWNLOADS] for i in range(min(DOWNLOADS, len(batch)))]
            if len(parts) > 1 and not quiet:  # pips at once: their progress bars would mix
                args.insert(1, "--quiet")

            built: list[StoredWheel] = []  # pins with no wheel for the target: from sdists
            # each part's wheels are checked as soon as its pip is done, while the others
            # still download (inflating is most of it, and zlib lets go of the GIL); stored
            # only once every pip and every check has succeeded
            checker = _Checker(DOWNLOADS)

            def download(number: int) -> list[Future[tuple[Path, str, Verdict]]]:
                out = folder / f"out-{number}"
                wanted = folder / f"requirements-{number}.txt"
                part = parts[number]
                while part:
                    wanted.write_text(
                        "".join(_requirement_line(w, hashed) for w in part), encoding="utf-8"
                    )
                    where = ["-r", str(wanted), "-d", str(out), *target.pip_arguments()]
                    try:
                        pip.run(
                            ["download", *args, *where],
                            what=f"downloading {_names(part)} for {target.runtime} {target.arch}",
                        )
                        break
                    except pip.PipFailed as exc:
                        # a pinned line with no wheel for the target: built from its sdist,
                        # as a lock's sdist is (pure Python only); then the rest downloaded
                        source = _without_wheel(exc.output, part)
                        if source is None:
                            raise
                        wheel = self._from_sdist(source, target, options, index, hashed, folder)
                        if wheel is None:  # no sdist either: pip's own word
                            raise
                        part.remove(source)
                        built.append(wheel)
                return [checker.submit(self._check, want, out, target) for want in part]

            with checker:
                pending = _at_once(download, len(parts))
            found = [w for part in parts for w in part]
            checked = [future.result() for futures in pending for future in futures]
            return [
                *sorted(built, key=lambda wheel: wheel.name),
                *(
                    self._admit(want, *check, target, options)
                    for want, check in zip(found, checked, strict=True)
                ),
            ]

    def _from_sdist(
        self,
        want: Wanted,
        target: Target,
        options: Sequence[str],
        index: str | None,
        hashed: bool,
        scratch: Path,
    ) -> StoredWheel | None:
        """A pin the index has no wheel of for the target (a requirements line), built from its
        sdist as a lock's sdist is (None: the index has no sdist of it either). When the index
        has a wheel of it for a newer glibc than the runtime's, the pure build loses what that
        wheel compiles, and says so."""
        pin = want.pin
        try:
            built = self._build(Wanted(pin, build=True), target, options, index, hashed, scratch)
        except pip.PipFailed as exc:
            if "No matching distribution" in exc.output:
                return None
            raise
        passed_over = _newer_glibc(pin, target, options, index, scratch)
        if passed_over:  # (asked after the build: a missing package costs no more pips)
            _lost(pin, target, passed_over)
            built = replace(built, passed_over=passed_over)
            self.remember(pin, target, options, built)
        return built

    def _build(
        self,
        want: Wanted,
        target: Target,
        options: Sequence[str],
        index: str | None,
        hashed: bool,
        scratch: Path,
    ) -> StoredWheel:
        """A pure wheel built from the wanted sdist (see :mod:`detzip.deps._sdist`)."""
        from detzip.deps._sdist import Failures, build_pure

        folder = scratch / want.pin.name
        folder.mkdir()
        built = build_pure(
            want.pin.name,
            want.pin.version,
            _requirement_line(want, hashed).strip(),
            want.sha256,
            [*options, *(["--index-url", index] if index else [])],
            folder,
            target,
            Failures(self.failed),
            want.passed_over,
        )
        checked = self._check(want, built.wheel.parent, target)
        stored = self._admit(want, *checked, target, options, built.sdist_sha256,
                             built.build_requires)  # fmt: skip
        if want.passed_over:
            _lost(want.pin, target, want.passed_over)
        return stored

    def _check(self, want: Wanted, folder: Path, target: Target) -> tuple[Path, str, Verdict]:
        """The wheel pip left in ``folder`` for ``want``, its sha256 (one the lock accepts) and
        the verdict on its members (every one checked): else a :class:`DetzipError`."""
        from detzip.inputs.wheel import check_wheel

        pin = want.pin
        candidates = [p for p in folder.iterdir() if _wheel_name(p.name) == pin.name]
        if len(candidates) != 1:
            raise DetzipError(
                f"pip did not produce a wheel of {pin.name} {pin.version} "
                f"(found {[p.name for p in candidates]}); check the lock and the index"
            )
        path = candidates[0]
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if not want.build and pin.accepted_hashes and digest not in pin.accepted_hashes:
            raise DetzipError(
                f"{path.name} has sha256 {digest}, which the lock does not list for {pin.name} "
                f"{pin.version}; the index serves other bytes than were locked — re-lock or "
                "check the index"
            )
        _, _, _, tags = parse_wheel_filename(path.name)
        if not any(tag in target.tag_rank for tag in tags):
            raise DetzipError(
                f"{path.name} does not run on {target.runtime} {target.arch}: it was built for "
                f"{', '.join(sorted(map(str, tags)))}. {pin.name} needs a wheel for this target; "
                "choose a version that has one, or another {0} or {1}",
                settings=[Setting("runtime"), Setting("arch")],
            )
        return path, digest, check_wheel(path, digest)

    def _admit(
        self,
        want: Wanted,
        path: Path,
        digest: str,
        verdict: Verdict,
        target: Target,
        options: Sequence[str],
        sdist_sha256: str | None = None,
        build_requires: tuple[str, ...] = (),
    ) -> StoredWheel:
        """Store the checked wheel and, for a pin the lock leaves to pip, remember the choice."""
        pin = want.pin
        stored = StoredWheel(
            pin.name,
            pin.version,
            path.name,
            digest,
            self.add(path, digest, verdict, move=True),
            want.build,
            sdist_sha256,
            build_requires,
            want.passed_over,
        )
        if not want.sha256 or want.build:
            self.remember(pin, target, options, stored)
        return stored


def _without_wheel(output: str, part: Sequence[Wanted]) -> Wanted | None:
    """The pinned line of ``part`` (a requirements line, pinned ``==``, with no file list) that
    pip found no wheel of for the target, if its output says so."""
    import re

    found = re.findall(r"No matching distribution found for ([A-Za-z0-9][\w.\-\[\]]*)", output)
    if not found:
        return None
    name = canonicalize_name(found[-1].split("[")[0])
    for want in part:
        if want.pin.name == name and want.filename is None and not want.pin.local:
            return want
    return None


def _newer_glibc(
    pin: Pin, target: Target, options: Sequence[str], index: str | None, scratch: Path
) -> str | None:
    """Why the index's wheel of ``pin`` for a newer glibc than the runtime's does not fit, if
    there is such a wheel for the runtime's Python (asked of pip, nothing downloaded); else
    None (an sdist-only package, or one whose wheels are for other Pythons)."""
    later = Target(next(r for r in reversed(RUNTIMES)), target.arch)  # the newest glibc
    newer = [p for p in later.platforms() if p not in target.platforms()]
    if not newer:
        return None
    listing = scratch / f"{pin.name}-probe.txt"
    listing.write_text(f"{pin.name}=={pin.version}\n", encoding="utf-8")
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", target.python]
    for platform in newer:
        args += ["--platform", platform]
    for abi in (target.abi, "abi3", "none"):
        args += ["--abi", abi]
    try:
        items = pip.resolve(
            listing, args, [*options, *(["--index-url", index] if index else [])], echo=False
        )
    except DetzipError:
        return None
    urls = [str(item.get("download_info", {}).get("url", "")) for item in items]
    wheels = [url.rsplit("/", 1)[-1].split("#")[0] for url in urls if ".whl" in url]
    return target.why_not(wheels) if wheels else None


def _lost(pin: Pin, target: Target, passed_over: str) -> None:
    """Say that a package was built as pure Python where its wheels are compiled (once a
    process: a build looks the wheel up again after resolving)."""
    said = (pin.name, pin.version, target.runtime, target.arch)
    if said in _LOST:
        return
    _LOST.add(said)
    warn(
        f"{pin.name} {pin.version} was built from its sdist as pure Python for "
        f"{target.runtime} {target.arch}: {literal(passed_over)} — what those wheels compile "
        "(its C/C++/Rust extension modules) is not in the layer, which runs on its pure-Python "
        "fallback; use a runtime that takes a wheel, pin a version with a wheel for "
        f"{target.runtime}, or leave it out with {{0}}",
        settings=[Setting("exclude_packages", [pin.name])],
    )


def _moved(source: Path, final: Path) -> bool:
    """Rename ``source`` to ``final`` (in a folder made for it, readable as a copy would be)
    when both are on one file system; False: copy it instead."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        if os.stat(source).st_dev != os.stat(final.parent).st_dev:
            return False
        os.chmod(source, 0o666 & ~umask())
        _platform.replace(source, final)
    except OSError:
        return False
    return True


def _readable(path: Path) -> bool:
    """Whether ``path`` is a file this process can read (another user's private file, or one
    in their private folder, is not: it is fetched again, into a folder of this run's)."""
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


def _names(batch: Sequence[Wanted]) -> str:
    pins = [f"{w.pin.name}=={w.pin.version}" for w in batch]
    if len(pins) <= 4:
        return ", ".join(pins)
    return f"{len(pins)} packages ({', '.join(pins[:3])}, …)"


_T = TypeVar("_T")


def _at_once(task: Callable[[int], _T], count: int, threads: int | None = None) -> list[_T]:
    """``task(0) … task(count - 1)``, run at once on threads (``threads`` of them, else one
    each: each waits on a pip process); their results in order. Every task runs to its end;
    then the first failure is raised."""
    if count <= 1 or threads == 1:
        return [task(number) for number in range(count)]
    from concurrent.futures import ThreadPoolExecutor

    workers = min(count, threads or count)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detzip-pip") as pool:
        futures = [pool.submit(task, number) for number in range(count)]
    return [future.result() for future in futures]


class _Checker:
    """A pool of ``threads`` that checks downloaded wheels while other pips still run; leaving
    its ``with`` block waits for every check (a failure is raised by the future's result)."""

    def __init__(self, threads: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="detzip-check")

    def submit(self, task: Callable[..., _T], *args: object) -> Future[_T]:
        """Run ``task(*args)`` on the pool."""
        return self._pool.submit(task, *args)

    def __enter__(self) -> _Checker:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)


def _wheel_name(filename: str) -> str | None:
    try:
        return canonicalize_name(parse_wheel_filename(filename)[0])
    except InvalidWheelFilename:
        return None


def _requirement_line(want: Wanted, hashed: bool) -> str:
    pin = want.pin
    hashes = {want.sha256} if want.sha256 else pin.accepted_hashes
    line = f"{pin.name} @ {want.url}" if want.url else f"{pin.name}=={pin.version}"
    if hashed and hashes:
        line += "".join(f" --hash=sha256:{h}" for h in sorted(hashes))
    return line + "\n"
