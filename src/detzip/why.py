"""Why did it change: what went into the last build of an artifact, against what would go in now.

Every build's record (in the local cache, beside its zip) holds the description its key was made
from: the zip options, each source folder's patterns and a fingerprint of its files, a layer's
(or bundled) packages and its target. :func:`why_artifact` finds the last build's record, works
out the description of a build now — as :func:`detzip.builder.describe` does, reading the files
and the lock, never building the zip — and names each difference. The
description holds one fingerprint for all of a folder's files, not a list of them: which files
changed is found by comparing the last build's zip (the output, or the cache's copy, while it
still holds the recorded bytes) with the files as the build walks them now. :func:`why_zips`
does the same for two zips with records, their files compared by :func:`detzip.zip.diff.diff_zips`.

It reads; it never writes a zip, a cache entry, a memo, a wheel or an output: the cache's memos
(the stat memo, remembered resolutions) are read and never written, and a lock whose pins leave
the choice of a wheel to pip, or a local package whose files changed, is described as a build
describes it, with the cache's wheels copied (each checked) into a scratch store and whatever pip
fetches or builds kept there, removed when the process ends (``cache_write = "none"``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
import zipfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from detzip._datatype import datatype
from detzip._memo import GitFiles, Memo, Remembered, Snapshot, TreeMemo
from detzip.errors import DetzipError

if TYPE_CHECKING:
    from detzip.cache.local import Cache
    from detzip.kinds import Input
    from detzip.spec import ArtifactSpec
    from detzip.zip.diff import Difference

__all__ = [
    "KINDS",
    "Change",
    "Current",
    "LastBuild",
    "Report",
    "compare_descriptions",
    "compare_files",
    "compare_versions",
    "current_files",
    "find_record",
    "last_build",
    "packaged_names",
    "reading_cache",
    "version_of",
    "why_artifact",
    "why_zips",
]

#: the order kinds of change are listed in: what changes every byte first, files last
KINDS = (
    "format",
    "detzip",
    "target",
    "option",
    "package removed",
    "package added",
    "package",
    "folder removed",
    "folder added",
    "file removed",
    "file added",
    "file changed",
    "exec bit",
    "content",
    "zip",
)
#: the kinds that name a path in the zip (``path`` in JSON); the others name a ``name``
_PATH_KINDS = frozenset(
    {"folder removed", "folder added", "file removed", "file added", "file changed", "exec bit"}
)
#: description keys that are the target
_TARGET = ("runtime", "arch")
#: description keys that are detzip's own format, not an option (another version of detzip)
_FORMAT = ("format", "compressor_identity", "checked")
#: a pyc ``compile`` adds beside a packed ``.py``
_PYC = re.compile(r"(?:^|/)__pycache__/[^/]+\.cpython-\d+\.pyc\Z")
_CHUNK = 1 << 20


@datatype
class Change:
    """One difference between the last build's inputs (``old``) and today's (``new``): ``kind``
    is one of :data:`KINDS`, ``name`` the path in the zip, the package or the option; ``old``
    or ``new`` is None where there is nothing on that side (a file added has no ``old``)."""

    kind: str
    name: str
    old: str | None = None
    new: str | None = None

    def sort_key(self) -> tuple[int, str, str, str]:
        """Where the change is listed: by kind (:data:`KINDS`), then name."""
        rank = KINDS.index(self.kind) if self.kind in KINDS else len(KINDS)
        return rank, self.name, self.old or "", self.new or ""

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready: ``kind``, ``path`` (a file's) or ``name``, ``old``, ``new``."""
        where = "path" if self.kind in _PATH_KINDS else "name"
        return {"kind": self.kind, where: self.name, "old": self.old, "new": self.new}

    def render(self) -> str:
        """One line, e.g. ``file changed: app.py (1,204 bytes → 1,210 bytes)``."""
        if self.kind in ("package added", "package removed"):
            return f"{self.kind}: {self.name} {self.new or self.old}"
        if self.kind in ("file added", "folder added"):
            return f"{self.kind}: {self.name}" + (f" ({self.new})" if self.new else "")
        if self.kind in ("file removed", "folder removed"):
            return f"{self.kind}: {self.name}" + (f" ({self.old})" if self.old else "")
        if self.kind == "file changed":
            return f"{self.kind}: {self.name} ({self.old} → {self.new})"
        if self.kind == "exec bit":
            now = "now executable" if self.new == "executable" else "no longer executable"
            return f"exec bit: {self.name} ({now})"
        if self.kind == "detzip":
            return f"detzip: {self.old} → {self.new}"
        before = "(none)" if self.old is None else self.old
        after = "(none)" if self.new is None else self.new
        return f"{self.kind}: {self.name} {before} → {after}"


def _sorted(changes: Iterable[Change]) -> list[Change]:
    return sorted(set(changes), key=Change.sort_key)


# -- descriptions --------------------------------------------------------------------------------


def _shown(value: Any) -> str | None:
    """A description's value as one short line: booleans as TOML writes them, lists as JSON
    (None: absent)."""
    if value is _ABSENT:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_ABSENT: Any = object()


def compare_descriptions(
    old: Mapping[str, Any], new: Mapping[str, Any], where: str = ""
) -> list[Change]:
    """Every difference between two build descriptions (a record's ``options``), but the
    files' fingerprint (``content``): options, target, format, packages, bytecode; nested
    descriptions (bundled ``dependencies``, each of ``extra_sources``) with their keys
    prefixed (``dependencies.exclude_packages``, ``extra_sources[0].exclude``)."""
    changes: list[Change] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if a == b or key == "content":
            continue
        if key == "packages":
            changes += _packages(_list(a), _list(b))
        elif key == "dependencies":
            if a is _ABSENT or b is _ABSENT:  # bundled or not: which packages, not each option
                count = len(_list(_dict(b if a is _ABSENT else a).get("packages")))
                bundled = f"bundled ({count} packages)"
                sides = ("none", bundled) if a is _ABSENT else (bundled, "none")
                changes.append(Change("option", "requirements", *sides))
                changes += _packages(
                    _list(_dict(a).get("packages")), _list(_dict(b).get("packages"))
                )
            else:
                changes += compare_descriptions(_dict(a), _dict(b), f"{where}dependencies.")
        elif (
            key == "extra_sources"
            and isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
        ):
            for i, (one, other) in enumerate(zip(a, b, strict=True)):
                changes += compare_descriptions(
                    _dict(one), _dict(other), f"{where}extra_sources[{i}]."
                )
        elif key == "bytecode":
            changes += _bytecode(a, b)
        elif key in _TARGET:
            changes.append(Change("target", key, _shown(a), _shown(b)))
        elif key in _FORMAT:
            changes.append(Change("format", key, _shown(a), _shown(b)))
        else:
            changes.append(Change("option", where + key, _shown(a), _shown(b)))
    return _sorted(changes)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _bytecode(a: Any, b: Any) -> list[Change]:
    """``compile`` turned on or off; else its mode and the compiling Python."""
    if a is _ABSENT or b is _ABSENT:
        sides = ("false", "true") if a is _ABSENT else ("true", "false")
        return [Change("option", "compile", *sides)]
    old, new = _dict(a), _dict(b)
    changes = []
    for key, kind, name in (
        ("mode", "option", "invalidation"),
        ("python", "target", "python (compiling)"),
        ("magic", "target", "python (bytecode magic)"),
    ):
        if key == "magic" and old.get("python") != new.get("python"):
            continue  # (another Python: its magic says nothing more)
        if old.get(key) != new.get(key):
            before, after = _shown(old.get(key, _ABSENT)), _shown(new.get(key, _ABSENT))
            changes.append(Change(kind, name, before, after))
    return changes


def _package_text(package: Mapping[str, Any]) -> str:
    """How a package is shown: its version and what it is installed from."""
    version = str(package.get("version", "?"))
    if "wheel" in package:
        return f"{version} ({package['wheel']})"
    built = _dict(package.get("built_from"))
    source = built.get("source_sha256")
    return f"{version} (local, files {str(source)[:12]})" if source else version


def _packages(old: Sequence[Any], new: Sequence[Any]) -> list[Change]:
    """Packages added, removed, or changed: version, wheel, the wheel's bytes, what a local
    package or an sdist was built from."""
    before = {str(p.get("name")): p for p in old if isinstance(p, dict)}
    after = {str(p.get("name")): p for p in new if isinstance(p, dict)}
    changes = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a == b:
            continue
        if a is None:
            changes.append(Change("package added", name, None, _package_text(b or {})))
        elif b is None:
            changes.append(Change("package removed", name, _package_text(a), None))
        else:
            old_text, new_text = _package_text(a), _package_text(b)
            if old_text == new_text:  # the same file name: its bytes, or what it was built from
                if a.get("sha256") != b.get("sha256"):
                    old_text += f" sha256 {str(a.get('sha256'))[:12]}"
                    new_text += f" sha256 {str(b.get('sha256'))[:12]}"
                else:
                    old_text += f" built from {_shown(a.get('built_from', _ABSENT))}"
                    new_text += f" built from {_shown(b.get('built_from', _ABSENT))}"
            changes.append(Change("package", name, old_text, new_text))
    return changes


def compare_versions(
    old: Mapping[str, Any], version: str | None, key_version: int | None
) -> list[Change]:
    """The detzip version (from the record's ``provenance``, where it has one) and the cache
    key's version (``detzip-cache-entry``) of the record ``old``, against ``version`` and
    ``key_version`` (None: unknown, not compared)."""
    changes = []
    before = version_of(old)
    if before is not None and version is not None and before != version:
        changes.append(Change("detzip", "detzip", before, version))
    entry = old.get("detzip-cache-entry")
    if isinstance(entry, int) and key_version is not None and entry != key_version:
        changes.append(Change("format", "cache key version", str(entry), str(key_version)))
    return changes


def version_of(record: Mapping[str, Any]) -> str | None:
    """The detzip version that built ``record``, from its ``provenance`` (None: not said)."""
    provenance = _dict(record.get("provenance"))
    for key in ("detzip", "detzip_version", "version"):
        if isinstance(provenance.get(key), str):
            return str(provenance[key])
    return None


# -- files ---------------------------------------------------------------------------------------


class Current(NamedTuple):
    """A path a build now packs: a file's sha256 and size, or an empty ``folder``."""

    executable: bool
    sha256: str | None
    size: int
    folder: bool = False


class _Member(NamedTuple):
    executable: bool
    size: int
    info: zipfile.ZipInfo | None  # None: a folder


def _members(archive: zipfile.ZipFile, ignore: Collection[str]) -> dict[str, _Member]:
    found = {}
    for info in archive.infolist():
        if info.filename in ignore:
            continue
        executable = info.create_system == 3 and bool((info.external_attr >> 16) & 0o111)
        if info.is_dir():
            found[info.filename] = _Member(False, 0, None)
        else:
            found[info.filename] = _Member(executable, info.file_size, info)
    return found


def _empty_folders(names: Iterable[str], files: Iterable[str]) -> set[str]:
    """The folders (names ending in ``/``) that hold none of ``files``: only an empty folder
    is packed as an entry of its own (format 1 wrote one for every folder)."""
    holding = {file[: i + 1] for file in files for i, c in enumerate(file) if c == "/"}
    return {name for name in names if name not in holding}


def _member_sha256(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    digest = hashlib.sha256()
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError):
        return None
    return digest.hexdigest()


def packaged_names(archive: zipfile.ZipFile) -> set[str]:
    """The members a zip's installed packages own: every ``*.dist-info/RECORD`` row's path,
    under the folder that RECORD's ``.dist-info`` is in (a layer's ``python/``)."""
    owned: set[str] = set()
    for name in archive.namelist():
        if not name.endswith(".dist-info/RECORD") or name.count(".dist-info/") != 1:
            continue
        root = name[: name.rfind("/", 0, name.index(".dist-info/")) + 1]
        try:
            text = archive.read(name).decode("utf-8", "replace")
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError):
            continue
        for row in csv.reader(io.StringIO(text)):
            if row:
                owned.add(root + row[0])
        folder = name[: -len("RECORD")]
        owned.update(n for n in archive.namelist() if n.startswith(folder))
    return owned


def compare_files(
    old_zip: Path, now: Mapping[str, Current], *, packaged: bool, bytecode: bool
) -> list[Change]:
    """The files of the last build's zip against the files a build packs now (by archive
    name): added, removed, changed (size, then content), exec bit, empty folders. Members a
    bundled package installed (``packaged``) and pycs ``compile`` made (``bytecode``) are left
    out: the packages and the options say what changed there."""
    from detzip.zip.diff import open_zip

    changes = []
    with open_zip(old_zip) as archive:
        ignore: set[str] = packaged_names(archive) if packaged else set()
        if bytecode:
            ignore.update(n for n in archive.namelist() if _PYC.search(n) and n not in now)
        members = _members(archive, ignore)
        old_files = [n for n, m in members.items() if m.info is not None]
        new_files = [n for n, c in now.items() if not c.folder]
        old_folders = _empty_folders((n for n, m in members.items() if m.info is None), old_files)
        new_folders = _empty_folders((n for n, c in now.items() if c.folder), new_files)
        for name in sorted(old_folders - new_folders):
            changes.append(Change("folder removed", name))
        for name in sorted(new_folders - old_folders):
            changes.append(Change("folder added", name))
        for name in old_files:
            member = members[name]
            current = now.get(name)
            if current is None or current.folder:
                changes.append(Change("file removed", name, f"{member.size:,} bytes"))
                continue
            if member.size != current.size:
                changes.append(
                    Change(
                        "file changed", name, f"{member.size:,} bytes", f"{current.size:,} bytes"
                    )
                )
            elif member.info is not None:
                old_sha = _member_sha256(archive, member.info)
                if old_sha != current.sha256:
                    size = f"{member.size:,} bytes"
                    changes.append(
                        Change(
                            "file changed",
                            name,
                            f"{size}, sha256 {str(old_sha)[:12]}",
                            f"{size}, sha256 {str(current.sha256)[:12]}",
                        )
                    )
            if member.executable != current.executable:
                before, after = _exec(member.executable), _exec(current.executable)
                changes.append(Change("exec bit", name, before, after))
        for name in new_files:
            if name not in members:
                changes.append(Change("file added", name, None, f"{now[name].size:,} bytes"))
    return _sorted(changes)


def _exec(executable: bool) -> str:
    return "executable" if executable else "not executable"


def current_files(source: Input) -> dict[str, Current] | None:
    """The paths a function's source folders pack now (after :meth:`Input.describe`: every
    file's digest known), by archive name; None for a layer (its packages say it all)."""
    from detzip.kinds import Compiled, FunctionInput

    inner = source.inner if isinstance(source, Compiled) else source
    if not isinstance(inner, FunctionInput):
        return None
    found: dict[str, Current] = {}
    for part in reversed(inner.parts):  # (a folder two of them share: listed once)
        sizes = {entry.name: entry.unzipped_hint for entry in part.entries()}
        for item in part.items():
            found[item.name] = Current(
                item.executable, item.sha256, sizes.get(item.name, 0), item.folder
            )
    return found


# -- records -------------------------------------------------------------------------------------


class LastBuild(NamedTuple):
    """The last build's record and where it was found: ``record_path`` (its ``.json`` in the
    cache), ``zip`` (a file holding its recorded bytes, None if none is left) and ``how``
    (why this record: what the user is told)."""

    record: dict[str, Any]
    record_path: Path
    zip: Path | None
    how: str


def _records(folder: Path) -> list[Path]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [folder / n for n in sorted(names) if n.endswith(".json") and not n.startswith(".")]


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("options"), dict):
        return None
    return record


def _sha256(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def find_record(
    artifacts: Path, sha256: str, name: str | None = None
) -> tuple[dict[str, Any], Path] | None:
    """The record in the cache folder ``artifacts`` of the zip whose sha256 is ``sha256`` (one
    of ``name``'s first, when several names hold it); None if there is none. Each record is
    read (a cache holds hundreds, not millions): ``name``'s first, then the others."""
    from detzip.cache.keys import safe_name

    paths = _records(artifacts)
    if name is not None:
        prefix = f"{safe_name(name)}-"
        paths = sorted(paths, key=lambda path: not path.name.startswith(prefix))  # (stable)
    fallback = None
    for path in paths:
        record = _read_record(path)
        if record is None or record.get("sha256") != sha256:
            continue
        if name is None or record.get("name") == name:
            return record, path
        fallback = fallback or (record, path)
    return fallback


def _zip_of(record: Mapping[str, Any], record_path: Path, output: Path | None) -> Path | None:
    """A file that holds the recorded zip: the output, else the cache's copy (each checked
    against the recorded sha256)."""
    for candidate in (output, record_path.with_suffix(".zip")):
        if candidate is None:
            continue
        try:
            if candidate.stat().st_size != record.get("size"):
                continue
        except OSError:
            continue
        if _sha256(candidate) == record.get("sha256"):
            return candidate
    return None


def last_build(name: str, output: Path, artifacts: Path) -> LastBuild:
    """The last build of ``name``: the record of the zip at ``output`` (found in the cache
    folder ``artifacts`` by its sha256), else the newest record of ``name`` there (and ``how``
    says so). None found: a :class:`DetzipError` saying to build it once."""
    from detzip.cache.keys import safe_name

    sha = _sha256(output) if output.is_file() else None
    if sha is not None:
        found = find_record(artifacts, sha, name)
        if found is not None:
            record, path = found
            return LastBuild(record, path, output, f"the build of {_shown_path(output)}")
    newest: tuple[float, str, dict[str, Any], Path] | None = None
    for path in _records(artifacts):
        if not path.name.startswith(f"{safe_name(name)}-"):
            continue
        candidate = _read_record(path)
        if candidate is None or candidate.get("name") != name:
            continue
        try:
            when = path.stat().st_mtime
        except OSError:
            continue
        if newest is None or (when, path.name) > newest[:2]:
            newest = (when, path.name, candidate, path)
    if newest is None:
        missing = "is missing" if sha is None else "holds a zip the cache has no record of"
        raise DetzipError(
            f"no record of a build of {name} in the cache ({artifacts}), and {output} "
            f"{missing}; build it once (detzip build {name}), then ask again",
        )
    when, _, record, path = newest
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))
    why = "is missing" if sha is None else "holds a zip the cache has no record of"
    how = (
        f"{_shown_path(output)} {why}: the newest record of {name}, {path.name} (last used {stamp})"
    )
    return LastBuild(record, path, _zip_of(record, path, None), how)


def _shown_path(path: Path) -> str:
    """``path`` as the user would write it here: relative to the working folder when inside it."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


# -- reports -------------------------------------------------------------------------------------


@datatype(slots=False)
class Report:
    """What ``detzip why`` says: what was compared (``name``; ``since``: against what, e.g.
    ``since the last build``; ``basis``: where the old side's record was found), both sides'
    keys, and every change (sorted: :meth:`Change.sort_key`)."""

    name: str
    since: str
    basis: str
    old_key: str | None
    new_key: str | None
    changes: list[Change]
    notes: list[str]
    provenance: dict[str, Any] | None = None

    @property
    def same_key(self) -> bool:
        """Whether both sides have one key: a build now gives the last build's bytes."""
        return self.old_key is not None and self.old_key == self.new_key

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``detzip why --json``): the keys, ``changed``, ``differences`` (each
        ``kind``, ``path`` or ``name``, ``old``, ``new``), notes, and the old record's
        ``provenance`` (who built it, where, when; None if it has none)."""
        return {
            "name": self.name,
            "basis": self.basis,
            "old_key": self.old_key,
            "new_key": self.new_key,
            "same_key": self.same_key,
            "changed": bool(self.changes),
            "differences": [change.to_dict() for change in self.changes],
            "notes": list(self.notes),
            "provenance": self.provenance,
        }

    def render(self) -> str:
        """One line saying what was compared and how many changes, then one line per change,
        then the notes."""
        if self.same_key:
            keys = f"key {_short(self.old_key)}, the same: the same bytes; {self.basis}"
        else:
            keys = f"key {_short(self.old_key)} → {_short(self.new_key)}; {self.basis}"
        count = len(self.changes)
        said = "nothing changed" if not count else f"{count} change{'s' if count > 1 else ''}"
        lines = [f"{self.name}: {said} {self.since} ({keys})"]
        lines += [change.render() for change in self.changes]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _short(key: str | None) -> str:
    return "unknown" if key is None else key[:16]


class _ReadingMemo:
    """The cache's memo, read and never written: what a build would remember, ``why`` only
    reads (a hit's stat memo spares reading unchanged files)."""

    def __init__(self, inner: Memo) -> None:
        self.inner = inner

    def recall(self, kind: str, request: Mapping[str, Any]) -> Any:
        return self.inner.recall(kind, request)

    def remember(
        self, kind: str, request: Mapping[str, Any], inputs: Sequence[Path], value: Any
    ) -> None:
        return None

    def tree(self, root: Path, describe: Mapping[str, Any]) -> TreeMemo | None:
        found = self.inner.tree(root, describe)
        return None if found is None else _ReadingTree(found)


class _ReadingTree:
    """A tree's stat memo, read and never saved nor forgotten."""

    def __init__(self, inner: TreeMemo) -> None:
        self.inner = inner

    def snapshot(self, never_pack: Collection[tuple[int, int]]) -> Snapshot | None:
        return self.inner.snapshot(never_pack)

    def digest(self, name: str, path: str | Path, info: os.stat_result | None = None) -> str:
        return self.inner.digest(name, path, info)

    def hashes(
        self, name: str, path: str | Path, info: os.stat_result | None, object_format: str
    ) -> tuple[str, str]:
        return self.inner.hashes(name, path, info, object_format)

    def walked(
        self,
        folders: Iterable[tuple[str, os.stat_result]],
        items: list[Remembered],
        skipped: Iterable[str],
        git: GitFiles | None = None,
    ) -> None:
        self.inner.walked(folders, items, skipped, git)

    def fingerprinted(self, fingerprint: dict[str, object]) -> None:
        return None

    def save(self) -> None:
        return None

    def forget(self) -> None:
        return None


def reading_cache(root: Path) -> Cache:
    """The local cache at ``root`` for reading only: no artifacts (nothing is served or
    stored), its memos read and never written, its wheels copied (each checked) into a scratch
    store for this run and whatever pip fetches kept there, nothing created in ``root``."""
    from detzip.cache.layout import Layout
    from detzip.cache.local import Cache
    from detzip.cache.memo import Memo as CacheMemo

    cache = Cache(root, enabled=False, write="none")  # (the folder is neither made nor marked)
    cache.memo = _ReadingMemo(CacheMemo(Layout.at(root)))
    return cache


def why_artifact(
    spec: ArtifactSpec, cache_root: Path, *, never_pack: Sequence[Path] = ()
) -> Report:
    """The inputs of the last build of ``spec``'s artifact against what a build of ``spec``
    would take now (see the module's docstring). ``cache_root``: the local cache folder the
    builds keep their records in; ``never_pack`` as for :func:`detzip.builder.build`."""
    from detzip import __version__, _fs
    from detzip.cache.keys import KEY_VERSION, cache_key
    from detzip.cache.layout import Layout
    from detzip.kinds import input_for

    name = spec.artifact_name
    last = last_build(name, Path(spec.output), Layout.at(cache_root).artifacts)
    store = reading_cache(cache_root)
    source = input_for(spec, store, _fs.never_pack(spec.output, store.root, *never_pack))
    description = {**spec.zip_options().describe(), **source.describe()}  # (builder.describe's)
    key = cache_key(spec.kind, description)
    old = last.record["options"]
    old_key = last.record.get("key") if isinstance(last.record.get("key"), str) else None
    changes = compare_versions(last.record, __version__, KEY_VERSION)
    notes: list[str] = []
    if old_key != key:
        changes += compare_descriptions(old, description)
        changes += _file_changes(old, description, last, source, notes)
    provenance = last.record.get("provenance")
    return Report(
        name,
        "since the last build",
        last.how,
        old_key,
        key,
        _sorted(changes),
        notes,
        provenance if isinstance(provenance, dict) else None,
    )


def _file_changes(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    last: LastBuild,
    source: Input,
    notes: list[str],
) -> list[Change]:
    """Which files changed, when the folders' fingerprints differ: the last build's zip
    against the files now; without that zip, the fingerprints alone."""
    if old.get("content") == new.get("content"):
        return []
    now = current_files(source)
    if now is None:
        return []
    if last.zip is not None:
        found = compare_files(
            last.zip,
            now,
            packaged="dependencies" in old,
            bytecode="bytecode" in old or "bytecode" in new,
        )
        if found:
            return found
    old_content, new_content = _dict(old.get("content")), _dict(new.get("content"))
    if last.zip is None:
        notes.append(
            "the last build's zip is gone (neither the output nor the cache holds its bytes), "
            "so which files changed cannot be named; its fingerprint differs from the files now"
        )
    return [Change("content", "source files", _fingerprint(old_content), _fingerprint(new_content))]


def _fingerprint(content: Mapping[str, Any]) -> str:
    return f"{content.get('entries', '?')} entries, sha256 {str(content.get('sha256'))[:12]}"


def why_zips(old_zip: Path, new_zip: Path, cache_root: Path) -> Report:
    """Two builds compared: each zip's record found in the local cache by the zip's sha256,
    their descriptions compared, and their files (:func:`detzip.zip.diff.diff_zips`), less
    what a changed package or ``compile`` explains."""
    from detzip.cache.layout import Layout
    from detzip.zip.diff import diff_zips, open_zip

    artifacts = Layout.at(cache_root).artifacts
    found = []
    for path in (old_zip, new_zip):
        with open_zip(path):  # (not a zip: one line naming it)
            pass
        sha = _sha256(path)
        record = None if sha is None else find_record(artifacts, sha)
        if record is None:
            raise DetzipError(
                f"no record of this zip (sha256 {str(sha)[:12]}) in the cache ({artifacts}); "
                "give zips detzip built with this cache (--cache-dir), or compare the zips "
                "alone with detzip diff",
                path,
            )
        found.append(record)
    (old, old_path), (new, _) = found
    entry = new.get("detzip-cache-entry")
    changes = compare_versions(old, version_of(new), entry if isinstance(entry, int) else None)
    old_options, new_options = old["options"], new["options"]
    changes += compare_descriptions(old_options, new_options)
    packaged = {"packages", "dependencies"} & (set(old_options) | set(new_options))
    bytecode = "bytecode" in old_options or "bytecode" in new_options
    ignore: set[str] = set()
    if packaged:
        for path in (old_zip, new_zip):
            with open_zip(path) as archive:
                ignore |= packaged_names(archive)
    files = []
    for difference in diff_zips(old_zip, new_zip):
        entry = difference.entry
        if entry is not None and (entry in ignore or (bytecode and _PYC.search(entry))):
            continue
        files.append(_from_diff(difference))
    if not changes and not any(c.kind != "zip" for c in files):
        changes += files  # the inputs agree: say how the zips differ, whatever it is
    else:
        changes += [c for c in files if c.kind != "zip"]
    old_key, new_key = old.get("key"), new.get("key")
    return Report(
        f"{old_zip} → {new_zip}",
        "between the builds",
        f"records {old_path.name} and {found[1][1].name}",
        old_key if isinstance(old_key, str) else None,
        new_key if isinstance(new_key, str) else None,
        _sorted(changes),
        [],
    )


def _from_diff(difference: Difference) -> Change:
    """A :class:`~detzip.zip.diff.Difference` between two zips as a change."""
    aspect, entry = difference.aspect, difference.entry or "(archive)"
    if aspect == "only in A":
        return Change("file removed", entry)
    if aspect == "only in B":
        return Change("file added", entry)
    if aspect == "content":
        return Change("file changed", entry, difference.a, difference.b)
    if aspect == "line endings":
        before, after = f"{difference.a} line endings", f"{difference.b} line endings only"
        return Change("file changed", entry, before, after)
    if aspect == "name normalisation":
        return Change("file changed", entry, f"name in {difference.a}", f"name in {difference.b}")
    if aspect == "mode":
        old_x, new_x = (
            m.isdigit() and bool(int(m, 8) & 0o111) for m in (difference.a, difference.b)
        )
        if old_x != new_x:
            return Change("exec bit", entry, _exec(old_x), _exec(new_x))
    return Change("zip", f"{aspect} {entry}", difference.a, difference.b)
