"""The result every build returns: the zip, its digests, the options that made it, its cache key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip._datatype import datatype, field

if TYPE_CHECKING:
    from detzip.cache.remote import StoredObject

__all__ = ["Artifact"]


@datatype
class Artifact:
    """A built zip. ``base64sha256`` equals Terraform's ``filebase64sha256(path)``.

    ``key`` is the cache key (sha256 of everything that determines the bytes). ``cache_hit``
    says the zip was served from a cache rather than built; ``cache_source`` is ``"local"`` or
    the remote cache's URL; ``cache_entry`` is the zip's path in the local cache. A function
    built with its layers carries their ``unzipped_total`` and the ``problems`` that put them
    over Lambda's limits together (none: ``ok``).
    """

    path: Path
    sha256: str
    base64sha256: str
    size: int
    unzipped_size: int
    entries: int
    description: dict[str, Any] = field(default_factory=dict)
    """What the bytes depend on, as the key was made from it (zip options, patterns, the
    target, each file's or wheel's digest)."""
    key: str | None = None
    cache_hit: bool = False
    cache_source: str | None = None
    cache_entry: Path | None = None
    unzipped_total: int | None = None
    problems: tuple[str, ...] = ()
    s3: StoredObject | None = None
    pyc_size: int | None = None
    """With ``compile``: the unzipped bytes of bytecode among ``unzipped_size`` (else None)."""
    provenance: dict[str, Any] | None = None
    """Who built the zip, where and when (detzip's version, OS, architecture, time, CI run), as
    its cache record says; None for a record written before records had it."""
    verified: bool = False
    """Served from a cache and rebuilt with the same bytes (``verify``)."""

    @property
    def s3_bucket(self) -> str | None:
        """The bucket Lambda can read the zip from (``upload="s3"`` with an S3 cache, or
        ``upload_to``), else None."""
        return None if self.s3 is None else self.s3.bucket

    @property
    def s3_key(self) -> str | None:
        """The zip's object key in :attr:`s3_bucket`, else None."""
        return None if self.s3 is None else self.s3.key

    @property
    def s3_object_version(self) -> str | None:
        """The object's version ('' when the bucket is not versioned), else None."""
        return None if self.s3 is None else self.s3.version

    @property
    def built_from_source(self) -> tuple[str, ...]:
        """The packages (``name version``) whose wheels were built here: from their sdists, or
        local packages from their folders (a layer's, or those a function bundles)."""
        bundled = self.description.get("dependencies")
        options = bundled if isinstance(bundled, dict) else self.description
        return tuple(
            f"{p['name']} {p['version']}"
            for p in options.get("packages", [])
            if isinstance(p, dict) and "built_from" in p
        )

    @property
    def locked(self) -> bool:
        """False when its dependencies were resolved for this build rather than read from a
        lock (a pyproject.toml, unpinned requirements): they are resolved again every time."""
        bundled = self.description.get("dependencies")
        options = bundled if isinstance(bundled, dict) else self.description
        return options.get("locked", True) is not False

    @property
    def ok(self) -> bool:
        """Within Lambda's limits, with the layers it was checked with (see ``problems``)."""
        return not self.problems

    @classmethod
    def from_record(
        cls,
        path: Path,
        record: Mapping[str, Any],
        *,
        source: str | None = None,
        entry: Path | None = None,
        verified: bool = False,
    ) -> Artifact:
        """The artifact at ``path`` described by its cache ``record``; ``source`` names the cache
        that served it (None: built now) and ``entry`` its copy in the local cache."""
        from detzip._digest import b64

        return cls(
            path=path,
            sha256=record["sha256"],
            base64sha256=b64(record["sha256"]),
            size=record["size"],
            unzipped_size=record["unzipped_size"],
            entries=record["entries"],
            description=dict(record["options"]),
            key=record["key"],
            cache_hit=source is not None,
            cache_source=source,
            cache_entry=entry,
            provenance=made if isinstance(made := record.get("provenance"), dict) else None,
            verified=verified,
        )

    def render(self) -> str:
        """The result as text (what ``detzip function`` and ``detzip layer`` print)."""
        count = f"{self.entries:,} " + ("entry" if self.entries == 1 else "entries")
        if self.cache_hit:
            how = f"cache hit ({self.cache_source})" + (", verified" if self.verified else "")
        elif self.cache_entry is not None:
            how = "built, cached"
        else:
            how = "built"
        lines = [
            str(self.path),
            f"  base64sha256  {self.base64sha256}",
            f"  sha256        {self.sha256}",
            f"  size          {self.size:,} bytes zipped, {self.unzipped_size:,} unzipped, {count}",
            f"  key           {self.key}  {how}",
        ]
        if self.pyc_size is not None:
            lines.append(f"  bytecode      {self.pyc_size:,} bytes unzipped")
        if self.s3 is not None:
            version = f" (version {self.s3.version})" if self.s3.version else ""
            lines.append(f"  s3            s3://{self.s3.bucket}/{self.s3.key}{version}")
        if self.built_from_source:
            lines.append(f"  from source   {', '.join(self.built_from_source)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values (what ``--json`` prints)."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "base64sha256": self.base64sha256,
            "size": self.size,
            "unzipped_size": self.unzipped_size,
            "entries": self.entries,
            "description": self.description,
            "key": self.key,
            "cache_hit": self.cache_hit,
            "cache_source": self.cache_source,
            "cache_entry": None if self.cache_entry is None else str(self.cache_entry),
            "unzipped_total": self.unzipped_size
            if self.unzipped_total is None
            else self.unzipped_total,
            "problems": list(self.problems),
            "built_from_source": list(self.built_from_source),
            "locked": self.locked,
            "pyc_size": self.pyc_size,
            "provenance": self.provenance,
            "verified": self.verified,
            "s3_bucket": self.s3_bucket,
            "s3_key": self.s3_key,
            "s3_object_version": self.s3_object_version,
        }
