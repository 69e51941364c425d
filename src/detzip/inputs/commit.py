"""A folder as a git commit holds it (``--from-git REV``): exactly its blobs, modes and links,
whatever the working tree holds or the file system can represent.

The commit's files under the folder are chosen by the tree's rules (default excludes, the
``.detzipignore`` as committed, the caller's patterns; a folder holding a ``pyvenv.cfg`` is a
virtualenv). A link is followed inside the commit, as a checkout with links would follow it: to
a file (packed under the link's name, with the target's bytes and mode) or to a folder (its
files packed under the link's name). A link that leaves the folder, dangles or loops, and a
submodule (whose files are not in the commit), are errors naming them.

The files' digests are remembered for the commit (its id is its content's), so a build of a
commit built before asks git for its id only; their bytes are copied out of git into a scratch
folder only when a zip is written.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip._datatype import replace
from detzip._memo import GitFiles, Memo, Remembered, Snapshot
from detzip.errors import DetzipError, literal
from detzip.inputs.git import EXECUTABLE, LINK, SUBMODULE, CommitFile, commit_tree
from detzip.inputs.tree import IGNORE_FILE, TreeSpec, check_names, ignore_lines, matchers
from detzip.inputs.walked import Walked
from detzip.zip.entries import Entry
from detzip.zip.names import nfc, normalize_prefix

if TYPE_CHECKING:
    from detzip._scratch import Scratch
    from detzip.inputs._patterns import Matcher
    from detzip.inputs.git import GitTree

__all__ = ["walk_commit"]

_MEMO = "commit-tree"
_MOST_LINKS = 40  # as Linux's limit on following links


def walk_commit(folder: Path, tree: TreeSpec, rev: str, memo: Memo) -> tuple[Walked, TreeSpec]:
    """The files of commit ``rev`` under ``folder``, chosen as ``tree`` says, and ``tree`` with
    the committed ignore file's patterns (what the description lists)."""
    git, files = commit_tree(folder, rev)
    by_path = {f.path: f for f in files}
    patterns: tuple[str, ...] = ()
    ignore = by_path.get(IGNORE_FILE)
    if tree.ignore_file and ignore is not None and ignore.mode != LINK:
        text = git.blob(ignore.oid).decode("utf-8", "replace")
        patterns = tuple(ignore_lines(text))
    tree = replace(tree, ignore_patterns=patterns)
    request = {"commit": git.commit, "folder": str(folder.resolve()), "tree": tree.describe(folder)}
    remembered = memo.recall(_MEMO, request)
    chosen = _from_memo(remembered)
    scratch: Scratch | None = None
    copies: dict[str, Path] | None = None  # (a miss: the blobs already copied out of git)
    if chosen is None:
        from detzip._scratch import Scratch

        scratch = Scratch("git")
        try:
            chosen, copies = _digests(git.top, _choose(git, folder, tree, files, by_path), scratch)
        except BaseException:
            scratch.cleanup()
            raise
        memo.remember(_MEMO, request, [], [list(item) for item in chosen])
    prefix = normalize_prefix(tree.prefix)
    items: list[Remembered] = []
    blobs: dict[str, tuple[bool, str | None, str]] = {}
    for name, executable, oid, sha, size in chosen:
        items.append((prefix + name, executable, sha, "", size))
        blobs[prefix + name] = (executable, oid, sha)
    gitfiles: GitFiles = (str(git.top), blobs)
    walked = Walked(
        folder,
        {name: sha for name, _, sha, _, _ in items if sha is not None},
        snapshot=Snapshot(lambda: items, None, lambda: gitfiles),
        scratch=scratch,
        exported=None
        if copies is None
        else {prefix + name: copies[oid] for name, _, oid, _, _ in chosen},
    )
    check_names([Entry.data(name, b"") for name, *_ in items], folder)
    return walked, tree


Chosen = tuple[str, bool, str, str, int]
"""A file of the commit to pack: (name under the folder, executable, blob id, sha256, size)."""


def _from_memo(value: Any) -> list[Chosen] | None:
    if not isinstance(value, list):
        return None
    try:
        return [(str(n), bool(x), str(o), str(s), int(z)) for n, x, o, s, z in value]
    except (TypeError, ValueError):
        return None


def _digests(
    top: Path, chosen: list[tuple[str, bool, str]], scratch: Scratch
) -> tuple[list[Chosen], dict[str, Path]]:
    """Each chosen blob's sha256 and size, read once out of git into ``scratch`` (the copies,
    by blob id, are what the build packs)."""
    from detzip.inputs.git import export_blobs

    copies = export_blobs(top, (oid for _, _, oid in chosen), scratch.path)
    digests = [
        (name, x, oid, copies[oid][1], copies[oid][0].stat().st_size) for name, x, oid in chosen
    ]
    return digests, {oid: path for oid, (path, _) in copies.items()}


def _choose(
    git: GitTree,
    folder: Path,
    tree: TreeSpec,
    files: list[CommitFile],
    by_path: dict[str, CommitFile],
) -> list[tuple[str, bool, str]]:
    """(name, executable, blob id) of each file to pack, links followed inside the commit."""
    exclude, include = matchers(tree, folder)
    folders = {posixpath.dirname(f.path) for f in files}
    venvs = {
        posixpath.dirname(f.path)
        for f in files
        if tree.default_excludes and posixpath.basename(f.path) == "pyvenv.cfg"
    }
    left_out: dict[str, bool] = {}

    def excluded(path: str) -> bool:
        """Whether a folder on the way to ``path`` is left out."""
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            here = "/".join(parts[:i])
            if here not in left_out:
                left_out[here] = here in venvs or bool(exclude.match_file(here + "/"))
            if left_out[here]:
                return True
        return False

    chosen: list[tuple[str, bool, str]] = []
    for f in files:
        name = nfc(f.path)
        if excluded(name) or exclude.match_file(name):
            continue
        if f.mode == SUBMODULE:
            raise DetzipError(
                f"{literal(f.path)} is a submodule: its files are not in the commit, so "
                "from_git cannot pack them; exclude it or build from the working tree",
                folder / f.path,
            )
        targets = _follow(git, folder, f, by_path, folders)
        for rel, mode, oid in targets:
            packed = nfc(rel)
            if include is not None and not _included(include, packed):
                continue
            if rel != f.path and (excluded(packed) or exclude.match_file(packed)):
                continue
            chosen.append((packed, mode == EXECUTABLE, oid))
    return chosen


def _included(include: Matcher, name: str) -> bool:
    return bool(include.match_file(name))


def _follow(
    git: GitTree,
    folder: Path,
    f: CommitFile,
    by_path: dict[str, CommitFile],
    folders: set[str],
    depth: int = 0,
) -> list[tuple[str, int, str]]:
    """What ``f`` packs: itself, or for a link what it leads to in the commit, as (name, mode,
    blob id)."""
    if f.mode != LINK:
        return [(f.path, f.mode, f.oid)]
    if depth >= _MOST_LINKS:
        raise DetzipError(
            "symlink loop in the commit; remove the link or exclude it", folder / f.path
        )
    target = os.fsdecode(git.blob(f.oid))
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(f.path), target))
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise DetzipError(
            f"symlink points outside the folder in the commit (to {literal(target)}); from_git "
            "follows links only inside it: exclude it or copy the target in",
            folder / f.path,
        )
    if resolved in by_path:
        return [
            (f.path, mode, oid)
            for _, mode, oid in _follow(git, folder, by_path[resolved], by_path, folders, depth + 1)
        ]
    inside = resolved + "/"
    if resolved == "." or any(d == resolved or d.startswith(inside) for d in folders):
        if resolved == "." or (f.path + "/").startswith(inside):
            raise DetzipError(
                f"symlink loop in the commit (leads back to {literal(target)}); remove the link "
                "or exclude it",
                folder / f.path,
            )
        found: list[tuple[str, int, str]] = []
        for path, other in by_path.items():
            if path.startswith(inside):
                for _, mode, oid in _follow(git, folder, other, by_path, folders, depth + 1):
                    found.append((f.path + "/" + path[len(inside) :], mode, oid))
        return found
    raise DetzipError(
        f"broken symlink in the commit (points to {target}); fix or exclude it", folder / f.path
    )
