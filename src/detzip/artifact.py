"""The result every build returns: the zip, its digests and the options that made it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detzip.zipwriter import WrittenZip


@dataclass(frozen=True, slots=True)
class Artifact:
    """A built zip. ``base64sha256`` equals Terraform's ``filebase64sha256(path)``."""

    path: Path
    sha256: str
    base64sha256: str
    size: int
    unzipped_size: int
    entries: int
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_written(cls, written: WrittenZip, options: dict[str, Any]) -> Artifact:
        return cls(
            path=written.path,
            sha256=written.sha256,
            base64sha256=written.base64sha256,
            size=written.size,
            unzipped_size=written.unzipped_size,
            entries=written.entries,
            options=options,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "base64sha256": self.base64sha256,
            "size": self.size,
            "unzipped_size": self.unzipped_size,
            "entries": self.entries,
            "options": self.options,
        }
