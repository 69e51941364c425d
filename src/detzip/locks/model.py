"""The pinned set every lock format is reduced to."""

from __future__ import annotations

from dataclasses import dataclass

from packaging.utils import canonicalize_name


@dataclass(frozen=True, slots=True)
class LockedFile:
    """A distribution file a lock names: a wheel or sdist, with its URL and hash when known."""

    filename: str
    url: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Pin:
    """One distribution at an exact version, as the lock says to get it.

    ``files`` lists the candidate files (empty: ask the index for ``name==version``);
    ``index`` is the simple-API URL to ask (None: pip's own configuration);
    ``hashes`` are the sha256 digests the lock accepts for this pin (empty: not checked).
    """

    name: str
    version: str
    files: tuple[LockedFile, ...] = ()
    index: str | None = None
    hashes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", canonicalize_name(self.name))

    @property
    def accepted_hashes(self) -> frozenset[str]:
        return self.hashes | {f.sha256 for f in self.files if f.sha256}


def sha256_of(value: str | None) -> str | None:
    """'sha256:abc…' → 'abc…'; other algorithms → None (only sha256 is verified)."""
    if not value:
        return None
    algorithm, _, digest = value.partition(":")
    if not digest:
        algorithm, _, digest = value.partition("=")
    return digest.lower() if algorithm.lower() == "sha256" and digest else None
