"""What each kind of artifact is made of, as an :class:`Input` the build describes and writes.

- a function: its source folders (:mod:`detzip.inputs.walked`), and the packages it bundles;
- a layer: a lock's resolved set for the target (:mod:`detzip.deps.remembered`), under a prefix;
- either, with ``compile``: the same, plus bytecode for every packed ``.py``
  (:mod:`detzip.inputs.bytecode`).

An input describes what the bytes depend on (the key is made from that), produces the entries
to write, and checks that the zip written holds the files it described. With the cache on, a
function's files are hashed (or vouched for by the stat memo) before the key is known; with it
off, each is read once, as it is zipped, and the description is made from the zip written.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from detzip._fs import NeverPack
from detzip.errors import DetzipError, Setting, literal

if TYPE_CHECKING:
    from detzip._memo import TreeMemo
    from detzip.cache.local import Cache
    from detzip.deps.remembered import ResolvedSet
    from detzip.inputs.interpreter import Interpreter
    from detzip.inputs.walked import Walked
    from detzip.spec import ArtifactSpec
    from detzip.zip.entries import Entry
    from detzip.zip.writer import WrittenZip

__all__ = ["Compiled", "FunctionInput", "Input", "LayerInput", "input_for"]


class Input(Protocol):
    """What an artifact is made of, ready to be described and written."""

    def describe(self, written: WrittenZip | None = None) -> dict[str, Any]:
        """What the bytes depend on, besides the zip options (see
        :meth:`~detzip.zip.options.ZipOptions.describe`). ``written``: the zip just written,
        whose files' digests complete the description (the cache is off: nothing hashed them
        before)."""

    def entries(self) -> list[Entry]:
        """The entries to write."""

    def check(self, written: WrittenZip) -> None:
        """Refuse a zip that does not hold the files described (one changed meanwhile)."""


def input_for(spec: ArtifactSpec, store: Cache, never_pack: NeverPack) -> Input:
    """The input ``spec`` describes: a function's folders or a layer's packages, with bytecode
    when asked for. Source files, local packages and locks are read from here on;
    ``never_pack`` (the output, the cache, a project's output folder) is never packed."""
    made: Input
    if spec.kind == "layer":
        made = LayerInput(spec, _resolved(spec, store, never_pack))
    else:
        made = FunctionInput(spec, store, never_pack)
        if spec.requirements is not None:  # read after the folders, as they are packed
            made.bundled = _resolved(spec, store, never_pack)
    return Compiled(made, spec) if spec.compile else made


def _resolved(spec: ArtifactSpec, store: Cache, never_pack: NeverPack) -> ResolvedSet:
    """The resolved set of ``spec``'s dependencies (a lock that is the output is refused)."""
    from detzip._datatype import replace
    from detzip.deps.remembered import resolved_set

    dependencies = spec.dependencies()
    assert dependencies is not None  # (a layer's spec always names its requirements)
    dependencies = replace(dependencies, never_pack=never_pack)
    if spec.kind == "layer" and dependencies.exclude:  # an invalid pattern fails before a fetch
        from detzip.inputs.wheel import compile_excludes

        compile_excludes(dependencies.exclude, dependencies.default_excludes)
    layout = store.layout
    resolved = resolved_set(
        dependencies, store.memo, layout.wheels, layout.resolved, seed=store.seed
    )
    _not_an_input(spec.output, resolved.inputs)
    return resolved


class FunctionInput:
    """A function's source folders (its ``source`` and ``extra_sources``), and the packages it
    bundles at the root beside them. Each folder's files are walked as its stat memo allows
    (:func:`~detzip.inputs.walked.walk`): with the cache off, nothing is read until zipped."""

    def __init__(self, spec: ArtifactSpec, store: Cache, never_pack: NeverPack) -> None:
        from detzip.inputs.tree import TreeSpec
        from detzip.inputs.walked import walk

        assert spec.source is not None  # a function's spec always names its source
        self.bundled: ResolvedSet | None = None
        self.memoized = False  # keyed on the stat memo's digests: the zip must hold them
        folders = [(Path(spec.source), spec.prefix, spec.exclude, spec.include)]
        for path, prefix, exclude, include in spec.extra_sources:
            folders.append((Path(path), spec.prefix if prefix is None else prefix,
                            spec.exclude if exclude is None else exclude,
                            spec.include if include is None else include))  # fmt: skip
        self.parts: list[Walked] = []
        self.described: list[dict[str, object]] = []
        self.memos: list[TreeMemo] = []
        for folder, prefix, exclude, include in folders:
            _not_a_source_file(spec.output, folder)
            tree = TreeSpec(
                exclude=exclude,
                include=include,
                default_excludes=spec.default_excludes,
                ignore_file=spec.ignore_file,
                prefix=prefix,
                allow_outside_links=spec.allow_outside_links,
                never_pack=never_pack,
            )
            if spec.from_git is not None:  # a commit's tree: described as the same files are
                from detzip.inputs.commit import walk_commit

                part, tree = walk_commit(folder, tree, spec.from_git, store.memo)
                self.described.append(tree.describe(folder))
                self.parts.append(part)
                continue
            tree = tree.resolved(folder)
            self.described.append(tree.describe(folder))
            memo = store.memo.tree(folder, self.described[-1])  # (None: the cache is off)
            if memo is not None:
                self.memos.append(memo)  # taken before the walk: its clock starts before a read
            self.parts.append(walk(folder, tree, memo))
        if len(self.parts) > 1:  # (names within one folder are unique)
            _no_clash(self.parts)
        _bootstrap_runs(self.parts)

    def describe(self, written: WrittenZip | None = None) -> dict[str, Any]:
        """Each folder's patterns and prefix, every packed file's name, exec bit and digest
        (``content``), and the bundled set (``dependencies``)."""
        description: dict[str, Any] = {**self.described[0]}
        if self.described[1:]:  # (absent without extra folders: the keys of earlier builds hold)
            description["extra_sources"] = self.described[1:]
        if written is not None:  # the cache is off: the digests the writer read
            for part in self.parts:
                part.read(written.digests)
        else:  # the stat memo knew or read every file: the zip must hold those bytes
            self.memoized = True
        if len(self.parts) == 1:
            description["content"] = self.parts[0].fingerprint()
        else:  # a folder two source folders share is listed once
            from detzip.inputs.walked import fingerprint_items

            items = {item.name: item for part in self.parts for item in part.items()}
            description["content"] = fingerprint_items(items.values())
        if written is None:  # (after the fingerprint: it is remembered with the walk)
            for memo in self.memos:
                memo.save()
        if self.bundled is not None:
            description["dependencies"] = self.bundled.description
        return description

    def entries(self) -> list[Entry]:
        """The folders' entries (a folder two of them share once), then the bundled packages'
        installed files."""
        tree = {e.name: e for part in reversed(self.parts) for e in part.entries()}
        if self.bundled is None:
            return list(tree.values())
        from detzip.inputs.wheel import install  # packaging, pathspec: only when needed

        return [*tree.values(), *install(self.bundled.wheels(), "")]

    def check(self, written: WrittenZip) -> None:
        """Every file keyed was zipped with the keyed bytes; else the memos that may have
        vouched for it are forgotten (the next run hashes every file) and the build fails."""
        if not self.memoized:
            return  # (the digests keyed are the ones the writer read)
        keyed_all = {name: sha for part in self.parts for name, sha in part.digests.items()}
        for name, sha in written.digests.items():
            keyed = keyed_all.get(name)
            if keyed is not None and keyed != sha:
                for memo in self.memos:
                    memo.forget()
                path = next(
                    e.source.path  # type: ignore[union-attr]
                    for part in self.parts
                    for e in part.entries()
                    if e.name == name
                )
                raise DetzipError(
                    "changed while it was being zipped (its bytes are not the ones the build "
                    "was keyed on); nothing was written or cached — run the build again",
                    path,
                )


def _bootstrap_runs(parts: Sequence[Walked]) -> None:
    """Warn of a ``bootstrap`` (a custom runtime's entry point) that Lambda cannot execute."""
    for part in parts:
        executable = part.executable("bootstrap")
        if executable is False:
            from detzip.errors import warn

            warn(
                "bootstrap is not executable: a custom runtime (provided.al2023) cannot start "
                "it; chmod +x bootstrap (in git: git update-index --chmod=+x bootstrap, and "
                "commit)",
                part.folder / "bootstrap",
            )
            return


class LayerInput:
    """A lock's packages for a target, installed under the prefix as pip would install them,
    less what the layer's patterns exclude."""

    def __init__(self, spec: ArtifactSpec, resolved: ResolvedSet) -> None:
        from detzip.zip.names import normalize_prefix

        self.root = normalize_prefix(spec.prefix)
        self.resolved = resolved
        self.exclude = spec.exclude
        self.default_excludes = spec.default_excludes

    def describe(self, written: WrittenZip | None = None) -> dict[str, Any]:
        """The prefix, and the resolved set: the target, the patterns, and each chosen wheel's
        name, version, file and sha256."""
        return {"prefix": self.root, **self.resolved.description}

    def entries(self) -> list[Entry]:
        """Every wheel's installed files under the prefix (each verified as it is read)."""
        from detzip.inputs.wheel import compile_excludes, install

        excludes = compile_excludes(self.exclude, self.default_excludes)
        return install(self.resolved.wheels(), self.root, excludes)

    def check(self, written: WrittenZip) -> None:
        """Nothing to do: every wheel was checked against its sha256 as it was read."""


class Compiled:
    """Another input with hash-based bytecode (PEP 552) for every packed ``.py``, compiled by
    an interpreter of the runtime's Python (a pyc of the same name in the input is replaced)."""

    def __init__(self, inner: Input, spec: ArtifactSpec) -> None:
        from detzip.deps.targets import Target
        from detzip.inputs.interpreter import find_interpreter

        self.inner = inner
        self.interpreter: Interpreter = find_interpreter(
            Target(spec.runtime, spec.arch).python, spec.python
        )
        self.mode = spec.invalidation
        self.root = "/opt" if spec.kind == "layer" else "/var/task"  # where Lambda extracts it

    def describe(self, written: WrittenZip | None = None) -> dict[str, Any]:
        """The input's description with the compiling interpreter's version and the mode (a
        hit needs no compiling; another Python is another key)."""
        bytecode = {**self.interpreter.describe(), "mode": self.mode}
        return {**self.inner.describe(written), "bytecode": bytecode}

    def entries(self) -> list[Entry]:
        """The input's entries and a pyc for every packed ``.py``."""
        from detzip.inputs.bytecode import compile_entries

        entries = self.inner.entries()
        pycs = compile_entries(entries, self.interpreter, self.mode, self.root)
        names = {pyc.name for pyc in pycs}
        return [e for e in entries if e.name not in names] + pycs

    def check(self, written: WrittenZip) -> None:
        """The input's check."""
        self.inner.check(written)


def _no_clash(parts: Sequence[Walked]) -> None:
    """Two folders may share folders, never a file name: refused naming both."""
    came_from: dict[str, Path] = {}
    for part in parts:
        for item in part.items():
            first = came_from.setdefault(item.name, part.folder)
            if first != part.folder and not item.folder:
                raise DetzipError(
                    f"{literal(item.name)} comes from both {first} and {part.folder}; give one "
                    "of them another prefix ({0}), or exclude it from one",
                    settings=[Setting("extra_sources")],
                )


# -- an output never overwrites what the build reads -------------------------------------------


def real(path: Path) -> Path:
    """``path`` with every link resolved."""
    return Path(os.path.realpath(path))


def _refuse(output: Path, what: str) -> DetzipError:
    return DetzipError(
        f"is {what}, one of the build's inputs; choose another {{0}}",
        output,
        settings=[Setting("output")],
    )


def _not_an_input(output: Path, inputs: Sequence[Path]) -> None:
    """Refuse an output that is the lock or a file it includes."""
    where = real(output)
    for path in inputs:
        if real(path) == where:
            raise _refuse(output, "the lock or a file it reads")


def _not_a_source_file(output: Path, source: Path) -> None:
    """Refuse an output that is a file of the source tree. A zip there is taken for an earlier
    output (the tree walk skips the output path), anything else is the user's code. (Whether
    it is in the tree is asked last: no output, or a zip, is the common case, and resolving
    both paths' links costs a stat per folder of each.)"""
    try:
        if not stat.S_ISREG(os.stat(output).st_mode):
            return
        with open(output, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return
    if head in (b"PK\x03\x04", b"PK\x05\x06", b""):
        return
    if real(output).is_relative_to(real(source)):
        raise _refuse(output, "a file of the source tree")
