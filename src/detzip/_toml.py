"""TOML files read with errors a user can act on: one line naming the file and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from detzip.errors import DetzipError


def load(path: Path, fix: str = "fix the file") -> dict[str, Any]:
    """The file's table; unreadable or invalid TOML is a :class:`DetzipError` saying ``fix``."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise DetzipError(f"cannot read ({exc.strerror}); check the path", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise DetzipError(f"not valid TOML ({exc}); {fix}", path) from None
    except RecursionError:
        raise DetzipError(f"not valid TOML (nested too deeply); {fix}", path) from None
