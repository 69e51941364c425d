"""A local package's files, and the digest of them all: what its wheel and a layer's key depend
on (see :mod:`detzip.deps.local`). Light on purpose: a cache hit checks its local packages with
it, without packaging, and without pathspec while the stat memo vouches for the folder."""

from __future__ import annotations

from pathlib import Path

from detzip._fs import NeverPack
from detzip._memo import Memo, TreeMemo
from detzip.inputs.tree import TreeSpec
from detzip.inputs.walked import Walked, walk

__all__ = ["BUILD_OUTPUTS", "local_files", "source_sha256"]

#: a local package's own build outputs, never part of its source
BUILD_OUTPUTS = ("/build/", "/dist/")


def local_files(folder: Path, never_pack: NeverPack, memos: Memo) -> tuple[Walked, TreeMemo | None]:
    """The package's files as a function's tree rules choose them (its build outputs left out,
    links followed; a ``.detzipignore`` is not read: the package's own build decides what its
    wheel holds), every one's digest known (:meth:`Walked.fingerprint` is the digest of them
    all; their entries are made only when asked for: a hit needs none), and the stat memo they
    came from (to forget if a file turns out to hold other bytes). While the stat memo vouches
    for the folder, nothing is walked nor read again."""
    tree = TreeSpec(
        exclude=BUILD_OUTPUTS,
        ignore_file=False,
        allow_outside_links=True,  # what a link points to is hashed and copied like a file
        never_pack=never_pack,
    ).resolved(folder)
    memo = memos.tree(folder, tree.describe(folder))
    walked = walk(folder, tree, memo)
    if memo is None:  # no cache: every file read now
        walked.read()
    else:
        memo.save()
    return walked, memo


def source_sha256(walked: Walked) -> str:
    """The digest of all of a local package's files (see :func:`local_files`)."""
    return str(walked.fingerprint()["sha256"])
