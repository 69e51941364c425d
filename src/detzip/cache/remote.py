"""What a shared artifact cache (S3, …) must do: the :class:`Remote` protocol, its one failure."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

__all__ = ["OtherBytes", "Remote", "RemoteUnavailable", "StoredObject"]


class StoredObject(NamedTuple):
    """Where a zip is in a bucket: what Lambda's ``S3Bucket``/``S3Key``/``S3ObjectVersion``
    take (``version`` is empty when the bucket is not versioned)."""

    bucket: str
    key: str
    version: str


class RemoteUnavailable(Exception):
    """A remote cache could not be read or written (unreachable, access denied, …)."""


class OtherBytes(RemoteUnavailable):
    """An object that claims an entry's sha256 but holds other bytes (checked by what the
    store itself computed, not by the uploader's claim)."""


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

    def record(self, key: str) -> dict[str, Any] | None:
        """The record stored for ``key`` (None: none, or not valid), without its zip. Raises
        :class:`RemoteUnavailable` when it cannot ask."""
        ...

    def records(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """Every entry stored under ``name``: its zip's URL and its record. Raises
        :class:`RemoteUnavailable` when it cannot ask."""
        ...

    def locate(self, name: str, key: str, sha256: str, local: Path) -> StoredObject | None:
        """The entry's zip as an object Lambda can read, if the remote holds exactly the bytes
        of ``local`` (whose sha256 is ``sha256``; None: absent). Raises :class:`OtherBytes` when
        it holds other bytes, :class:`RemoteUnavailable` when it cannot ask."""
        ...
