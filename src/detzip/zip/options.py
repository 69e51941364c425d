"""The options that, together with the entries, determine a zip's bytes."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal, get_args

from detzip._datatype import datatype, field
from detzip.errors import DetzipError, Setting, literal

__all__ = [
    "COMPRESSORS",
    "DEFAULT_LEVEL",
    "DOS_EPOCH",
    "DOS_MAX",
    "FORMAT_VERSION",
    "FROM_ENVIRONMENT",
    "LEVEL_RANGE",
    "Compressor",
    "ZipOptions",
    "dos_datetime",
    "resolve_mtime",
]

#: Version of detzip's output format. Bump it whenever the same inputs and options would give
#: other bytes (header layout, naming rules, compressor pin) — cache keys include it.
FORMAT_VERSION = 2  # 2: folders have entries only when empty (1: every parent folder had one)

Compressor = Literal["deflate", "zlib", "store"]
COMPRESSORS: tuple[str, ...] = get_args(Compressor)
DEFAULT_LEVEL = {"deflate": 6, "zlib": 6, "store": 0}
LEVEL_RANGE = {"deflate": (1, 12), "zlib": (1, 9), "store": (0, 0)}

DOS_EPOCH = datetime(1980, 1, 1, tzinfo=UTC)
DOS_MAX = datetime(2107, 12, 31, 23, 59, 58, tzinfo=UTC)


@datatype
class ZipOptions:
    """How entries are written: the timestamp every entry carries and the compressor.

    ``mtime`` is the time stored in every header (UTC, whole even seconds, 1980-2107).
    ``recompress``: members that arrive compressed (a wheel's) are inflated and compressed
    again with ``compressor`` at ``level`` instead of being copied as they are.
    """

    mtime: datetime = DOS_EPOCH
    compressor: str = "deflate"
    level: int = field(default=-1)
    recompress: bool = False

    def __post_init__(self) -> None:
        if self.compressor not in COMPRESSORS:
            raise DetzipError(
                f"unknown compressor {self.compressor!r}; use one of {', '.join(COMPRESSORS)}"
            )
        if self.level == -1:
            object.__setattr__(self, "level", DEFAULT_LEVEL[self.compressor])
        low, high = LEVEL_RANGE[self.compressor]
        if not low <= self.level <= high:
            raise DetzipError(
                f"compression level {self.level} is out of range for {self.compressor}; "
                f"use {low}..{high}"
            )
        object.__setattr__(self, "mtime", _dos_clamp(self.mtime))

    @classmethod
    def create(
        cls,
        *,
        mtime: str | int | float | datetime | None = None,
        compressor: str = "deflate",
        level: int | None = None,
        recompress: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> ZipOptions:
        """Options from user-facing values; ``mtime=None`` is 1980-01-01, and
        ``"source-date-epoch"`` takes ``$SOURCE_DATE_EPOCH`` (see :func:`resolve_mtime`)."""
        if level is not None and (isinstance(level, bool) or level < 0):
            ranges = ", ".join(f"{name} {low}..{high}" for name, (low, high) in LEVEL_RANGE.items())
            raise DetzipError(
                f"{{0}} {literal(repr(level))} is not a compression level; use {ranges}",
                settings=[Setting("level")],
            )
        return cls(
            resolve_mtime(mtime, environ), compressor, -1 if level is None else level, recompress
        )

    def describe(self) -> dict[str, str | int]:
        """The options as plain data (reported in results, part of cache keys)."""
        from detzip.zip.compressors import identity

        return {
            "format": FORMAT_VERSION,
            "compressor": self.compressor,
            "compressor_identity": identity(self.compressor),
            "level": self.level,
            "recompress": self.recompress,
            "mtime": self.mtime.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


#: the ``mtime`` value that takes the time from ``$SOURCE_DATE_EPOCH`` (the same at every door)
FROM_ENVIRONMENT = "source-date-epoch"


def resolve_mtime(
    value: str | int | float | datetime | None, environ: Mapping[str, str] | None = None
) -> datetime:
    """The timestamp to store: 1980-01-01 by default (whatever the environment says), an
    explicit value, or — only when asked for with :data:`FROM_ENVIRONMENT` — the environment's
    ``SOURCE_DATE_EPOCH``.

    A deploy cache wants the default: a CI that exports the commit time as
    ``SOURCE_DATE_EPOCH`` would otherwise change every artifact on every commit. Strings are
    epoch seconds or an ISO 8601 date/time (UTC unless it carries an offset).
    """
    if value is None:
        return DOS_EPOCH
    if isinstance(value, str) and value.strip().lower().replace("_", "-") == FROM_ENVIRONMENT:
        if value.strip() != FROM_ENVIRONMENT:
            raise DetzipError(
                f"{{0}} {literal(repr(value))}: write it as {FROM_ENVIRONMENT}",
                settings=[Setting("mtime")],
            )
        env = os.environ if environ is None else environ
        raw = env.get("SOURCE_DATE_EPOCH", "").strip()
        if not raw:
            raise DetzipError(
                "{0} asks for $SOURCE_DATE_EPOCH, which is not set; export it (e.g. "
                "SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)) or leave {1} out",
                settings=[Setting("mtime", FROM_ENVIRONMENT), Setting("mtime")],
            )
        if not (raw.isascii() and raw.isdigit()):
            raise DetzipError(
                f"SOURCE_DATE_EPOCH={literal(repr(raw))} is not an integer number of seconds; "
                "set it to e.g. $(git log -1 --format=%ct) or leave {0} out",
                settings=[Setting("mtime")],
            )
        return _from_epoch(int(raw))
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return _from_epoch(_finite(value, value))
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _from_epoch(_finite(seconds, value))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DetzipError(
            f"{{0}} {literal(repr(value))} is neither epoch seconds nor an ISO date; "
            "use e.g. 1700000000 or 2024-01-31T12:00:00Z",
            settings=[Setting("mtime")],
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _finite(seconds: float, given: object) -> float:
    if math.isfinite(seconds):
        return seconds
    raise DetzipError(
        f"{{0}} {literal(repr(given))} is not a moment; use epoch seconds or an ISO date, e.g. "
        "1700000000 or 2024-01-31T12:00:00Z",
        settings=[Setting("mtime")],
    )


def _from_epoch(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return DOS_EPOCH if seconds < 0 else DOS_MAX


def _dos_clamp(moment: datetime) -> datetime:
    """UTC, clamped to what a DOS timestamp can hold, rounded down to even seconds."""
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    moment = min(max(moment, DOS_EPOCH), DOS_MAX)
    return moment.replace(second=moment.second - moment.second % 2, microsecond=0)


def dos_datetime(moment: datetime) -> tuple[int, int]:
    """(date, time) fields of a zip header for an already clamped UTC moment."""
    date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return date, time
