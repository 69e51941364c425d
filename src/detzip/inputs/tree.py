"""A source tree → entries, filtered by gitignore-style patterns.

What is packed: every regular file under the root that is not excluded, the directories that
hold them, and directories that are empty on disk (not those emptied by the patterns).
Symlinks are followed and packed as what they point to; a link that
leads outside the root is refused unless allowed. Anything that cannot be packed faithfully (a
broken link, a loop, a FIFO, socket or device, a name that is not UTF-8) is an error that names it.

Patterns, in the order they apply (later ones win, ``!pattern`` re-includes):
the default excludes, then ``.detzipignore`` in the root, then the caller's excludes.
If include patterns are given, only files matching one of them are packed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

from detzip._datatype import datatype, field, replace
from detzip._fs import TEMP_SUFFIX, NeverPack
from detzip.errors import DetzipError, Setting, literal, warn
from detzip.inputs._patterns import Matcher, compile_patterns
from detzip.zip.entries import Entry, FromFile
from detzip.zip.names import nfc, normalize_prefix

if TYPE_CHECKING:
    from detzip.inputs.git import GitTree, Tracked

__all__ = [
    "DEFAULT_EXCLUDES",
    "IGNORE_FILE",
    "TreeSpec",
    "check_names",
    "collect",
    "ignore_lines",
    "matchers",
]

IGNORE_FILE = ".detzipignore"

DEFAULT_EXCLUDES: tuple[str, ...] = (
    # version control
    ".git/",
    ".hg/",
    ".svn/",
    ".bzr/",
    # bytecode (Lambda cannot use timestamp-based pycs from a fixed-mtime zip)
    "__pycache__/",
    "*.py[cod]",
    # virtual environments (also any directory holding a pyvenv.cfg, see below)
    ".venv/",
    "venv/",
    # tool caches and editor/OS droppings
    ".tox/",
    ".nox/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".ipynb_checkpoints/",
    ".idea/",
    ".vscode/",
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
    "*.swp",
    # macOS metadata on exFAT, FAT and SMB volumes, and in zips made by Finder
    "._*",
    "__MACOSX/",
    # build and test debris that differs between a laptop and CI (never code)
    "*.egg-info/",
    ".eggs/",
    ".coverage",
    ".coverage.*",
    "htmlcov/",
    # deploy tools' state and caches (Terraform state holds secrets)
    ".terraform/",
    "*.tfstate",
    "*.tfstate.*",
    ".aws-sam/",
    ".serverless/",
    ".terragrunt-cache/",
    ".terragrunt-source-manifest",
    IGNORE_FILE,
)


@datatype
class TreeSpec:
    """What to take from a source tree and where to put it in the archive."""

    exclude: Sequence[str] = ()
    include: Sequence[str] = ()
    default_excludes: bool = True
    ignore_file: bool = True
    prefix: str = ""
    allow_outside_links: bool = False
    never_pack: NeverPack = field(default_factory=frozenset)
    """detzip's own files and folders (the output zip, the cache, a project's output folder),
    never packed however the walk reaches them."""
    ignore_patterns: tuple[str, ...] | None = None
    """The ignore file's patterns, once read (None: not read yet; see :meth:`resolved`)."""

    def resolved(self, root: Path) -> TreeSpec:
        """This spec with the ignore file read: collecting and describing then agree."""
        if self.ignore_patterns is not None:
            return self
        patterns = tuple(_read_ignore_file(root)) if self.ignore_file else ()
        return replace(self, ignore_patterns=patterns)

    def describe(self, root: Path) -> dict[str, object]:
        """The options as plain data, with the ignore file's patterns actually used."""
        return {
            "exclude": list(self.exclude),
            "include": list(self.include),
            "default_excludes": self.default_excludes,
            "ignore_file": list(self.resolved(root).ignore_patterns or ()),
            "prefix": normalize_prefix(self.prefix),
            "allow_outside_links": self.allow_outside_links,
        }


def _read_ignore_file(root: Path) -> list[str]:
    path = root / IGNORE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # no file, or no source folder: collect says
        return []
    except PermissionError as exc:
        if not os.access(root, os.R_OK | os.X_OK):  # the folder itself is closed to us
            raise DetzipError(
                "cannot list the folder (Permission denied); fix its permissions", root
            ) from None
        raise DetzipError(
            f"cannot read the ignore file ({exc.strerror}); fix its permissions or remove it",
            path,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DetzipError(f"cannot read the ignore file ({exc}); fix or remove it", path) from None
    return ignore_lines(text)


def collect(
    root: str | os.PathLike[str],
    spec: TreeSpec | None = None,
    *,
    stats: dict[str, os.stat_result] | None = None,
    listed: list[tuple[str, os.stat_result]] | None = None,
    skipped: list[str] | None = None,
    git: GitTree | None = None,
    tracked: dict[str, tuple[Tracked, str]] | None = None,
) -> list[Entry]:
    """The entries for the tree at ``root``, in walk order (the writer sorts them). ``stats``,
    if given, receives each file entry's stat as the walk took it (by archive name), and
    ``listed`` each folder whose listing was read, with its stat (taken before the listing), and
    each folder left out as a virtualenv (what it holds decides that), and ``skipped`` the paths
    left out as detzip's own (``never_pack``): a memo of the walk must see when
    one of them changes.

    Archive names are NFC. With ``git`` (the folder's work tree, :mod:`detzip.inputs.git`), a
    tracked file's exec bit is the index's and a link the index has is followed even where the
    checkout wrote it as a plain file; ``tracked`` receives each such file's index entry and
    real path (by archive name), for its content to be read as git stores it."""
    spec = spec or TreeSpec()
    top = Path(root)
    check_source(top)
    real_root = Path(os.path.realpath(top))
    spec = spec.resolved(top)
    excludes, includes = matchers(spec, top)
    walker = _Walker(
        real_root=real_root,
        prefix=normalize_prefix(spec.prefix),
        exclude=excludes,
        include=includes,
        spec=spec,
        stats=stats,
        listed=listed,
        skipped=skipped,
        git=git,
        tracked={} if git is not None and tracked is None else tracked,
    )
    try:
        info = top.stat()
    except OSError as exc:
        raise DetzipError(f"cannot read ({exc.strerror}); fix its permissions", top) from None
    walker.walk(top, "", (real_root,), info)
    walker.warn_git()
    check_names(walker.entries, top)
    return walker.entries


def matchers(spec: TreeSpec, root: Path) -> tuple[Matcher, Matcher | None]:
    """What ``spec`` (its ignore file read) leaves out, and what it packs only (None: all)."""
    defaults = DEFAULT_EXCLUDES if spec.default_excludes else ()
    excludes = compile_patterns(
        [
            (defaults, "default_excludes"),
            (spec.ignore_patterns or (), str(root / IGNORE_FILE)),
            (spec.exclude, "exclude"),
        ]
    )
    return excludes, compile_patterns([(spec.include, "include")]) if spec.include else None


def ignore_lines(text: str) -> list[str]:
    """An ignore file's patterns (a BOM, as Windows editors save UTF-8, skipped)."""
    text = text.removeprefix("\ufeff")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def check_names(entries: Sequence[Entry], root: Path) -> None:
    """Two files packed under one name are an error; names that differ only in case a warning
    (Lambda's file system tells them apart, a Mac's or a Windows PC's cannot check them out)."""
    if len({entry.name.casefold() for entry in entries}) == len(entries):
        return  # (the usual answer: no two names fold alike, so no two are equal either; in a
        # set, where a 200,000-file tree's check took 0.2 s in a loop)
    seen: dict[str, Entry] = {}
    folded: dict[str, str] = {}
    clashes: list[tuple[str, str]] = []
    for entry in entries:
        if entry.name in seen:
            raise DetzipError(
                f"two files map to one name in the zip, {literal(entry.name)} (their names "
                "differ only in Unicode normalisation, NFC and NFD); rename or remove one",
                _shown(entry, root),
            )
        seen[entry.name] = entry
        other = folded.setdefault(entry.name.casefold(), entry.name)
        if other != entry.name:
            clashes.append((other, entry.name))
    for first, second in clashes[:5]:
        warn(
            f"{literal(first)} and {literal(second)} differ only in case: both are packed "
            "(Lambda's file system tells them apart), but this tree cannot be checked out on "
            "macOS or Windows; rename one",
            root,
        )
    if len(clashes) > 5:
        warn(f"and {len(clashes) - 5} more names that differ only in case", root)


def _shown(entry: Entry, root: Path) -> Path:
    path = getattr(entry.source, "path", None)
    return path if isinstance(path, Path) else root


def _check_utf8(rel: str, path: Path) -> None:
    """Refuse a name that is not valid UTF-8 (on POSIX, its undecodable bytes are surrogates)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise DetzipError(
            "the file name is not valid UTF-8; rename it (e.g. with convmv) or exclude it",
            os.fsencode(path).decode("utf-8", "backslashreplace"),
        ) from None


def check_source(top: Path) -> None:
    """Refuse a source that is not a folder (missing, or a file)."""
    if not top.is_dir():
        what = "does not exist" if not top.exists() else "is not a directory"
        raise DetzipError(f"the source {what}; give the folder that holds your code", top)


def _junction(child: os.DirEntry[str]) -> bool:
    """Whether ``child`` is a Windows junction (not a link to Python before 3.12; asked only
    where there are reparse points). A link and a junction both lead elsewhere, so both get the
    link checks (inside the source, no loop) and are followed."""
    junction = getattr(child, "is_junction", None)  # (Python 3.12+)
    if junction is not None:
        return bool(junction())
    try:
        info = child.stat(follow_symlinks=False)
    except OSError:
        return False
    return getattr(info, "st_reparse_tag", 0) == _MOUNT_POINT


#: whether this system has reparse points (Windows: stat results carry file attributes)
_REPARSE_POINTS = hasattr(os.stat_result, "st_file_attributes")
_MOUNT_POINT = 0xA0000003  # IO_REPARSE_TAG_MOUNT_POINT: a junction
#: a listed child's sort key (a C getter: a lambda per child was a tenth of the folders' sorts)
_NAME = attrgetter("name")


# A child's Path: ``directory / name`` parses ``name`` again (a third of ``Path(child.path)``);
# pathlib's own ``_make_child_relpath`` (3.11, 3.12: what its glob uses for a listed name) makes
# the same Path without parsing, 4x faster, a tenth of a 200,000-file walk. Python 3.13's
# pathlib has no such method, and needs none.


@datatype(frozen=False, slots=False)
class _Walker:
    real_root: Path
    prefix: str
    exclude: Matcher
    include: Matcher | None
    spec: TreeSpec
    stats: dict[str, os.stat_result] | None = None
    listed: list[tuple[str, os.stat_result]] | None = None
    skipped: list[str] | None = None
    git: GitTree | None = None
    tracked: dict[str, tuple[Tracked, str]] | None = None
    entries: list[Entry] = field(default_factory=list)
    modes_differ: list[tuple[str, Path, bool]] = field(default_factory=list)
    placeholders: list[tuple[Path, str]] = field(default_factory=list)
    never_pack: NeverPack = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        self.never_pack = self.spec.never_pack  # (asked of every file and folder)

    def walk(self, directory: Path, rel: str, chain: tuple[Path, ...], info: os.stat_result) -> int:
        """Visit the folder's children; returns how many it has on disk."""
        if self.listed is not None:
            self.listed.append((str(directory), info))
        try:
            children = sorted(os.scandir(directory), key=_NAME)
        except OSError as exc:
            raise DetzipError(
                f"cannot list the folder ({exc.strerror}); fix its permissions or exclude it",
                directory,
            ) from None
        child_of = getattr(directory, "_make_child_relpath", None)  # (below)
        for child in children:
            name = child.name
            path = directory / name if child_of is None else child_of(name)
            self.visit(path, rel + (name if name.isascii() else nfc(name)), child, chain)
        return len(children)

    def visit(self, path: Path, rel: str, child: os.DirEntry[str], chain: tuple[Path, ...]) -> None:
        is_link = child.is_symlink() or (_REPARSE_POINTS and _junction(child))
        if not rel.isascii():  # (an ASCII name is UTF-8)
            _check_utf8(rel, path)
        if rel.endswith(TEMP_SUFFIX):
            return  # a temporary output of ours (perhaps left by a killed run)
        git = self.git
        link_text: str | None = None  # a link the checkout wrote as a plain file (git's index)
        if git is not None and not is_link and child.is_file(follow_symlinks=False):
            indexed = git.tracked(chain[-1] / child.name)
            if indexed is not None and indexed.is_link:
                link_text = _link_text(path, indexed, git)
                self.placeholders.append((path, link_text))
                is_link = True
        real: Path | None = None
        if is_link:
            real = Path(os.path.realpath(path if link_text is None else path.parent / link_text))
            if not real.exists():
                if self.exclude.match_file(rel):
                    return
                shown = os.readlink(path) if link_text is None else link_text
                raise DetzipError(f"broken symlink (points to {shown}); fix or exclude it", path)
            if not real.is_relative_to(self.real_root) and not self.spec.allow_outside_links:
                if self.exclude.match_file(rel) or self.exclude.match_file(rel + "/"):
                    return
                raise DetzipError(
                    "symlink points outside the source folder (to "
                    + literal(str(real))
                    + "); exclude it, copy the target in, or allow it with {0}",
                    path,
                    settings=[Setting("allow_outside_links", True)],
                )
        try:  # follows a link, as path.stat() would
            info = child.stat() if link_text is None else os.stat(real)  # type: ignore[arg-type]
            if not info.st_ino and not info.st_dev:  # Windows's DirEntry: no identity; a
                info = os.stat(path)  # miss reads the file anyway, one more stat is nothing
        except OSError as exc:
            raise DetzipError(f"cannot read ({exc.strerror}); fix or exclude it", path) from None

        if stat.S_ISDIR(info.st_mode):
            if (info.st_dev, info.st_ino) in self.never_pack:
                if self.skipped is not None:
                    self.skipped.append(str(path))
                return  # detzip's own outputs or cache: packing them would pack earlier builds
            if self.exclude.match_file(rel + "/"):
                if path.name in _VENV_NAMES and not _is_virtualenv(path, self.spec):
                    _not_a_virtualenv(path, rel)
                return
            if _is_virtualenv(path if real is None else real, self.spec):
                if self.listed is not None:  # (left out for what it holds: a pyvenv.cfg)
                    self.listed.append((str(path), info))
                return
            # a folder that is not a link is where its parent really is (no lstat per component)
            if real is None:
                real = chain[-1] / child.name
            if real in chain:
                raise DetzipError(
                    f"symlink loop (leads back to {real}); exclude it or remove the link", path
                )
            # Folders with packed content get their entries as parents of that content; a
            # folder of its own only when it is empty on disk (not merely emptied by patterns).
            listing = path if link_text is None else real
            if self.walk(listing, rel + "/", (*chain, real), info) == 0 and (
                self.include is None or self.include.match_file(rel + "/")
            ):
                self.entries.append(Entry.directory(self.prefix + rel + "/"))
            return
        if self.exclude.match_file(rel):
            return
        if self.include is not None and not self.include.match_file(rel):
            return
        if not stat.S_ISREG(info.st_mode):
            kind = _special_kind(info.st_mode)
            raise DetzipError(f"is a {kind}, which a zip cannot hold; exclude it", path)
        if (info.st_dev, info.st_ino) in self.never_pack:
            if self.skipped is not None:
                self.skipped.append(str(path))
            return
        name = self.prefix + rel
        executable = bool(info.st_mode & 0o111)
        if git is not None:
            source = chain[-1] / child.name if real is None else real
            indexed = git.tracked(source)
            if indexed is not None and indexed.is_file:
                committed = indexed.executable
                if committed != executable and git.filemode and not is_link:
                    self.modes_differ.append((rel, path, committed))
                executable = committed
                assert self.tracked is not None
                self.tracked[name] = (indexed, str(source))
        content = path if link_text is None else real
        self.entries.append(Entry(name, FromFile(content, info.st_size), executable))  # type: ignore[arg-type]
        if self.stats is not None:
            self.stats[name] = info

    def warn_git(self) -> None:
        """Say where the checkout and git's index disagree in a way git does not explain: the
        index is followed."""
        for path, target in self.placeholders:
            warn(
                f"is a symlink in git (to {literal(target)}) but a plain file in this checkout "
                "(core.symlinks=false); packed as the link's target, as git stores it. To check "
                "links out as links: git config core.symlinks true && git checkout -- "
                f"{literal(path.name)} (on Windows with Developer Mode on)",
                path,
            )
        for rel, path, committed in self.modes_differ[:5]:
            if committed:
                what = "is executable in git's index but not in this checkout; packed as 0755"
                fix = f"chmod +x {literal(rel)}"
            else:
                what = "is executable in this checkout but not in git's index; packed as 0644"
                fix = f"git update-index --chmod=+x {literal(rel)} and commit (or chmod -x)"
            warn(f"{what}, as git stores it. To make them agree: {fix}", path)
        if len(self.modes_differ) > 5:
            warn(
                f"and {len(self.modes_differ) - 5} more files whose exec bit differs from git's "
                "index (packed as git stores them)",
                self.real_root,
            )


def _link_text(path: Path, indexed: Tracked, git: GitTree) -> str:
    """Where a link the checkout wrote as a plain file points: the file's text when it is the
    committed blob, else the blob's."""
    try:
        _, oid = git.hashes(path)
        data = path.read_bytes() if oid == indexed.oid else git.blob(indexed.oid)
    except OSError as exc:
        raise DetzipError(f"cannot read ({exc.strerror}); fix or exclude it", path) from None
    return os.fsdecode(data)


#: folder names the default excludes take for virtualenvs (any folder with a pyvenv.cfg is one)
_VENV_NAMES = ("venv", ".venv")


def _not_a_virtualenv(path: Path, rel: str) -> None:
    """A folder left out by its name alone may hold code: say so rather than drop it quietly."""
    if any(path.rglob("*.py")):
        warn(
            f"{literal(rel)}/ is left out as a virtualenv by its name, but it has no "
            f"pyvenv.cfg and holds Python files; to pack it, add {{0}}",
            path,
            settings=[Setting("exclude", [f"!{rel}/"])],
        )


def _is_virtualenv(path: Path, spec: TreeSpec) -> bool:
    # os.path: a folder that cannot be searched is not a virtualenv here; listing it says why
    return spec.default_excludes and os.path.isfile(path / "pyvenv.cfg")


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"
