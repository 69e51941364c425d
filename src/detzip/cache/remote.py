"""What a shared artifact cache (S3, …) must do: the :class:`Remote` protocol, its one failure."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Remote", "RemoteUnavailable"]


class RemoteUnavailable(Exception):
    """A remote cache could not be read or written (unreachable, access denied, …)."""


class Remote(Protocol):
    """A shared cache (e.g. S3) holding the same zips and records as the local one."""

    url: str

    def fetch(self, name: str, key: str, into: Path) -> dict[str, Any] | None:
        """Download the entry into ``into`` and return its record; None if absent or rejected.

        The downloaded bytes must already be checked against the record's sha256.
        Raises :class:`RemoteUnavailable` when the remote cannot be asked.
        """
        ...

    def upload(self, name: str, key: str, zip_path: Path, record: Mapping[str, Any]) -> None:
        """Store an entry. Raises :class:`RemoteUnavailable` when that fails."""
        ...
