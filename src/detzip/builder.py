"""``build(spec, cache)``: the one path every front door takes from a spec to an artifact.

Reads top to bottom: the zip options; the inputs — a function's source tree (and the
dependencies it bundles), or a layer's resolved dependency set — described as plainly as what
determines the bytes; the key over that description; then the cache serves it or the entries are
written and stored. Every zip, built or served, is checked against Lambda's limits before it
reaches the output path, and a function is then checked together with the layers it uses.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip import _log as log
from detzip import _progress as progress
from detzip._datatype import replace
from detzip._fs import check_output_name, identities
from detzip.artifact import Artifact
from detzip.cache.keys import cache_key
from detzip.errors import DetzipError, Setting, literal
from detzip.limits import build_check, check_with_layers

if TYPE_CHECKING:
    from detzip.cache.local import Cache, Check
    from detzip.cache.remote import StoredObject
    from detzip.deps.request import Dependencies
    from detzip.inputs.tree import TreeMemo, Walked
    from detzip.spec import ArtifactSpec
    from detzip.zip.entries import Entry
    from detzip.zip.options import ZipOptions
    from detzip.zip.writer import WrittenZip

__all__ = ["Finish", "Make", "build"]

Finish = Callable[[Sequence["Entry"]], list["Entry"]]
"""The last step on the entries before they are written (e.g. adding bytecode)."""
Make = Callable[[Path, Finish], "WrittenZip"]
"""Writes the artifact's zip to a path, its entries passed through a :data:`Finish`."""
_Complete = Callable[[dict[str, Any]], dict[str, Any]]
"""Completes a description once the zip is written (with what the writer read)."""


def build(
    spec: ArtifactSpec, cache: Cache | None = None, *, never_pack: Sequence[Path] = ()
) -> Artifact:
    """Build the artifact ``spec`` describes, or serve it from the cache; returns the result.

    ``cache`` defaults to the one ``spec.cache`` describes (pass one :class:`Cache` to share it
    across builds). Raises :class:`~detzip.errors.DetzipError` for bad input and
    :class:`~detzip.limits.LimitExceeded` for a zip over a limit of its own (the output path is
    then left as it was). A function over a limit together with ``spec.layers`` is written and
    returned with :attr:`~detzip.artifact.Artifact.problems` saying why.

    A function's source never packs the cache folder, nor the folders in ``never_pack`` (a
    project's output folder): its bytes must not depend on what was built before.
    """
    check_output_name(spec.output)
    store = cache if cache is not None else spec.cache.open()
    _outside(spec.output, store.root, "the cache folder")
    options = spec.zip_options()
    if log.enabled(log.INFO):
        from detzip.zip.options import FROM_ENVIRONMENT

        moment = options.mtime.strftime("%Y-%m-%dT%H:%M:%SZ")
        if spec.mtime is None:
            why = "the fixed default; SOURCE_DATE_EPOCH is used only when asked for"
        elif spec.mtime == FROM_ENVIRONMENT:
            why = "from $SOURCE_DATE_EPOCH, as asked"
        else:
            why = "as given"
        log.info("%s: every entry is dated %s (%s)", spec.artifact_name, moment, why)
    upload = _upload(spec)
    if upload == "s3" and spec.upload_to is None and store.remote is not None:
        import copy

        store = copy.copy(store)  # the result must name the object in S3: no S3, no build
        store.require = True
    check = _with_handler(build_check(spec.output, spec.kind, upload), spec)
    dependencies = spec.dependencies()
    if dependencies is not None:  # a local package's files never include these
        dependencies = replace(dependencies, never_pack=(spec.output, store.root, *never_pack))
    complete: _Complete | None = None
    if spec.kind == "layer":
        assert dependencies is not None  # a layer's spec always names its requirements
        description, make = _layer(spec, dependencies, options, store)
    else:
        skip = identities(store.root, *never_pack)
        description, make, complete = _function(spec, dependencies, options, store, skip)
    finish: Finish = list  # the entries as they are …
    if spec.compile:  # … or with bytecode for every packed .py
        description, finish = _compiled(spec, description)

    def write(path: Path) -> WrittenZip:
        return make(path, finish)

    if complete is None:
        key = cache_key(spec.kind, description)
        outcome = store.through(spec.artifact_name, key, description, spec.output, write, check)
    else:  # the cache is off: the files are hashed as they are zipped, the key follows
        finished = complete

        def describe() -> tuple[str, dict[str, Any]]:
            described = finished(description)
            return cache_key(spec.kind, described), described

        outcome = store.through(
            spec.artifact_name, "", {}, spec.output, write, check, describe=describe
        )
    artifact = Artifact.from_record(
        outcome.path, outcome.record, source=outcome.source, entry=outcome.entry
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
    if upload == "s3" and (spec.upload_to or store.remote is not None):
        artifact = replace(artifact, s3=_in_s3(spec, store, artifact, outcome.record))
    return artifact


def _compiled(spec: ArtifactSpec, description: dict[str, Any]) -> tuple[dict[str, Any], Finish]:
    """The description with the compiling interpreter's version and the mode (a hit needs no
    compiling; another Python is another key), and the step that adds bytecode for every
    packed ``.py`` (see :mod:`detzip.inputs.bytecode`)."""
    from detzip.deps.targets import Target
    from detzip.inputs.interpreter import find_interpreter

    interpreter = find_interpreter(Target(spec.runtime, spec.arch).python, spec.python)
    described = {**description, "bytecode": {**interpreter.describe(), "mode": spec.invalidation}}
    root = "/opt" if spec.kind == "layer" else "/var/task"  # where Lambda extracts it

    def with_bytecode(entries: Sequence[Entry]) -> list[Entry]:
        from detzip.inputs.bytecode import compile_entries

        pycs = compile_entries(entries, interpreter, spec.invalidation, root)
        names = {pyc.name for pyc in pycs}
        return [e for e in entries if e.name not in names] + pycs

    return described, with_bytecode


def _with_handler(check: Check, spec: ArtifactSpec) -> Check:
    """``check``, then (a function with a ``handler``) the handler check, on every zip, built
    or served, before it reaches the output: Lambda must find the function in it or its layers."""
    if spec.kind != "function" or not spec.handler:
        return check
    from detzip.handler import check_handler, split_handler

    split_handler(spec.handler)  # a malformed handler fails before anything is built
    handler = spec.handler

    def checked(staged: Path, record: Mapping[str, Any]) -> None:
        check(staged, record)
        check_handler(handler, staged, spec.layers, spec.runtime, str(spec.output))

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
    spec: ArtifactSpec, store: Cache, artifact: Artifact, record: Mapping[str, Any]
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
        assert store.remote is not None and artifact.key is not None
        found = store.remote.locate(spec.artifact_name, artifact.key, artifact.sha256)
        if found is None:  # served locally, or the object went away: put it back
            store.remote.upload(spec.artifact_name, artifact.key, artifact.path, record)
            found = store.remote.locate(spec.artifact_name, artifact.key, artifact.sha256)
        if found is None:
            raise RemoteUnavailable(f"{store.remote.url}: the uploaded object is not there")
        return found
    except RemoteUnavailable as exc:
        where = Setting("upload_to") if spec.upload_to else Setting("cache")
        raise DetzipError(
            f"{{0}} needs the zip in S3, and S3 failed ({literal(str(exc))}); fix access to "
            "{1}, or use the direct upload",
            settings=[Setting("upload", "s3"), where],
        ) from None


def _function(
    spec: ArtifactSpec,
    dependencies: Dependencies | None,
    options: ZipOptions,
    store: Cache,
    skip_dirs: frozenset[tuple[int, int]],
) -> tuple[dict[str, Any], Make, _Complete | None]:
    """A source tree (and the packages it bundles): its description, how to write it, and —
    with the cache off — how to complete the description from the files as they were zipped
    (each file is read once). With the cache on, each file's digest comes from the stat memo
    when its stat is unchanged (:mod:`detzip.cache.stats`), else from reading it."""
    from detzip.inputs.tree import TreeSpec, fingerprint_items, walk
    from detzip.zip.entries import fingerprint

    assert spec.source is not None  # a function's spec always names its source
    folders = [(Path(spec.source), spec.prefix, spec.exclude, spec.include)]
    for path, prefix, exclude, include in spec.extra_sources:
        folders.append((Path(path), spec.prefix if prefix is None else prefix,
                        spec.exclude if exclude is None else exclude,
                        spec.include if include is None else include))  # fmt: skip
    digests: dict[str, str] = {}  # each file's sha256 as keyed: the writer checks it again
    memos: list[TreeMemo] = []
    parts: list[Walked] = []
    described: list[dict[str, object]] = []
    for folder, prefix, exclude, include in folders:
        _not_a_source_file(spec.output, folder)
        tree = TreeSpec(
            exclude=exclude,
            include=include,
            default_excludes=spec.default_excludes,
            ignore_file=spec.ignore_file,
            prefix=prefix,
            allow_outside_links=spec.allow_outside_links,
            skip_files=identities(spec.output),
            skip_dirs=skip_dirs,
        ).resolved(folder)
        described.append(tree.describe(folder))
        memo = store.tree_memo(folder, described[-1])  # (None: the cache is off)
        if memo is not None:
            memos.append(memo)  # taken before the walk: its clock starts before any read
        parts.append(walk(folder, tree, memo, digests))
    if len(parts) > 1:  # (names within one folder are unique)
        _no_clash(parts)
    description: dict[str, Any] = {**options.describe(), **described[0]}
    if described[1:]:  # (absent without extra folders: the keys of earlier builds hold)
        description["extra_sources"] = described[1:]
    if memos:  # every file's digest known (from the stat memo, or read now)
        items = {item[0]: item for part in parts for item in part.items}.values()
        description["content"] = fingerprint_items(items)

    def entries() -> list[Entry]:  # a folder two source folders share is listed once
        return list({e.name: e for part in reversed(parts) for e in part.entries()}.values())

    resolution = None
    if dependencies is not None:
        from detzip.deps.resolution import resolve

        resolution = resolve(dependencies, store, store.layout.wheels, store.layout.resolved)
        _not_an_input(spec.output, resolution.inputs)
        description["dependencies"] = resolution.description

    def make(path: Path, finish: Finish) -> WrittenZip:
        from detzip.zip.writer import Changed, write_zip

        more = []
        if dependencies is not None and resolution is not None:
            from detzip.inputs.wheel import install  # packaging, pathspec: only when needed

            more = install(resolution.wheels(), "")
        report = progress.bytes_done(f"zipping {spec.artifact_name}")
        everything = finish([*entries(), *more])
        if not memos:  # one read per file: the writer's digests make the key
            return write_zip(everything, path, options, progress=report, observed=digests)
        try:
            return write_zip(everything, path, options, progress=report, expected=digests)
        except Changed:
            for memo in memos:  # one may have vouched for the file: hash every file next time
                memo.forget()
            raise

    def complete(described: dict[str, Any]) -> dict[str, Any]:
        def written(entry: Entry, path: Path) -> str:
            known = digests.get(entry.name)  # not written: replaced by a finishing step
            if known is not None:
                return known
            with open(path, "rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest()

        return {**described, "content": fingerprint(entries(), digest_of=written)}

    if not memos:
        return description, make, complete
    for taken in memos:
        taken.save()
    return description, make, None


def _no_clash(parts: Sequence[Walked]) -> None:
    """Two folders may share folders, never a file name: refused naming both."""
    came_from: dict[str, Path] = {}
    for part in parts:
        for name, _, sha in part.items:
            first = came_from.setdefault(name, part.folder)
            if first != part.folder and sha is not None:
                raise DetzipError(
                    f"{literal(name)} comes from both {first} and {part.folder}; give one of "
                    "them another prefix ({0}), or exclude it from one",
                    settings=[Setting("extra_sources")],
                )


def _layer(
    spec: ArtifactSpec, dependencies: Dependencies, options: ZipOptions, store: Cache
) -> tuple[dict[str, Any], Make]:
    """A lock's packages for a target under the prefix: the description and how to write it."""
    from detzip.deps.resolution import resolve
    from detzip.zip.names import normalize_prefix

    root = normalize_prefix(spec.prefix)
    checked = None
    if dependencies.exclude:  # an invalid pattern fails before any wheel is fetched
        from detzip.inputs.wheel import compile_excludes

        checked = compile_excludes(dependencies.exclude, dependencies.default_excludes)
    resolution = resolve(dependencies, store, store.layout.wheels, store.layout.resolved)
    _not_an_input(spec.output, resolution.inputs)
    description = {**options.describe(), "prefix": root, **resolution.description}

    def make(path: Path, finish: Finish) -> WrittenZip:
        from detzip.inputs.wheel import compile_excludes, install
        from detzip.zip.writer import write_zip

        excludes = checked or compile_excludes(dependencies.exclude, dependencies.default_excludes)
        entries = finish(install(resolution.wheels(), root, excludes))
        report = progress.bytes_done(f"zipping {spec.artifact_name}")
        return write_zip(entries, path, options, progress=report)

    return description, make


# -- an output never overwrites what the build reads -------------------------------------------


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _refuse(output: Path, what: str) -> DetzipError:
    return DetzipError(
        f"is {what}, one of the build's inputs; choose another {{0}}",
        output,
        settings=[Setting("output")],
    )


def _outside(output: Path, folder: Path, what: str) -> None:
    """Refuse an output inside ``folder`` (the cache: its entries are detzip's to write)."""
    if _real(output).is_relative_to(_real(folder)):
        raise DetzipError(
            f"is inside {what} ({folder}), which detzip manages; choose another {{0}}",
            output,
            settings=[Setting("output")],
        )


def _not_an_input(output: Path, inputs: Sequence[Path]) -> None:
    """Refuse an output that is the lock or a file it includes."""
    real = _real(output)
    for path in inputs:
        if _real(path) == real:
            raise _refuse(output, "the lock or a file it reads")


def _not_a_source_file(output: Path, source: Path) -> None:
    """Refuse an output that is a file of the source tree. A zip there is taken for an earlier
    output (the tree walk skips the output path), anything else is the user's code."""
    real = _real(output)
    if not real.is_relative_to(_real(source)) or not real.is_file():
        return
    try:
        with open(real, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return
    if head not in (b"PK\x03\x04", b"PK\x05\x06", b""):
        raise _refuse(output, "a file of the source tree")
