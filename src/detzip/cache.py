"""The artifact cache: built zips stored under the key of everything that determines their bytes.

A key is the sha256 of a canonical description of a build (see :func:`cache_key`). Zips live
under ``<cache dir>/artifacts/`` as ``<name>-<key[:16]>.zip`` beside a ``.json`` record (the full
key, the zip's sha256 and sizes, the description). The record is written after its zip, so a
record always names a complete zip, and every read checks the zip against the record's sha256: a
truncated or corrupted entry is discarded with a warning and rebuilt, never served.

Read-through: the local cache, then the remote one if configured (S3, see
:mod:`detzip.s3cache`), then a build; a build is stored locally and uploaded. Builds of one key
hold a per-key lock, so processes building the same key at once wait for the first and then hit.

This module keeps its imports light: a hit must cost little more than Python's start-up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip.artifact import Artifact
from detzip.atomic import TEMP_SUFFIX, atomic_output, prepare_output
from detzip.cachekeys import KEY_VERSION, canonical_json, entry_name
from detzip.errors import DetzipError, Setting, literal
from detzip.remote import Remote, RemoteUnavailable

if TYPE_CHECKING:
    from detzip.zipwriter import WrittenZip

log = logging.getLogger("detzip")

_CHUNK = 1 << 20
#: values of ``$DETZIP_CACHE`` / ``--cache`` that turn the artifact cache off
OFF = ("off", "none", "no", "false", "0")


def default_cache_dir() -> Path:
    """``$DETZIP_CACHE_DIR``, else ``$XDG_CACHE_HOME/detzip``, else ``~/.cache/detzip``."""
    explicit = os.environ.get("DETZIP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "detzip"


Check = Callable[[Path, Mapping[str, Any]], None]
"""Sees a zip (path, record) before it reaches the output; raises to refuse it."""


def open_remote(url: str) -> Remote:
    if url.startswith("s3://"):
        from detzip.s3cache import S3Cache

        return S3Cache(url)
    raise DetzipError(
        f"unknown cache {url!r}; set {{0}} to s3://BUCKET/PREFIX or off, or leave it out",
        settings=[Setting("cache")],
    )


@dataclasses.dataclass(frozen=True, slots=True)
class CacheSettings:
    """Which cache a build uses: the one rule every front door and the API share.

    ``url`` is the shared cache (``s3://BUCKET/PREFIX``), or ``off`` to turn the artifact cache
    off; None means ``$DETZIP_CACHE`` (itself unset: local only). ``dir`` is the local cache
    folder (None: :func:`default_cache_dir`), which also holds the wheel store. ``require``
    makes an unreachable shared cache an error; ``enabled=False`` neither reads nor writes
    artifacts (``--no-cache``).
    """

    url: str | None = None
    dir: Path | None = None
    require: bool = False
    enabled: bool = True

    def remote(self, environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
        """The shared cache's URL (None: none, or ``off``) and where that was said."""
        if self.url is not None:
            url, origin = self.url.strip(), "configured"
        else:
            env = os.environ if environ is None else environ
            url, origin = env.get("DETZIP_CACHE", "").strip(), "$DETZIP_CACHE"
        return (url or None), origin

    def is_off(self, environ: Mapping[str, str] | None = None) -> bool:
        url, _ = self.remote(environ)
        return not self.enabled or (url is not None and url.lower() in OFF)

    def open(self, environ: Mapping[str, str] | None = None) -> Cache:
        """The :class:`Cache` these settings describe."""
        if self.is_off(environ):
            return Cache(self.dir, enabled=False)
        return Cache(self.dir, self.remote(environ)[0], require=self.require)


class _Mismatch(Exception):
    """A copied artifact did not have the sha256 its record promises."""


class Cache:
    """Where built artifacts are looked up and stored.

    ``root`` is the local cache dir (default :func:`default_cache_dir`), which also holds the
    wheel store. ``remote`` is a shared cache URL (``s3://bucket/prefix``) or object; when it is
    unreachable detzip warns and builds locally, unless ``require`` is true, which makes that an
    error. ``enabled=False`` neither reads nor writes artifacts (keys are still computed).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        remote: str | Remote | None = None,
        *,
        require: bool = False,
        enabled: bool = True,
    ) -> None:
        self.root = Path(root) if root else default_cache_dir()
        self.remote = open_remote(remote) if isinstance(remote, str) else remote
        self.require = require
        self.enabled = enabled

    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str] | None = None,
        remote: str | None = None,
        *,
        require: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> Cache:
        """A cache configured like the CLI's: ``remote`` defaults to ``$DETZIP_CACHE``.

        ``DETZIP_CACHE=off`` (or ``--cache off``) disables the artifact cache like ``--no-cache``.
        """
        return CacheSettings(remote, None if root is None else Path(root), require).open(environ)

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    # -- read-through ---------------------------------------------------------------------------

    def through(
        self,
        name: str,
        key: str,
        description: Mapping[str, Any],
        output: str | os.PathLike[str],
        build: Callable[[Path], WrittenZip],
        check: Check | None = None,
    ) -> Artifact:
        """The artifact for ``key`` at ``output``: served from a cache, else built and stored.

        ``build`` writes the zip to the path it is given (next to ``output``) and returns what
        it wrote. ``check`` sees every zip (built or cached) with its record before it reaches
        ``output``, and may refuse it by raising; ``output`` is then left as it was.
        """
        out = Path(output)
        if not self.enabled:
            written, _ = self._build(out, build, check, name, key, description, keep=False)
            return Artifact.from_written(written, dict(description), key=key)
        found = self._serve_local(name, key, out, check)
        if found is not None:
            return found
        with self._lock(key):
            found = self._serve_local(name, key, out, check)  # another process just built it?
            if found is None:
                found = self._serve_remote(name, key, out, check)
            if found is not None:
                return found
            log.info("%s: building (key %s)", name, key[:16])
            written, stored = self._build(out, build, check, name, key, description, keep=True)
        return Artifact.from_written(written, dict(description), key=key, cache_entry=stored)

    def _build(
        self,
        out: Path,
        build: Callable[[Path], WrittenZip],
        check: Check | None,
        name: str,
        key: str,
        description: Mapping[str, Any],
        *,
        keep: bool,
    ) -> tuple[WrittenZip, Path | None]:
        """Build into a staging file beside ``out``; store and upload it (``keep``), check it,
        then rename it to ``out``. Returns what was written and the local cache entry."""
        prepare_output(out)
        staged = out.parent / f".{out.name}.{os.getpid()}.staged{TEMP_SUFFIX}"
        stored = None
        try:
            written = build(staged)
            record = {
                "detzip-cache-entry": KEY_VERSION,
                "key": key,
                "name": name,
                "sha256": written.sha256,
                "size": written.size,
                "unzipped_size": written.unzipped_size,
                "entries": written.entries,
                "options": dict(description),
            }
            if keep:
                stored = self._store(name, key, staged, record)
                self._upload(name, key, stored or staged, record)
            if check is not None:
                check(staged, record)
            os.replace(staged, out)
        finally:
            with contextlib.suppress(OSError):
                staged.unlink()
        return dataclasses.replace(written, path=out), stored

    def _serve_local(
        self, name: str, key: str, output: Path, check: Check | None
    ) -> Artifact | None:
        for record_path in self._records(name, key):
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if record.get("key") != key:
                continue
            zip_path = record_path.with_suffix(".zip")
            if check is not None:
                check(zip_path, record)
            if not self._serve(zip_path, record, output):
                log.warning(
                    "%s: cached artifact is corrupt (not the sha256 its record names); "
                    "discarded, rebuilding",
                    zip_path,
                )
                self._discard(record_path)
                continue
            with contextlib.suppress(OSError):
                os.utime(record_path)  # last use, for prune
            log.info("%s: cache hit (%s)", name, zip_path)
            return _artifact(output, record, "local", zip_path)
        return None

    def _records(self, name: str, key: str) -> list[Path]:
        """The record for ``name``, then any other name's record for the same key."""
        exact = self.artifacts / f"{entry_name(name, key)}.json"
        found = [exact] if exact.is_file() else []
        suffix = f"-{key[:16]}.json"
        try:
            others = sorted(n for n in os.listdir(self.artifacts) if n.endswith(suffix))
        except OSError:
            others = []
        return found + [self.artifacts / n for n in others if self.artifacts / n != exact]

    def _serve(self, source: Path, record: Mapping[str, Any], output: Path) -> bool:
        """Copy ``source`` to ``output``, checking its sha256 on the way; False if it differs.

        An output that already holds exactly the recorded bytes is left alone.
        """
        if _holds(output, record):
            return True
        try:
            with open(source, "rb") as src:
                if os.fstat(src.fileno()).st_size != record["size"]:
                    return False
                digest = hashlib.sha256()
                with atomic_output(output) as out:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                    if digest.hexdigest() != record["sha256"]:
                        raise _Mismatch
        except (_Mismatch, FileNotFoundError):
            return False
        return True

    def _serve_remote(
        self, name: str, key: str, output: Path, check: Check | None
    ) -> Artifact | None:
        if self.remote is None:
            return None
        self.artifacts.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=self.artifacts, prefix=".incoming-")
        os.close(fd)
        temp = Path(temp_name)
        try:
            try:
                record = self.remote.fetch(name, key, temp)
            except RemoteUnavailable as exc:
                self._remote_failed(exc, "reading")
                return None
            if record is None:
                return None
            stored = self._admit(name, key, temp, record)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        if check is not None:
            check(stored, record)
        if not self._serve(stored, record, output):
            return None
        log.info("%s: cache hit (%s)", name, self.remote.url)
        return _artifact(output, record, self.remote.url, stored)

    def _store(self, name: str, key: str, built: Path, record: Mapping[str, Any]) -> Path | None:
        """Copy a freshly built zip into the local cache; a failure only costs a warning."""
        try:
            self.artifacts.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(dir=self.artifacts, prefix=".incoming-")
            with os.fdopen(fd, "wb") as out, open(built, "rb") as src:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
            try:
                return self._admit(name, key, Path(temp_name), record)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(temp_name)
        except OSError as exc:
            log.warning("cannot store the artifact in %s (%s)", self.artifacts, exc.strerror)
            return None

    def _admit(self, name: str, key: str, zip_temp: Path, record: Mapping[str, Any]) -> Path:
        """Move a complete zip into place, then write its record (the record commits it)."""
        base = self.artifacts / entry_name(name, key)
        final = base.with_suffix(".zip")
        os.replace(zip_temp, final)
        fd, temp_name = tempfile.mkstemp(dir=self.artifacts, prefix=".incoming-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(canonical_json(dict(record)))
        os.replace(temp_name, base.with_suffix(".json"))
        return final

    def _upload(self, name: str, key: str, path: Path, record: Mapping[str, Any]) -> None:
        if self.remote is None:
            return
        try:
            self.remote.upload(name, key, path, record)
        except RemoteUnavailable as exc:
            self._remote_failed(exc, "writing")

    def _remote_failed(self, exc: RemoteUnavailable, doing: str) -> None:
        if self.require:
            raise DetzipError(
                f"the cache is unavailable for {doing} ({literal(str(exc))}); "
                "fix access to it or drop {0}",
                settings=[Setting("require_cache", True)],
            ) from None
        log.warning("cache unavailable for %s (%s); building locally", doing, exc)
        self.remote = None  # do not wait on it again in this process

    def _discard(self, record_path: Path) -> None:
        for path in (record_path, record_path.with_suffix(".zip")):
            with contextlib.suppress(OSError):
                path.unlink()

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive per-key lock (advisory; released by the kernel if we die)."""
        try:
            import fcntl
        except ImportError:  # not on POSIX: builds of one key may race, each still atomic
            yield
            return
        folder = self.root / "locks"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / f"{key[:32]}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            log.warning("cannot lock in %s (%s); building without a lock", folder, exc.strerror)
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- remembered inputs → results ------------------------------------------------------------

    def recall(self, kind: str, request: Mapping[str, Any]) -> Any:
        """What :meth:`remember` stored for ``request``, if none of its input files changed."""
        if not self.enabled:
            return None
        try:
            memo = json.loads(self._memo_path(kind, request).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if memo.get("request") != json.loads(canonical_json(dict(request))):
            return None
        for path, digest in memo.get("inputs", []):
            try:
                with open(path, "rb") as handle:
                    if hashlib.file_digest(handle, "sha256").hexdigest() != digest:
                        return None
            except OSError:
                return None
        return memo.get("value")

    def remember(
        self, kind: str, request: Mapping[str, Any], inputs: Sequence[Path], value: Any
    ) -> None:
        """Remember ``value`` for ``request`` as long as the ``inputs`` files keep their bytes."""
        if not self.enabled:
            return
        try:
            hashed = []
            for path in inputs:
                with open(path, "rb") as handle:
                    hashed.append([str(path), hashlib.file_digest(handle, "sha256").hexdigest()])
            memo = {"request": dict(request), "inputs": hashed, "value": value}
            target = self._memo_path(kind, request)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(canonical_json(memo))
            os.replace(temp_name, target)
        except OSError as exc:
            log.debug("cannot remember %s: %s", kind, exc)

    def _memo_path(self, kind: str, request: Mapping[str, Any]) -> Path:
        digest = hashlib.sha256(canonical_json(dict(request))).hexdigest()
        return self.root / "memo" / f"{kind}-{digest[:32]}.json"


def _holds(path: Path, record: Mapping[str, Any]) -> bool:
    try:
        if path.stat().st_size != record["size"]:
            return False
        with open(path, "rb") as handle:
            return bool(hashlib.file_digest(handle, "sha256").hexdigest() == record["sha256"])
    except OSError:
        return False


def _artifact(output: Path, record: Mapping[str, Any], source: str, entry: Path) -> Artifact:
    from detzip.hashing import b64

    return Artifact(
        path=output,
        sha256=record["sha256"],
        base64sha256=b64(record["sha256"]),
        size=record["size"],
        unzipped_size=record["unzipped_size"],
        entries=record["entries"],
        options=record["options"],
        key=record["key"],
        cache_hit=True,
        cache_source=source,
        cache_entry=entry,
    )
