"""``build(spec, cache)``: the one path every front door takes from a spec to an artifact.

Reads top to bottom: the zip options; the inputs — a function's source tree (and the
dependencies it bundles), or a layer's resolved dependency set — described as plainly as what
determines the bytes; the key over that description; then the cache serves it or the entries are
written and stored. Every zip, built or served, is checked against Lambda's limits before it
reaches the output path, and a function is then checked together with the layers it uses.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip import _progress as progress
from detzip._fs import check_output_name
from detzip.artifact import Artifact
from detzip.cache.keys import cache_key
from detzip.errors import DetzipError, Setting
from detzip.limits import build_check, check_with_layers

if TYPE_CHECKING:
    from detzip.cache.local import Cache
    from detzip.deps.request import Dependencies
    from detzip.spec import ArtifactSpec
    from detzip.zip.options import ZipOptions
    from detzip.zip.writer import WrittenZip

__all__ = ["Make", "build"]

Make = Callable[[Path], "WrittenZip"]


def build(spec: ArtifactSpec, cache: Cache | None = None) -> Artifact:
    """Build the artifact ``spec`` describes, or serve it from the cache; returns the result.

    ``cache`` defaults to the one ``spec.cache`` describes (pass one :class:`Cache` to share it
    across builds). Raises :class:`~detzip.errors.DetzipError` for bad input and
    :class:`~detzip.limits.LimitExceeded` for a zip over a limit of its own (the output path is
    then left as it was). A function over a limit together with ``spec.layers`` is written and
    returned with :attr:`~detzip.artifact.Artifact.problems` saying why.
    """
    check_output_name(spec.output)
    store = cache if cache is not None else spec.cache.open()
    _outside(spec.output, store.root, "the cache folder")
    options = spec.zip_options()
    check = build_check(spec.output, spec.kind, spec.upload)
    dependencies = spec.dependencies()
    if spec.kind == "layer":
        assert dependencies is not None  # a layer's spec always names its requirements
        description, make = _layer(spec, dependencies, options, store)
    else:
        description, make = _function(spec, dependencies, options, store)
    key = cache_key(spec.kind, description)
    outcome = store.through(spec.artifact_name, key, description, spec.output, make, check)
    artifact = Artifact.from_record(
        outcome.path, outcome.record, source=outcome.source, entry=outcome.entry
    )
    if spec.layers:
        total, problems = check_with_layers(spec.artifact_name, artifact, spec.layers)
        artifact = dataclasses.replace(artifact, unzipped_total=total, problems=problems)
    return artifact


def _function(
    spec: ArtifactSpec, dependencies: Dependencies | None, options: ZipOptions, store: Cache
) -> tuple[dict[str, Any], Make]:
    """A source tree (and the packages it bundles): its description and how to write it."""
    from detzip.inputs.tree import TreeSpec, collect
    from detzip.zip.entries import fingerprint

    assert spec.source is not None  # a function's spec always names its source
    _not_a_source_file(spec.output, Path(spec.source))
    tree = TreeSpec(
        exclude=spec.exclude,
        include=spec.include,
        default_excludes=spec.default_excludes,
        ignore_file=spec.ignore_file,
        prefix=spec.prefix,
        allow_outside_links=spec.allow_outside_links,
        skip_files=_identity(spec.output),
    ).resolved(spec.source)
    entries = collect(spec.source, tree)
    digests: dict[str, str] = {}  # each file's sha256 as keyed: the writer checks it again
    description: dict[str, Any] = {
        **options.describe(),
        **tree.describe(spec.source),
        "content": fingerprint(entries, digests),
    }
    resolution = None
    if dependencies is not None:
        from detzip.deps.resolution import resolve

        resolution = resolve(dependencies, store, store.layout.wheels, store.layout.resolved)
        _not_an_input(spec.output, resolution.inputs)
        description["dependencies"] = resolution.description

    def make(path: Path) -> WrittenZip:
        from detzip.zip.writer import write_zip

        more = []
        if dependencies is not None and resolution is not None:
            from detzip.inputs.wheel import install  # packaging, pathspec: only when needed

            more = install(resolution.wheels(), "")
        report = progress.bytes_done(f"zipping {spec.artifact_name}")
        return write_zip([*entries, *more], path, options, progress=report, expected=digests)

    return description, make


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

    def make(path: Path) -> WrittenZip:
        from detzip.inputs.wheel import compile_excludes, install
        from detzip.zip.writer import write_zip

        excludes = checked or compile_excludes(dependencies.exclude, dependencies.default_excludes)
        entries = install(resolution.wheels(), root, excludes)
        report = progress.bytes_done(f"zipping {spec.artifact_name}")
        return write_zip(entries, path, options, progress=report)

    return description, make


def _identity(path: Path) -> frozenset[tuple[int, int]]:
    """The output's (device, inode), so that a tree holding it never packs it."""
    try:
        info = path.stat()
    except OSError:
        return frozenset()
    return frozenset({(info.st_dev, info.st_ino)})


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
