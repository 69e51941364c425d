"""The artifact cache: built zips stored under the key of what determines their bytes.

A key is the sha256 of a canonical description of a build (see :func:`cache_key`). Zips live
under ``<cache dir>/artifacts/`` as ``<name>-<key[:16]>.zip`` beside a ``.json`` record (the full
key, the zip's sha256 and sizes, the description). The record is written after its zip, so a
record always names a complete zip, and every read checks the zip against the record's sha256: a
truncated or corrupted entry is discarded with a warning and rebuilt, never served.

Read-through: the local cache, then the remote one if configured (S3, see
:mod:`detzip.cache.s3`), then a build; a build is stored locally and uploaded, as far as
``cache_write`` allows (``local``: nothing is uploaded; ``none``: nothing is stored either, and a
download is kept only for this build). Builds of one key hold a per-key lock, so processes
building the same key at once wait for the first and then hit.

A served zip is trusted as far as its key: the bytes are checked against the record's sha256,
not against what the key builds. ``verify`` (``--verify``) rebuilds it and compares.

This module keeps its imports light: a hit must cost little more than Python's start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from detzip import _log as log
from detzip import _platform
from detzip._fs import (
    INCOMING,
    atomic_path,
    copy_file,
    hold,
    publish,
    release,
    staged_output,
    temporary,
    write_file,
)
from detzip.cache.keys import canonical_json, entry_name, new_record, valid_record
from detzip.cache.layout import Layout
from detzip.errors import DetzipError, Setting, literal

if TYPE_CHECKING:
    from detzip.cache.remote import Remote, RemoteUnavailable
    from detzip.cache.stats import StatMemo
    from detzip.zip.writer import WrittenZip

__all__ = ["ArtifactCache", "Gate", "Outcome", "Verify", "open_remote"]


_CHUNK = 1 << 20


class Outcome(NamedTuple):
    """What :meth:`ArtifactCache.through` put at the output: the zip's ``record`` (key, sha256,
    sizes, description), where it came from (``source``: None when built here, else
    ``"local"`` or the remote cache's URL) and its ``entry`` in the local cache, if stored
    there."""

    path: Path
    record: Mapping[str, Any]
    source: str | None = None
    entry: Path | None = None


Gate = Callable[[Path, Mapping[str, Any]], None]
"""Sees a zip (path, record) before it reaches the output; raises to refuse it."""
Verify = Callable[[Path, Mapping[str, Any], str], None]
"""Sees a zip a cache serves (path, record, where it came from) before it reaches the output;
raises to refuse it (``--verify``: it is not what the key builds)."""


def open_remote(url: str) -> Remote:
    """The shared cache at ``url`` (``s3://BUCKET/PREFIX``)."""
    if url.startswith("s3://"):
        from detzip.cache.s3 import S3Cache

        return S3Cache(url)
    raise DetzipError(
        f"unknown cache {url!r}; set {{0}} to s3://BUCKET/PREFIX or off, or leave it out",
        settings=[Setting("cache")],
    )


class _Mismatch(Exception):
    """A copied artifact did not have the sha256 its record promises (or could not be read)."""


def _read(source: BinaryIO) -> bytes:
    try:
        return source.read(_CHUNK)
    except OSError:
        raise _Mismatch from None


class ArtifactCache:
    """Built artifacts, looked up and stored by key: in the local cache laid out as
    ``layout``, and in the shared cache ``remote`` (``s3://bucket/prefix``, or an object) if
    given. When the shared cache is unreachable detzip warns and builds locally, unless
    ``require`` is true, which makes that an error."""

    def __init__(self, layout: Layout, remote: str | Remote | None = None, *,
                 require: bool = False, write: str = "all") -> None:  # fmt: skip
        self.layout = layout
        self.remote = open_remote(remote) if isinstance(remote, str) else remote
        self.require = require
        self.write = write  # "all", "local" (the shared cache only read), "none" (nor this one)
        self._outputs_memo: StatMemo | None = None

    @property
    def keeps(self) -> bool:
        """Whether built and downloaded zips are kept in the local cache."""
        return self.write != "none"

    @property
    def uploads(self) -> bool:
        """Whether built zips go to the shared cache."""
        return self.write == "all" and self.remote is not None

    @property
    def folder(self) -> Path:
        """The folder of built zips and their records."""
        return self.layout.artifacts

    def requiring_remote(self) -> ArtifactCache:
        """This cache, with an unreachable shared cache an error (a result that must name
        the zip's object in S3 cannot do without it)."""
        return ArtifactCache(self.layout, self.remote, require=True, write=self.write)

    def through(
        self,
        name: str,
        key: str,
        description: Mapping[str, Any],
        output: str | os.PathLike[str],
        write: Callable[[Path], WrittenZip],
        gate: Gate | None = None,
        verify: Verify | None = None,
    ) -> Outcome:
        """The zip for ``key`` at ``output``: served from a cache, else built and stored.

        ``write`` writes the zip to the path it is given (next to ``output``) and returns what
        it wrote. ``gate`` sees every zip (built or cached) with its record before it reaches
        ``output`` (a built one before it is stored or uploaded), and may refuse it by raising;
        ``output`` is then left as it was, and nothing refused is cached. ``verify`` sees a
        served zip after the gate, with where it came from (the local entry's path, or the
        remote cache's URL), and may refuse it the same way.
        """
        out = Path(output)
        checks = _Checks(gate, verify)
        found = self._serve_local(name, key, out, checks)
        if found is not None:
            return found
        with self._lock(key):
            found = self._serve_local(name, key, out, checks)  # another process just built it?
            if found is None:
                found = self._serve_remote(name, key, out, checks)
            if found is not None:
                return found
            log.info("%s: building (key %s)", name, key[:16])
            with staged_output(out) as staged:
                record = new_record(name, key, description, write(staged))
                if gate is not None:  # (first: a zip it refuses is never stored nor uploaded)
                    gate(staged, record)
                stored = self._store(name, key, staged, record) if self.keeps else None
                if self.uploads:
                    self._upload(name, key, stored or staged, record)
                publish(staged, out)  # staged was fsynced by the writer
        return Outcome(out, record, None, stored)

    def entry(self, name: str, key: str) -> tuple[Path, dict[str, Any]] | None:
        """The local cache's entry for ``key`` (its zip and record), without serving it: a
        record that is valid for the key and names a zip of its size (not yet hashed)."""
        for record_path in self._records(name, key):
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                continue
            if not valid_record(record, key):
                continue
            zip_path = record_path.with_suffix(".zip")
            with contextlib.suppress(OSError):
                if zip_path.stat().st_size == record["size"]:
                    return zip_path, record
        return None

    def _serve_local(self, name: str, key: str, output: Path, checks: _Checks) -> Outcome | None:
        for record_path in self._records(name, key):
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
            except OSError:
                continue
            except (ValueError, RecursionError):
                record = None
            other = isinstance(record, dict) and isinstance(record.get("key"), str)
            if other and record["key"] != key:
                continue  # another key that shares the first 16 digits
            zip_path = record_path.with_suffix(".zip")
            if not valid_record(record, key):
                log.warning("%s: not a valid cache record; discarded, rebuilding", record_path)
                self._discard(record_path)
                continue
            if not self._serve(zip_path, record, output, checks, str(zip_path)):
                log.warning(
                    "%s: cached artifact is corrupt (not the sha256 its record names, or not "
                    "the zip it describes); %s, rebuilding",
                    zip_path,
                    "discarded" if self.keeps else "left as it is (cache_write none)",
                )
                if self.keeps:
                    self._discard(record_path)
                continue
            if self.keeps:
                with contextlib.suppress(OSError):
                    os.utime(record_path)  # last use, for prune
            log.info("%s: cache hit (%s)", name, zip_path)
            return Outcome(output, record, "local", zip_path)
        return None

    def _records(self, name: str, key: str) -> Iterator[Path]:
        """The record for ``name``, then any other name's record for the same key (the folder
        is listed only if the first does not serve: a hit costs no listing)."""
        exact = self.folder / f"{entry_name(name, key)}.json"
        try:
            if exact.is_file():
                yield exact
            names = sorted(n for n in os.listdir(self.folder) if n.endswith(f"-{key[:16]}.json"))
        except FileNotFoundError:
            return
        except OSError as exc:  # another user's, unreadable: a miss (and the store warns)
            log.warning("cannot read the cache in %s (%s); building", self.folder, exc.strerror)
            return
        yield from (self.folder / n for n in names if self.folder / n != exact)

    def _serve(
        self,
        source: Path,
        record: Mapping[str, Any],
        output: Path,
        checks: _Checks,
        where: str,
    ) -> bool:
        """Put ``source`` at ``output`` once it is proven: its bytes are the record's sha256
        (checked as they are copied to a staging file beside the output; an output that
        already holds them is used as it is), then the gate and the verification see those
        bytes, then they reach the output. False: the entry is not what its record says (other
        bytes, or not the zip the record describes); ``output`` is then left as it was."""
        try:
            if self._holds(output, record):
                checks.run(output, record, where)
                return True
            with atomic_path(output) as copied:  # (renamed to output only if all is well)
                if not _copy_checked(source, copied, record):
                    raise _Mismatch
                checks.run(copied, record, where)
        except _Mismatch:
            return False
        except _Unusable as exc:
            log.warning("%s: %s", where, exc)
            return False
        return True

    def _serve_remote(self, name: str, key: str, output: Path, checks: _Checks) -> Outcome | None:
        if self.remote is None:
            return None
        from detzip.cache.remote import RemoteUnavailable  # (no shared cache: not imported)

        try:  # the download lands in the local cache, to be kept there …
            if not self.keeps:
                raise _NotKept
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, temp_name = temporary(self.folder, INCOMING)  # locked while it is ours
            keep = True
        except (OSError, _NotKept) as exc:  # … or, when it cannot or must not, beside the output
            if isinstance(exc, OSError):
                log.warning(
                    "cannot keep artifacts in %s (%s); serving from the remote cache without it",
                    self.folder,
                    exc.strerror,
                )
            try:
                output.parent.mkdir(parents=True, exist_ok=True)
                fd, temp_name = temporary(output.parent, INCOMING)
            except OSError:
                return None  # building says what is wrong with the output's folder
            keep = False
        temp = Path(temp_name)
        try:
            try:
                record = self.remote.fetch(name, key, temp)  # checked against its sha256
            except RemoteUnavailable as exc:
                self._remote_failed(exc, "reading")
                return None
            except OSError as exc:  # the local disk, not the remote
                log.warning("cannot download into %s (%s); building", temp.parent, exc.strerror)
                return None
            if record is None:
                return None
            try:  # (first: a zip they refuse is not kept; its bytes are the record's already)
                checks.run(temp, record, f"{self.remote.url} (key {key})")
            except _Unusable as exc:
                log.warning("%s: %s; building", self.remote.url, exc)
                return None
            stored = temp
            if keep:
                try:
                    stored = self._admit(name, key, temp, record)
                except OSError as exc:
                    log.warning("cannot store the artifact in %s (%s)", self.folder, exc)
            if not self._serve(stored, record, output, _Checks(None, None), str(stored)):
                return None
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
            release(fd, temp)
        log.info("%s: cache hit (%s)", name, self.remote.url)
        return Outcome(output, record, self.remote.url, None if stored == temp else stored)

    def _store(self, name: str, key: str, built: Path, record: Mapping[str, Any]) -> Path | None:
        """Copy a freshly built zip into the local cache; a failure only costs a warning."""
        zip_path, record_path = _entry_paths(self.folder, name, key)
        try:
            copy_file(built, zip_path)
            try:
                write_file(record_path, canonical_json(dict(record)))
            except BaseException:  # (a zip without its record is never left behind)
                with contextlib.suppress(OSError):
                    zip_path.unlink()
                raise
            return zip_path
        except OSError as exc:
            log.warning("cannot store the artifact in %s (%s)", self.folder, exc.strerror)
            return None

    def _admit(self, name: str, key: str, zip_temp: Path, record: Mapping[str, Any]) -> Path:
        """Move a complete zip into place, then write its record (the record commits it)."""
        final, record_path = _entry_paths(self.folder, name, key)
        os.replace(zip_temp, final)
        write_file(record_path, canonical_json(dict(record)))
        return final

    def _upload(self, name: str, key: str, path: Path, record: Mapping[str, Any]) -> None:
        if self.remote is None:
            return
        from detzip.cache.remote import RemoteUnavailable

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
        """Hold an exclusive per-key lock (advisory; released by the kernel if we die); none
        when the local cache is only read (its lock files are writes)."""
        if not self.keeps:
            yield
            return
        folder = self.layout.locks
        path = self.layout.lock(key)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = hold(path, new=False, wait=True, mode=0o666)
            while fd is None:  # (`cache prune` removed a lock file unused for a day)
                fd = hold(path, new=False, wait=True, mode=0o666)
        except OSError as exc:
            log.warning("cannot lock in %s (%s); building without a lock", folder, exc.strerror)
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                _platform.unlock(fd)
            os.close(fd)

    def _holds(self, path: Path, record: Mapping[str, Any]) -> bool:
        """Whether ``path`` holds exactly the recorded zip: its size, then its sha256 — from
        the outputs' stat memo while the file's stat is unchanged (see
        :mod:`detzip.cache.stats`), else read now (and then remembered)."""
        try:
            info = path.stat()
            if info.st_size != record["size"]:
                return False
            memo = self._outputs()
            held = bool(memo.digest(os.path.abspath(path), path, info) == record["sha256"])
        except OSError:
            return False
        if held and self.keeps:
            memo.save()  # (only written when it learnt something)
        return held

    def _outputs(self) -> StatMemo:
        """The outputs' stat memo, read once for all the builds of this cache object (a
        project's hundred outputs: not read a hundred times)."""
        if self._outputs_memo is None:
            from detzip.cache.stats import StatMemo

            self._outputs_memo = StatMemo(self.layout.stat_memo("outputs"), keep_unseen=True)
        return self._outputs_memo


class _NotKept(Exception):
    """The local cache must not take a download (``cache_write = "none"``)."""


class _Unusable(Exception):
    """A cached zip whose bytes are its record's, but not the zip the record describes (not a
    zip, or other sizes): whoever wrote it, it is not what detzip builds."""


class _Checks:
    """The gate and the verification a served zip passes before it reaches the output."""

    def __init__(self, gate: Gate | None, verify: Verify | None) -> None:
        self._gate = gate
        self._verify = verify

    def run(self, path: Path, record: Mapping[str, Any], source: str) -> None:
        """The gate, then the verification, on ``path`` (bytes already checked against the
        record's sha256). A zip the gate cannot read, or one it refuses whose record does not
        describe it (a record claiming other sizes), is :class:`_Unusable`, never an error of
        the build: an entry's writer must not be able to fail every build."""
        if self._gate is not None:
            try:
                self._gate(path, record)
            except DetzipError:
                if not _describes(record, path):
                    raise _Unusable("its record does not describe it (sizes, entries)") from None
                raise
            except Exception as exc:  # (the zip cannot be read: not one detzip wrote)
                raise _Unusable(f"not a readable zip ({type(exc).__name__}: {exc})") from None
        if self._verify is not None:
            self._verify(path, record, source)


def _describes(record: Mapping[str, Any], path: Path) -> bool:
    """Whether ``record``'s sizes are those of the zip at ``path`` (its central directory)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
        size = path.stat().st_size
    except Exception:  # (not a zip: it describes nothing)
        return False
    return bool(
        size == record["size"]
        and len(infos) == record["entries"]
        and sum(info.file_size for info in infos) == record["unzipped_size"]
    )


def _copy_checked(source: Path, target: Path, record: Mapping[str, Any]) -> bool:
    """Copy ``source`` to ``target`` (fsynced), hashing on the way: whether the bytes are the
    record's (its size and sha256; False also when ``source`` cannot be read)."""
    try:
        src = open(source, "rb")  # noqa: SIM115 (closed by the with below)
    except OSError:  # gone, a directory, unreadable: not an entry to serve
        return False
    with src:
        try:
            info = os.fstat(src.fileno())
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode) or info.st_size != record["size"]:
            return False
        import hashlib  # (a copy: many bytes, OpenSSL's sha256; a hit in place needs none)

        digest = hashlib.sha256()
        with open(target, "wb") as out:
            try:
                while chunk := _read(src):
                    digest.update(chunk)
                    out.write(chunk)
            except _Mismatch:
                return False
            out.flush()
            os.fsync(out.fileno())
    return bool(digest.hexdigest() == record["sha256"])


def _entry_paths(folder: Path, name: str, key: str) -> tuple[Path, Path]:
    """The entry's zip and record: ``<name>-<key[:16]>`` and a suffix added, never swapped (a
    name may hold a dot: ``api.v2``'s entry is not ``api.zip``)."""
    base = entry_name(name, key)
    return folder / f"{base}.zip", folder / f"{base}.json"
