"""``build(spec, cache)``: the one path every front door takes from a spec to an artifact.

Reads top to bottom: the zip options; the input (:mod:`detzip.kinds`: a function's source
folders and the packages it bundles, or a layer's resolved set, with bytecode if asked for);
its description, which is what determines the bytes; the key over that description; then the
cache serves the zip or it is written and stored. With the cache off it is written first and
keyed after (each file is read once, as it is zipped). Every zip, built or served, is checked
against Lambda's limits before it reaches the output path, and a function is then checked
together with the layers it uses. With ``verify``, a zip a cache serves is rebuilt first and
must have the same bytes (:mod:`detzip.cache.verification`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip import _fs
from detzip import _log as log
from detzip import _progress as progress
from detzip._collector import paused
from detzip._datatype import replace
from detzip._fs import check_output_name, publish, staged_output
from detzip.artifact import Artifact
from detzip.cache.artifacts import Gate, Outcome, Verify
from detzip.cache.keys import cache_key, new_record
from detzip.errors import DetzipError, Setting, literal
from detzip.kinds import Input, input_for, real
from detzip.limits import build_check, check_entries, check_with_layers

if TYPE_CHECKING:
    from detzip._memo import Memo
    from detzip.cache.artifacts import ArtifactCache
    from detzip.cache.local import Cache
    from detzip.cache.remote import StoredObject
    from detzip.spec import ArtifactSpec
    from detzip.zip.options import ZipOptions
    from detzip.zip.writer import WrittenZip

__all__ = ["build", "describe"]


def build(
    spec: ArtifactSpec,
    cache: Cache | None = None,
    *,
    never_pack: Sequence[Path] = (),
    known: _fs.NeverPack = frozenset(),
) -> Artifact:
    """Build the artifact ``spec`` describes, or serve it from the cache; returns the result.

    ``cache`` defaults to the one ``spec.cache`` describes (pass one :class:`Cache` to share it
    across builds). Raises :class:`~detzip.errors.DetzipError` for bad input and
    :class:`~detzip.limits.LimitExceeded` for a zip over a limit of its own (the output path is
    then left as it was). A function over a limit together with ``spec.layers`` is written and
    returned with :attr:`~detzip.artifact.Artifact.problems` saying why.

    Nothing packed is ever detzip's own: the output, the cache folder, and the files and
    folders in ``never_pack`` (a project's output folder), or ``known`` by their identities
    (taken once for many builds): the bytes must not depend on what was built before.

    Python's cyclic garbage collector is paused while it runs (:mod:`detzip._collector`).
    """
    with paused():
        return _build(spec, cache, never_pack, known)


def _build(
    spec: ArtifactSpec, cache: Cache | None, never_pack: Sequence[Path], known: _fs.NeverPack
) -> Artifact:
    check_output_name(spec.output)
    store = cache if cache is not None else spec.cache.open()
    _outside(spec.output, store.root, "the cache folder")
    options = spec.zip_options()
    _say_when(spec, options)
    upload = _upload(spec)
    gate = _gate(spec, upload, store.memo)
    source = input_for(spec, store, _fs.never_pack(spec.output, store.root, *never_pack) | known)

    def write(path: Path) -> WrittenZip:
        from detzip.zip.writer import write_zip

        entries = source.entries()
        check_entries(spec.output, spec.kind, entries)  # from their sizes, before any is read
        report = progress.bytes_done(f"zipping {spec.artifact_name}")
        written = write_zip(entries, path, options, progress=report)
        source.check(written)
        return written

    artifacts = store.artifacts
    if artifacts is None:  # the cache is off: the files are hashed as they are zipped
        outcome = _written_then_keyed(spec, options, source, write, gate)
    else:
        if upload == "s3" and spec.upload_to is None and artifacts.remote is not None:
            artifacts = artifacts.requiring_remote()  # the result must name the object in S3
            if not artifacts.uploads:  # (refused before the output is written)
                gate = _in_the_bucket(spec, artifacts, gate)
        key, description = _described(spec.kind, options, source)
        verify = _verifier(spec, write) if store.verify else None
        outcome = artifacts.through(
            spec.artifact_name, key, description, spec.output, write, gate, verify
        )
    artifact = Artifact.from_record(
        outcome.path,
        outcome.record,
        source=outcome.source,
        entry=outcome.entry,
        verified=store.verify and outcome.source is not None,
    )
    if spec.compile:  # the bytecode's share, reported apart (it counts in every limit)
        from detzip.limits import read_sizes

        pyc = read_sizes(outcome.path, spec.kind).pyc_size
        artifact = replace(artifact, pyc_size=pyc)
    if spec.layers or spec.external_layers:
        total, problems = check_with_layers(
            spec.artifact_name, artifact, spec.layers, spec.external_layers
        )
        artifact = replace(artifact, unzipped_total=total, problems=problems)
    if upload == "s3" and (spec.upload_to or (artifacts and artifacts.remote)):
        artifact = replace(artifact, s3=_in_s3(spec, artifacts, artifact, outcome.record))
    return artifact


def describe(
    spec: ArtifactSpec, cache: Cache | None = None, *, never_pack: Sequence[Path] = ()
) -> tuple[str, dict[str, Any]]:
    """The cache key and description of what ``build(spec, cache)`` would build now, without
    building it: the files are read (or their digests remembered), a layer's set resolved."""
    store = cache if cache is not None else spec.cache.open()
    if store.artifacts is None:  # (the cache off: a memo that hashes each file as it walks)
        from detzip.cache.settings import CacheSettings

        store = CacheSettings(url="", dir=store.root, write="none").open()  # (no shared one)
    source = input_for(spec, store, _fs.never_pack(spec.output, store.root, *never_pack))
    return _described(spec.kind, spec.zip_options(), source)


def _described(kind: str, options: ZipOptions, source: Input) -> tuple[str, dict[str, Any]]:
    description = {**options.describe(), **source.describe()}
    return cache_key(kind, description), description


def _verifier(spec: ArtifactSpec, write: Callable[[Path], WrittenZip]) -> Verify:
    """``verify``: rebuild a served zip beside the output (no cache read) and compare bytes;
    a mismatch is :class:`~detzip.cache.verification.NotWhatItsKeyBuilds` and the served zip
    never reaches the output."""

    def verify(served: Path, record: Mapping[str, Any], where: str) -> None:
        with staged_output(spec.output) as rebuilt:
            written = write(rebuilt)
            if written.sha256 == record["sha256"]:
                log.info("%s: verified: a rebuild has the cached bytes", spec.artifact_name)
                return
            from detzip.cache.verification import mismatch

            raise mismatch(
                spec.artifact_name, record["key"], where, record, served, rebuilt, written.sha256
            )

    return verify


def _written_then_keyed(
    spec: ArtifactSpec,
    options: ZipOptions,
    source: Input,
    write: Callable[[Path], WrittenZip],
    gate: Gate,
) -> Outcome:
    """The zip written to a staging file beside the output, then described and keyed from what
    was written, checked, and put at the output (nothing is cached)."""
    with staged_output(spec.output) as staged:
        written = write(staged)
        description = {**options.describe(), **source.describe(written)}
        key = cache_key(spec.kind, description)
        record = new_record(spec.artifact_name, key, description, written)
        gate(staged, record)
        publish(staged, spec.output)  # staged was fsynced by the writer
    return Outcome(spec.output, record)


def _say_when(spec: ArtifactSpec, options: ZipOptions) -> None:
    """Say (``-v``) which timestamp every entry gets, and why."""
    if not log.enabled(log.INFO):
        return
    from detzip.zip.options import FROM_ENVIRONMENT

    moment = options.mtime.strftime("%Y-%m-%dT%H:%M:%SZ")
    if spec.mtime is None:
        why = "the fixed default; SOURCE_DATE_EPOCH is used only when asked for"
    elif spec.mtime == FROM_ENVIRONMENT:
        why = "from $SOURCE_DATE_EPOCH, as asked"
    else:
        why = "as given"
    log.info("%s: every entry is dated %s (%s)", spec.artifact_name, moment, why)


def _gate(spec: ArtifactSpec, upload: str | None, memo: Memo) -> Gate:
    """What every zip, built or served, must pass before it reaches the output: Lambda's limits
    for its own size, then (a function with a ``handler``) the handler check: Lambda must find
    the function in it or its layers (a pass is remembered in ``memo`` by the zip's sha256,
    which the record proves by then)."""
    limits = build_check(spec.output, spec.kind, upload)
    if spec.kind != "function" or not spec.handler:
        return limits
    from detzip.handler import check_handler, split_handler

    split_handler(spec.handler)  # a malformed handler fails before anything is built
    handler = spec.handler

    def checked(staged: Path, record: Mapping[str, Any]) -> None:
        limits(staged, record)
        label = str(spec.output)
        proven = record["sha256"]  # (the staged bytes', checked before any gate sees them)
        check_handler(handler, staged, spec.layers, spec.runtime, label, sha256=proven, memo=memo)

    return checked


def _upload(spec: ArtifactSpec) -> str | None:
    """How the zip reaches Lambda: ``upload``, or s3 when ``upload_to`` names a bucket."""
    if spec.upload_to is None:
        return spec.upload
    if not spec.upload_to.startswith("s3://") or not spec.upload_to[5:].split("/")[0]:
        raise DetzipError(
            f"{{0}} {literal(repr(spec.upload_to))} is not an S3 URL; use s3://BUCKET/PREFIX",
            settings=[Setting("upload_to")],
        )
    if spec.upload == "direct":
        raise DetzipError(
            "{0} uploads through S3, which {1} contradicts; drop one",
            settings=[Setting("upload_to"), Setting("upload", "direct")],
        )
    return "s3"


def _in_s3(
    spec: ArtifactSpec,
    artifacts: ArtifactCache | None,
    artifact: Artifact,
    record: Mapping[str, Any],
) -> StoredObject:
    """The zip as an S3 object Lambda can read: in ``upload_to`` (content-addressed), else in
    the S3 cache — confirmed there on every run (HEAD), uploaded if missing. Without S3 there
    is no object to name: exit 2, never a result without one."""
    from detzip.cache.remote import RemoteUnavailable

    try:
        if spec.upload_to is not None:
            from detzip.cache.keys import safe_name
            from detzip.cache.s3 import S3Cache

            target = S3Cache(spec.upload_to)
            name = f"{safe_name(spec.artifact_name)}-{artifact.sha256}.zip"
            return target.put(name, artifact.path, artifact.sha256)
        assert artifacts is not None and artifacts.remote is not None
        assert artifact.key is not None
        remote = artifacts.remote
        found = remote.locate(spec.artifact_name, artifact.key, artifact.sha256, artifact.path)
        if found is None and not artifacts.uploads:
            raise _not_in_the_bucket(artifacts.write)
        if found is None:  # served locally, or the object went away: put it back
            remote.upload(spec.artifact_name, artifact.key, artifact.path, record)
            found = remote.locate(spec.artifact_name, artifact.key, artifact.sha256, artifact.path)
        if found is None:
            raise RemoteUnavailable(f"{remote.url}: the uploaded object is not there")
        return found
    except RemoteUnavailable as exc:
        where = Setting("upload_to") if spec.upload_to else Setting("cache")
        raise DetzipError(
            f"{{0}} needs the zip in S3, and S3 failed ({literal(str(exc))}); fix access to "
            "{1}, or use the direct upload",
            settings=[Setting("upload", "s3"), where],
        ) from None


def _in_the_bucket(spec: ArtifactSpec, artifacts: ArtifactCache, gate: Gate) -> Gate:
    """``gate``, then (``upload = "s3"`` through a shared cache this build may not write) the
    zip must be in the bucket already, else the build is refused before its output is written."""
    from detzip.cache.remote import RemoteUnavailable

    remote = artifacts.remote
    assert remote is not None

    def checked(staged: Path, record: Mapping[str, Any]) -> None:
        gate(staged, record)
        try:
            found = remote.locate(spec.artifact_name, record["key"], record["sha256"], staged)
        except RemoteUnavailable as exc:
            raise DetzipError(
                f"{{0}} needs the zip in S3, and S3 failed ({literal(str(exc))}); fix access "
                "to {1}, or use the direct upload",
                settings=[Setting("upload", "s3"), Setting("cache")],
            ) from None
        if found is None:
            raise _not_in_the_bucket(artifacts.write)

    return checked


def _not_in_the_bucket(write: str) -> DetzipError:
    return DetzipError(
        "{0} names the zip's object in the S3 cache, which does not hold it, and {1} forbids "
        "writing it there; build it where the cache may be written, or give {2} (a bucket "
        "this build may write)",
        settings=[Setting("upload", "s3"), Setting("cache_write", write), Setting("upload_to")],
    )


def _outside(output: Path, folder: Path, what: str) -> None:
    """Refuse an output inside ``folder`` (the cache: its entries are detzip's to write)."""
    resolved = _REAL.get(folder)
    if resolved is None:  # (the cache folder's, once per process: every build asks)
        resolved = _REAL[folder] = real(folder)
    if real(output).is_relative_to(resolved):
        raise DetzipError(
            f"is inside {what} ({folder}), which detzip manages; choose another {{0}}",
            output,
            settings=[Setting("output")],
        )


_REAL: dict[Path, Path] = {}
