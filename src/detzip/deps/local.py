"""Local packages — workspace members, path dependencies, the project itself — built into wheels
whose description depends on their content only.

A local package is a folder with a ``pyproject.toml`` (or a legacy ``setup.py``). Its files are
chosen by the same rules as a function's source tree (VCS folders, caches, build debris and
virtualenvs left out, ``.detzipignore`` honoured; also ``build/`` and ``dist/`` at its top) and
their content is hashed: that digest and the resolved build requirements are what the layer's
key holds for it — never its path, an mtime or the built wheel's bytes. Two checkouts give the
same key, a touch changes nothing, an edit changes the layer.

On a miss the hashed files are copied into a scratch folder (each checked against its digest
while it is copied: the bytes built are the bytes keyed) and built there by the package's own
PEP 517 backend in pip's isolated build (see :mod:`detzip.deps._pep517`): nothing is written into
the user's folder, and the backend cannot see files the key does not cover. The wheel is stored
by its sha256 and remembered for the content digest, so the next build with the same content
reuses it without building.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from detzip import _log as log
from detzip._datatype import datatype
from detzip._digest import file_sha256
from detzip._fs import NeverPack
from detzip._memo import Memo, TreeMemo
from detzip._scratch import Scratch
from detzip.deps import _pep517
from detzip.deps._source import local_files, source_sha256
from detzip.deps.locks.model import Pin
from detzip.errors import DetzipError, literal

if TYPE_CHECKING:
    from detzip.deps.store import WheelStore
    from detzip.inputs.walked import Walked

__all__ = ["LocalWheel", "build_local"]

_MEMO = "local-package"


@datatype
class LocalWheel:
    """A local package built into a wheel: what it is, the wheel, and what its bytes depend on:
    the ``source_sha256`` of its files and the ``build_requires`` as resolved for the build."""

    name: str
    version: str
    filename: str
    sha256: str
    path: Path
    source_sha256: str
    build_requires: tuple[str, ...]
    folder: Path  # for messages only: never described
    extras: frozenset[str] = frozenset()  # asked of it (their requirements must be met)

    @property
    def built(self) -> bool:
        """Built here: its members are recompressed canonically when installed."""
        return True

    def describe(self) -> dict[str, object]:
        """The package as the description lists it: name, version and what it was built from
        (not the wheel's bytes, which a build does not promise to repeat)."""
        return {
            "name": self.name,
            "version": self.version,
            "built_from": {
                "source_sha256": self.source_sha256,
                "build_requires": list(self.build_requires),
            },
        }


def build_local(
    pin: Pin,
    memo: Memo,
    store: WheelStore,
    options: Sequence[str],
    runtime: str,
    never_pack: NeverPack = frozenset(),
) -> LocalWheel:
    """The wheel of the local package ``pin`` names (``pin.local``): remembered for its content,
    else built now. ``pin.version`` (when the lock names one) must be what the build says.
    ``never_pack``: what is not its files (the output zip, the cache)."""
    assert pin.local is not None
    folder = pin.local
    files, tree_memo = _content(folder, pin, never_pack, memo)
    source = source_sha256(files)
    request = {"source_sha256": source, "options": list(options), "name": pin.name}
    remembered = memo.recall(_MEMO, request)
    requires: tuple[str, ...] | None = None
    if isinstance(remembered, dict):
        try:
            requires = tuple(str(r) for r in remembered["build_requires"])
            path = store.get(str(remembered["sha256"]))
            if path is not None:
                wheel = LocalWheel(str(remembered["name"]), str(remembered["version"]),
                                   path.name, str(remembered["sha256"]), path, source,
                                   requires, folder, pin.extras)  # fmt: skip
                _same_version(pin, wheel)
                return wheel
        except (KeyError, TypeError):
            requires = None  # not a memo of ours: build again
    try:
        wheel = _build(pin, folder, files.entries(), files.digests, source, requires, store,
                       options, runtime)  # fmt: skip
    except DetzipError:
        if tree_memo is not None:  # it may have vouched for a file with other bytes
            tree_memo.forget()
        raise
    _same_version(pin, wheel)
    value = {
        "name": wheel.name,
        "version": wheel.version,
        "sha256": wheel.sha256,
        "build_requires": list(wheel.build_requires),
    }
    memo.remember(_MEMO, request, [], value)
    return wheel


def _content(
    folder: Path, pin: Pin, never_pack: NeverPack, memos: Memo
) -> tuple[Walked, TreeMemo | None]:
    """The package's files (see :func:`~detzip.deps._source.local_files`), with their digests,
    and the stat memo they came from."""
    if not folder.is_dir():
        raise DetzipError(
            f"{pin.name} is a local package at {literal(str(folder))}, which is not a folder; "
            "fix the path in the lock (or lock again)",
            folder,
        )
    files, memo = local_files(folder, never_pack, memos)
    if not any(item.name in ("pyproject.toml", "setup.py") for item in files.items()):
        raise DetzipError(
            f"{pin.name}: the local package has neither pyproject.toml nor setup.py, so it "
            "cannot be built; fix the path, or add a pyproject.toml",
            folder,
        )
    return files, memo


def _build(
    pin: Pin,
    folder: Path,
    entries: Sequence[Any],
    digests: dict[str, str],
    source: str,
    pinned: tuple[str, ...] | None,
    store: WheelStore,
    options: Sequence[str],
    runtime: str,
) -> LocalWheel:
    from detzip.zip.entries import FromFile

    what = f"{pin.name} ({folder})"
    log.info("building local package %s", what)
    with Scratch("local") as work:
        copy = work / "src" / (pin.name or "package")
        copy.mkdir(parents=True)
        for entry in entries:
            target = copy / entry.name
            if entry.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            assert isinstance(entry.source, FromFile)
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_checked(entry.source.path, target, digests[entry.name], folder / entry.name)
            target.chmod(0o755 if entry.executable else 0o644)  # not the checkout's umask
        pyproject = copy / "pyproject.toml"
        data = pyproject.read_bytes() if pyproject.is_file() else None
        requires = _pep517.build_requires(data, folder / "pyproject.toml")
        vcs = _pep517.vcs_tools(requires)
        if vcs and not (copy / "PKG-INFO").is_file():
            raise DetzipError(
                f"{pin.name} takes its version from VCS metadata ({', '.join(vcs)}), which a "
                "build from its files alone cannot see (and a checkout without history would "
                "change); give it a static version in pyproject.toml",
                folder / "pyproject.toml",
            )
        if pinned is not None:
            pins = list(pinned)
        else:
            try:
                pins = _pep517.resolve_requires(requires, options, work)
            except DetzipError as exc:
                why = str(exc).split(": ", 1)[-1]
                raise DetzipError(
                    f"{pin.name}: its build requirements ({', '.join(requires)}) cannot be "
                    f"resolved ({literal(why)}); check them and the index options",
                    folder / "pyproject.toml",
                ) from None
        try:
            built = _pep517.build_wheel(copy, pins, options, work, f"local package {what}")
        except _pep517.NotPure as exc:
            raise DetzipError(
                f"{pin.name}: the local package does not build as a pure-Python wheel without "
                f"a compiler ({literal(exc.why)}); only pure packages can be built for "
                f"{runtime} here — fix its build, or publish wheels for the target",
                folder,
            ) from None
        try:
            name, version, _, _ = parse_wheel_filename(built.name)
        except InvalidWheelFilename:  # build_wheel checked it; a wheel name it is
            raise AssertionError(built.name) from None
        digest = file_sha256(built)
        stored = store.add(built, digest)
    return LocalWheel(canonicalize_name(name), str(version), stored.name, digest, stored, source,
                      tuple(pins), folder, pin.extras)  # fmt: skip


def _copy_checked(source: Path, target: Path, digest: str, shown: Path) -> None:
    """Copy a file, hashing it as it is read: other bytes than were keyed are an error."""
    sha = hashlib.sha256()
    try:
        with open(source, "rb") as reading, open(target, "wb") as writing:
            while chunk := reading.read(1 << 20):
                sha.update(chunk)
                writing.write(chunk)
    except OSError as exc:
        raise DetzipError(
            f"cannot read ({exc.strerror}); fix its permissions or exclude it", shown
        ) from None
    if sha.hexdigest() != digest:
        raise DetzipError("changed during the build; run again", shown)


def _same_version(pin: Pin, wheel: LocalWheel) -> None:
    """The lock's name and version of a local package must be what it builds as: a lock made
    before an edit to the version is stale."""
    if pin.version and canonicalize_version(pin.version) != canonicalize_version(wheel.version):
        raise DetzipError(
            f"{pin.name}: the lock says version {pin.version}, but the local package builds "
            f"{wheel.name} {wheel.version}; lock again",
            wheel.folder,
        )
    if pin.named and canonicalize_name(pin.name) != wheel.name:
        raise DetzipError(
            f"the local package is named {pin.name} where it is required, but it builds "
            f"{wheel.name}; fix the name (or lock again)",
            wheel.folder,
        )
