"""TOML files read with errors a user can act on: one line naming the file and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from detzip.errors import DetzipError


def load(path: Path, fix: str = "fix the file") -> dict[str, Any]:
    """The file's table; unreadable or invalid TOML is a :class:`DetzipError` saying ``fix``.

    One leading UTF-8 byte order mark, as Windows editors write, is skipped (tomllib refuses
    it), so the file reads the same from any editor; text that is not UTF-8 is refused too.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DetzipError(f"cannot read ({exc.strerror}); check the path", path) from None
    except UnicodeDecodeError as exc:
        number = exc.object[: exc.start].count(b"\n") + 1
        raise DetzipError(
            f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} on line {number}); "
            "save it as UTF-8",
            path,
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DetzipError(f"not valid TOML ({exc}); {fix}", path) from None
    except RecursionError:
        raise DetzipError(f"not valid TOML (nested too deeply); {fix}", path) from None
