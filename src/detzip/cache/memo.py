"""The local cache's memos: what was worked out from input files, kept while they are unchanged.

- :meth:`Memo.recall` / :meth:`Memo.remember`: a value per request (a resolution, a local
  package's build) under ``<cache dir>/memo/``, trusted while every input file it names still
  has the sha256 it had (the files are hashed again on every recall);
- :meth:`Memo.tree`: a source tree's stat memo (:mod:`detzip.cache.stats`), which spares
  reading files whose stat is unchanged.

A memo only shortens the way to a key: a damaged or stale one is ignored, never trusted.
This module keeps its imports light: a hit recalls its resolution through it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip import _log as log
from detzip._fs import write_file
from detzip.cache.keys import canonical_json, sha256, sha256_of_file
from detzip.cache.layout import Layout

if TYPE_CHECKING:
    from detzip.cache.stats import StatMemo

__all__ = ["Memo"]


class Memo:
    """The memos of the local cache laid out as ``layout`` (see :class:`detzip._memo.Memo`)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def recall(self, kind: str, request: Mapping[str, Any]) -> Any:
        """What :meth:`remember` stored for ``request``, if none of its input files changed."""
        try:
            memo = json.loads(self._path(kind, request).read_text(encoding="utf-8"))
            if memo["request"] != json.loads(canonical_json(dict(request))):
                return None
            for path, digest in memo["inputs"]:
                with open(path, "rb") as handle:
                    if sha256_of_file(handle) != digest:
                        return None
            return memo["value"]
        except (OSError, ValueError, TypeError, KeyError, RecursionError):  # gone, or not a memo
            return None

    def remember(
        self, kind: str, request: Mapping[str, Any], inputs: Sequence[Path], value: Any
    ) -> None:
        """Remember ``value`` for ``request`` as long as the ``inputs`` files keep their bytes."""
        try:
            hashed = []
            for path in inputs:
                with open(path, "rb") as handle:
                    hashed.append([str(path), sha256_of_file(handle)])
            memo = {"request": dict(request), "inputs": hashed, "value": value}
            write_file(self._path(kind, request), canonical_json(memo))
        except OSError as exc:
            log.debug("cannot remember %s: %s", kind, exc)

    def tree(self, root: Path, describe: Mapping[str, Any]) -> StatMemo:
        """The stat memo of the tree at ``root`` walked as ``describe`` says (see
        :mod:`detzip.cache.stats`). Take it before the walk: its clock starts then."""
        from detzip.cache.stats import StatMemo, memo_name

        return StatMemo(self.layout.stat_memo(memo_name(root, describe)))

    def _path(self, kind: str, request: Mapping[str, Any]) -> Path:
        digest = sha256(canonical_json(dict(request))).hexdigest()
        return self.layout.memo_file(kind, digest)
