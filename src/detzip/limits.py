"""Lambda's size quotas, checked from zips' central directories.

A function's zip and each of its layers must be at most 52,428,800 bytes to upload directly (the
API carries them base64-encoded, and that request must be smaller than 69,905,067 bytes); through
S3 there is no zipped limit. The function and all its layers, unzipped, must be smaller than
262,144,000 bytes, and a function takes at most 5 layers. Sizes come from the central directory
alone — nothing is decompressed, so a zip bomb costs nothing to check.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from detzip import optiontable as _table
from detzip._datatype import datatype, field
from detzip._fs import regular_file
from detzip.errors import DetzipError, Setting, literal, warn

if TYPE_CHECKING:
    import zipfile

    from detzip.zip.entries import Entry

__all__ = [
    "BASE64_REQUEST_LIMIT",
    "DIRECT_UPLOAD_LIMIT",
    "MAX_LAYERS",
    "TOP",
    "UNZIPPED_LIMIT",
    "Contributor",
    "HasSizes",
    "LimitCheck",
    "LimitExceeded",
    "LimitsReport",
    "ZipSizes",
    "base64_size",
    "build_check",
    "check_build",
    "check_entries",
    "check_limits",
    "check_with_layers",
    "contributor",
    "read_sizes",
    "refuse_repeated_layers",
    "top_contributors",
]


DIRECT_UPLOAD_LIMIT = 52_428_800
"""Bytes of zip for CreateFunction/UpdateFunctionCode/PublishLayerVersion with ``ZipFile``."""
BASE64_REQUEST_LIMIT = 69_905_067
"""The request carrying the base64 zip must be smaller than this."""
UNZIPPED_LIMIT = 262_144_000
"""Function plus all its layers, unzipped, must be smaller than this."""
MAX_LAYERS = 5
UPLOADS = _table.UPLOADS
TOP = 10

_SITE_PACKAGES = "python/lib/"


def base64_size(size: int) -> int:
    """Bytes of the base64 form of ``size`` bytes (how the Lambda API carries a zip)."""
    return 4 * ((size + 2) // 3)


class LimitExceeded(DetzipError):
    """An artifact is over one of Lambda's limits (exit 1: a verdict, not bad input)."""

    exit_code = 1


@datatype
class ZipSizes:
    """One zip's sizes, from its central directory, and its unzipped bytes by top-level name."""

    path: Path
    role: str  # "function" or "layer"
    size: int
    unzipped_size: int
    entries: int
    groups: dict[str, int] = field(default_factory=dict)
    pyc_size: int = 0
    """Unzipped bytes of bytecode (``.pyc``) among ``unzipped_size``."""

    @property
    def base64_size(self) -> int:
        """Bytes of the zip's base64 form, as the Lambda API carries it."""
        return base64_size(self.size)


@datatype
class LimitCheck:
    """One limit checked: ``name`` (e.g. ``zipped size``) of ``subject``, its ``value`` against
    ``limit``, and whether it is ``ok``."""

    name: str
    value: int
    limit: int
    ok: bool
    subject: str

    @property
    def headroom(self) -> int:
        """``limit - value``: what is left to spare (negative when over)."""
        return self.limit - self.value

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready values, with its headroom."""
        return {
            "check": self.name,
            "subject": self.subject,
            "value": self.value,
            "limit": self.limit,
            "headroom": self.headroom,
            "ok": self.ok,
        }


@datatype
class Contributor:
    """A top-level package or folder (see :func:`contributor`) and its unzipped bytes in ``zip``."""

    name: str
    unzipped_size: int
    zip: Path

    def to_dict(self) -> dict[str, Any]:
        """The contributor as JSON-ready values."""
        return {"name": self.name, "unzipped_size": self.unzipped_size, "zip": str(self.zip)}


@datatype
class LimitsReport:
    """What :func:`check_limits` found: each zip's sizes, every check against Lambda's limits
    (for ``upload``, ``direct`` or ``s3``) and the largest contributors, unzipped."""

    zips: tuple[ZipSizes, ...]
    upload: str
    checks: tuple[LimitCheck, ...]
    top: tuple[Contributor, ...]
    external: tuple[tuple[str, int], ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks)

    @property
    def unzipped_total(self) -> int:
        """All the zips' unzipped bytes together, and the external layers'."""
        return sum(z.unzipped_size for z in self.zips) + sum(size for _, size in self.external)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (``detzip check --json``)."""
        return {
            "ok": self.ok,
            "upload": self.upload,
            "zips": [
                {
                    "path": str(z.path),
                    "role": z.role,
                    "size": z.size,
                    "base64_size": z.base64_size,
                    "unzipped_size": z.unzipped_size,
                    "pyc_size": z.pyc_size,
                    "entries": z.entries,
                }
                for z in self.zips
            ],
            "external_layers": [{"arn": arn, "unzipped_size": size} for arn, size in self.external],
            "unzipped_total": self.unzipped_total,
            "checks": [check.to_dict() for check in self.checks],
            "top_contributors": [c.to_dict() for c in self.top],
        }

    def render(self) -> str:
        """The report as text (``detzip check``): each zip's sizes, each check's verdict and
        headroom, then the largest contributors."""
        lines = []
        for z in self.zips:
            lines.append(
                f"{z.role:<9} {z.path}: {z.size:,} bytes zipped (base64 {z.base64_size:,}), "
                f"{z.unzipped_size:,} unzipped, {_count(z.entries, 'entry', 'entries')}"
                + (f", {z.pyc_size:,} bytes of bytecode" if z.pyc_size else "")
            )
        for arn, size in self.external:
            lines.append(f"{'external':<9} {arn}: {size:,} unzipped")
        lines.append("")
        for check in self.checks:
            verdict = "ok" if check.ok else "OVER"
            lines.append(
                f"{verdict:<4}  {check.name} of {check.subject}: {check.value:,} of "
                f"{check.limit:,} ({check.headroom:,} headroom)"
            )
        if self.upload == "s3":
            lines.append("      (uploaded through S3: no zipped-size limit)")
        if self.top:
            lines += ["", "largest, unzipped:"]
            width = max(len(f"{c.unzipped_size:,}") for c in self.top)
            for c in self.top:
                lines.append(f"  {c.unzipped_size:>{width},}  {c.name}  ({c.zip.name})")
        return "\n".join(lines)


def _count(number: int, one: str, many: str) -> str:
    return f"{number:,} {one if number == 1 else many}"


def read_sizes(path: str | os.PathLike[str], role: str, *, verify: bool = False) -> ZipSizes:
    """Sizes from the central directory; not a zip, or an inconsistent one, is an error. With
    ``verify`` every member is inflated too and must give the size and CRC-32 recorded (so the
    sizes added up are true ones: a member may record 100 bytes and inflate to gigabytes)."""
    seen = None
    if not verify:  # (a layer many functions use is read once while its stat is unchanged)
        with contextlib.suppress(OSError):
            info = os.stat(path)  # (a file read before: a regular file, if its stat is the same)
            seen = (os.path.abspath(path), role, info.st_size, info.st_mtime_ns, info.st_ino,
                    info.st_dev)  # fmt: skip
            if seen in _SIZES:
                return _SIZES[seen]
    where = regular_file(Path(path))
    sizes = _read_sizes(where, role, verify)
    if seen is not None:
        _SIZES[seen] = sizes
    return sizes


#: zips' sizes read in this process, by path, role and stat
_SIZES: dict[tuple[str, str, int, int, int, int], ZipSizes] = {}


def _read_sizes(where: Path, role: str, verify: bool) -> ZipSizes:
    import struct
    import zipfile

    try:
        length = where.stat().st_size
        with zipfile.ZipFile(where) as archive:
            infos = archive.infolist()
            directory_start = archive.start_dir
    except FileNotFoundError:
        raise DetzipError("no such file; check the path", where) from None
    except IsADirectoryError:
        raise DetzipError("is a directory; give a zip file", where) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, struct.error, ValueError) as exc:
        raise DetzipError(f"not a valid zip file ({exc}); rebuild it", where) from None
    except OSError as exc:
        raise DetzipError(f"cannot read ({exc.strerror}); check the path", where) from None
    groups: dict[str, int] = {}
    stored = 0
    # a zip laid out as a layer (everything under python/) is looked through whatever its role
    layout = "layer" if all(i.filename.startswith("python/") for i in infos) else role
    for info in infos:
        if info.header_offset + 30 > directory_start or info.compress_size > length:
            raise DetzipError(
                f"inconsistent central directory (entry {info.filename!r} lies outside the "
                "data); the file is damaged — rebuild it",
                where,
            )
        stored += info.compress_size
        if not info.is_dir():
            group = contributor(info.filename, layout)
            groups[group] = groups.get(group, 0) + info.file_size
    if stored > length:
        raise DetzipError(
            "inconsistent central directory (entries hold more bytes than the file); the file "
            "is damaged — rebuild it",
            where,
        )
    if verify:
        _verify_members(where, infos)
    pyc = sum(info.file_size for info in infos if info.filename.endswith(".pyc"))
    unzipped = sum(info.file_size for info in infos)
    return ZipSizes(where, role, length, unzipped, len(infos), groups, pyc)


def _verify_members(where: Path, infos: Sequence[zipfile.ZipInfo]) -> None:
    """Every member inflated (in bounded pieces) against its record: else one error naming it.
    Once the members checked hold :data:`UNZIPPED_LIMIT` bytes the zip is over the limit
    whatever the rest hold, so an honest zip bomb costs at most that much inflating."""
    import mmap

    from detzip.zip.members import Broken, verify

    with open(where, "rb") as handle:
        if not os.fstat(handle.fileno()).st_size:
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:

            def pieces(start: int, end: int) -> Iterator[bytes]:
                for at in range(start, end, 1 << 20):
                    yield buffer[at : min(end, at + (1 << 20))]

            checked = 0
            for info in infos:
                try:
                    verify(buffer, info, pieces)
                except Broken as exc:
                    raise DetzipError(
                        f"member {info.filename!r} {exc}; the file is damaged — rebuild it", where
                    ) from None
                checked += info.file_size
                if checked >= UNZIPPED_LIMIT:
                    return


def contributor(name: str, role: str) -> str:
    """The top-level package or folder an archive name belongs to (a layer's ``python/`` and
    ``python/lib/pythonX.Y/site-packages/`` are looked through)."""
    if role == "layer":
        if name.startswith(_SITE_PACKAGES):
            parts = name.split("/")
            if len(parts) > 4 and parts[3] == "site-packages":
                name = "/".join(parts[4:])
        elif name.startswith("python/"):
            name = name[len("python/") :]
    head, slash, _ = name.partition("/")
    return head + slash


def refuse_repeated_layers(
    layers: Iterable[str | os.PathLike[str]], external: Iterable[tuple[str, int]] = ()
) -> None:
    """Refuse a layer a function lists again (paths compared as absolute paths, external
    layers by ARN), naming its option: Lambda takes a layer once, and a repeat would count
    twice against the unzipped limit and the five layers."""
    for option, listed in (("layers", layers), ("external_layers", [a for a, _ in external])):
        seen: set[str] = set()
        for layer in listed:
            text = os.fspath(layer)
            same = text if text.startswith("arn:") else os.path.abspath(text)
            if same in seen:
                raise DetzipError(
                    f"{{0}} lists {text} twice; list each layer once", settings=[Setting(option)]
                )
            seen.add(same)


def check_limits(
    function: str | os.PathLike[str] | None,
    layers: Sequence[str | os.PathLike[str]] = (),
    *,
    upload: str = "direct",
    external: Sequence[tuple[str, int]] = (),
) -> LimitsReport:
    """Check a function zip and its layers against Lambda's quotas (see the module doc), every
    member of each inflated and checked against the size and CRC-32 it records first.

    ``upload="s3"`` skips the zipped-size check (S3 uploads have none). ``function`` may be
    None to check layers alone. ``external`` layers (``(arn, unzipped_size)``, not built here)
    count in the unzipped total and the layer count.
    """
    if upload not in UPLOADS:
        raise DetzipError(f"unknown upload {upload!r}; use direct or s3")
    refuse_repeated_layers(layers, external)
    zips = [read_sizes(layer, "layer", verify=True) for layer in layers]
    if function is not None:
        zips.insert(0, read_sizes(function, "function", verify=True))
    if not zips:
        raise DetzipError("nothing to check; give a function zip or --layer")
    checks: list[LimitCheck] = []
    if upload == "direct":
        for z in zips:
            checks += _zipped(z.size, str(z.path))
    total = sum(z.unzipped_size for z in zips) + sum(size for _, size in external)
    subject = "function + layers" if function is not None and (layers or external) else zips[0].role
    if function is None and len(zips) > 1:
        subject = "layers"
    checks.append(_unzipped(total, subject))
    if function is not None:  # a layer count is a function's
        checks.append(_layer_count(len(layers) + len(external)))
    return LimitsReport(tuple(zips), upload, tuple(checks), top_contributors(zips), tuple(external))


# -- the rules, each written once ------------------------------------------------------------


def _zipped(size: int, subject: str) -> tuple[LimitCheck, LimitCheck]:
    """A zip uploaded directly: its size, and the size of the request carrying it (base64)."""
    encoded = base64_size(size)
    return (
        LimitCheck("zipped size", size, DIRECT_UPLOAD_LIMIT, size <= DIRECT_UPLOAD_LIMIT, subject),
        LimitCheck(
            "base64 request", encoded, BASE64_REQUEST_LIMIT, encoded < BASE64_REQUEST_LIMIT, subject
        ),
    )


def _unzipped(total: int, subject: str) -> LimitCheck:
    """A function and all its layers, unzipped."""
    return LimitCheck("unzipped size", total, UNZIPPED_LIMIT, total < UNZIPPED_LIMIT, subject)


def _layer_count(count: int) -> LimitCheck:
    """The layers a function uses."""
    return LimitCheck("layers", count, MAX_LAYERS, count <= MAX_LAYERS, "function")


def top_contributors(zips: Sequence[ZipSizes], count: int = TOP) -> tuple[Contributor, ...]:
    """The ``count`` largest top-level packages or folders of ``zips`` by unzipped bytes
    (default :data:`TOP`, 10), largest first."""
    everything = [Contributor(name, size, z.path) for z in zips for name, size in z.groups.items()]
    everything.sort(key=lambda c: (-c.unzipped_size, c.name, str(c.zip)))
    return tuple(everything[:count])


def check_with_layers(
    name: str,
    function: HasSizes,
    layers: Sequence[str | os.PathLike[str]],
    external: Sequence[tuple[str, int]] = (),
) -> tuple[int, tuple[str, ...]]:
    """A built function together with the layer zips it uses and the ``external`` layers
    (``(arn, unzipped_size)``, not built here): the unzipped total and what is over Lambda's
    limits (nothing when it fits). Reads only the layers' central directories."""
    sizes = [read_sizes(layer, "layer") for layer in layers]
    total = function.unzipped_size + sum(layer.unzipped_size for layer in sizes)
    total += sum(size for _, size in external)
    problems = []
    if not _unzipped(total, name).ok:
        ranked = sorted(
            [(layer.unzipped_size, layer.path.name) for layer in sizes]
            + [(size, arn.split(":layer:")[-1]) for arn, size in external],
            reverse=True,
        )
        largest = ", ".join(f"{layer} {size:,}" for size, layer in ranked)
        problems.append(
            f"{name} and its layers unzip to {total:,} bytes; Lambda needs them under "
            f"{UNZIPPED_LIMIT:,} (function {function.unzipped_size:,}; layers: {largest}). "
            f"See detzip check {function.path} "
            + " ".join(f"--layer {layer.path}" for layer in sizes)
        )
    count = len(sizes) + len(external)
    if not _layer_count(count).ok:
        also = f" ({len(external)} of them external)" if external else ""
        problems.append(f"{name} uses {count} layers{also}; Lambda allows {MAX_LAYERS}")
    return total, tuple(problems)


class HasSizes(Protocol):
    """A built zip as :func:`check_with_layers` sees it: its path and unzipped size."""

    @property
    def path(self) -> Path:
        """Where the zip is."""
        ...

    @property
    def unzipped_size(self) -> int:
        """Bytes of its entries, unzipped."""
        ...


def build_check(
    output: str | os.PathLike[str], role: str, upload: str | None
) -> Callable[[Path, Mapping[str, Any]], None]:
    """The check a build of ``role`` passes to the cache: see :func:`check_build`."""
    if upload is not None and upload not in UPLOADS:
        raise DetzipError(f"unknown upload {upload!r}; use direct or s3")

    def check(staged: Path, record: Mapping[str, Any]) -> None:
        check_build(Path(output), staged, role, record["size"], record["unzipped_size"], upload)

    return check


def check_entries(output: Path, role: str, entries: Sequence[Entry]) -> None:
    """Refuse a zip over the unzipped limit from its entries' sizes (the files' as they were
    walked, the wheels' members' as they were checked), before any file is read or anything
    is written."""
    total = sum(entry.unzipped_hint for entry in entries)
    if _unzipped(total, str(output)).ok:
        return
    groups: dict[str, int] = {}
    for entry in entries:
        if not entry.is_dir:
            group = contributor(entry.name, role)
            groups[group] = groups.get(group, 0) + entry.unzipped_hint
    ranked = sorted(groups.items(), key=lambda item: (-item[1], item[0]))[:3]
    largest = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in ranked)
    raise LimitExceeded(
        f"unzips to {total:,} bytes (its files' sizes: none was read, nothing written); Lambda "
        f"needs the function and all its layers together under {UNZIPPED_LIMIT:,}. Largest: "
        f"{literal(largest)}. Leave some out ({{0}}, {{1}}) or split the layer",
        output,
        settings=[Setting("exclude_packages"), Setting("exclude")],
    )


def check_build(
    output: Path, staged: Path, role: str, size: int, unzipped_size: int, upload: str | None
) -> None:
    """The check every build runs on its own zip (before it reaches ``output``).

    Unzipped at or over the ceiling fails. Over the direct-upload size fails when ``upload``
    is ``"direct"``, warns when it is None (not declared), and is fine for ``"s3"``.
    """
    if not _unzipped(unzipped_size, str(output)).ok:
        largest = _largest(staged, role)
        raise LimitExceeded(
            f"unzips to {unzipped_size:,} bytes; Lambda needs the function and all its layers "
            f"together under {UNZIPPED_LIMIT:,}. Largest: {literal(largest)}. Leave some out "
            "({0}, {1}) or split the layer",
            output,
            settings=[Setting("exclude_packages"), Setting("exclude")],
        )
    if upload == "s3" or all(check.ok for check in _zipped(size, str(output))):
        return
    message = (
        f"is {size:,} bytes zipped, over the {DIRECT_UPLOAD_LIMIT:,} Lambda accepts in a direct "
        f"upload (largest: {literal(_largest(staged, role))}); upload it through S3 ({{0}}) or "
        "make it smaller"
    )
    if upload == "direct":
        raise LimitExceeded(message, output, settings=[Setting("upload", "s3")])
    warn(message, output, settings=[Setting("upload", "s3")])


def _largest(path: Path, role: str, count: int = 3) -> str:
    try:
        sizes = read_sizes(path, role)
    except DetzipError:
        return "unknown"
    ranked = top_contributors([sizes], count)
    return ", ".join(f"{c.name} {c.unzipped_size / 1e6:.1f} MB" for c in ranked)
