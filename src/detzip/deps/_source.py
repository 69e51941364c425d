"""A local package's files, and the digest of them all: what its wheel and a layer's key depend
on (see :mod:`detzip.deps.local`). Light on purpose: a cache hit checks its local packages with
it, without packaging, and without pathspec while the stat memo vouches for the folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from detzip._fs import identities
from detzip.inputs.tree import TreeSpec, Walked, collect, fingerprint_items, walk
from detzip.zip.entries import fingerprint

if TYPE_CHECKING:
    from detzip.deps.resolution import Memo
    from detzip.inputs.tree import TreeMemo

__all__ = ["BUILD_OUTPUTS", "local_files"]

#: a local package's own build outputs, never part of its source
BUILD_OUTPUTS = ("/build/", "/dist/")


def local_files(
    folder: Path, never_pack: Sequence[Path], memos: Memo
) -> tuple[Walked, dict[str, str], str, TreeMemo | None]:
    """The package's files as a function's tree rules choose them (its build outputs left out,
    links followed; a ``.detzipignore`` is not read: the package's own build decides what its
    wheel holds; their entries are made only when asked for: a hit needs none), each file's
    sha256 by name, the sha256 of them all, and the stat memo they came from (to forget if a
    file turns out to hold other bytes). While the stat memo vouches for the folder, nothing
    is walked nor read again."""
    skip = identities(*never_pack)
    tree = TreeSpec(
        exclude=BUILD_OUTPUTS,
        ignore_file=False,
        allow_outside_links=True,  # what a link points to is hashed and copied like a file
        skip_files=skip,
        skip_dirs=skip,
    ).resolved(folder)
    digests: dict[str, str] = {}
    memo = memos.tree_memo(folder, tree.describe(folder))
    if memo is None:  # no cache: walk and read
        entries = collect(folder, tree)
        source = str(fingerprint(entries, digests)["sha256"])
        items = [(e.name, e.executable, digests.get(e.name)) for e in entries]
        return Walked(folder, items, entries, None), digests, source, None
    walked = walk(folder, tree, memo, digests)
    memo.save()
    return walked, digests, str(fingerprint_items(walked.items)["sha256"]), memo
