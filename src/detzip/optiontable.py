"""Every option of an artifact, declared once: name, type, default, choices, help, the kinds it
applies to, and the front doors that take it.

An option's ``name`` is its keyword argument in the Python API and its field in
:class:`detzip.spec.ArtifactSpec`. Its spelling at the other doors follows one rule — the
Terraform and ``[tool.detzip]`` key is the name, the command-line flag is ``--dashed-name``
(``--no-dashed-name`` for a switch that is on by default) — and only the exceptions are
declared (``groups`` is ``with`` everywhere, ``--exclude-package`` is singular, an option a door
does not take). The command line's arguments (:mod:`detzip.cli`), the Terraform query keys
(:mod:`detzip.terraform`) and the ``[tool.detzip]`` schema (:mod:`detzip.project`) are made from
:data:`OPTIONS`; every value a door reads goes through :mod:`detzip.optionvalues`.

This module imports nothing heavy: the CLI builds its parser from it on every start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from detzip._datatype import datatype
from detzip.cache.writes import WRITES
from detzip.deps import targets as _targets
from detzip.zip.options import Compressor

__all__ = [
    "ARCHS",
    "BOTH",
    "BY_NAME",
    "COMPRESSORS",
    "DOORS",
    "FORMATS",
    "FUNCTION",
    "KINDS",
    "LAYER",
    "NONE",
    "OPTIONS",
    "RUNTIMES",
    "UPLOADS",
    "Door",
    "Kind",
    "LockFormat",
    "Option",
    "SourceFolder",
    "Type",
    "Upload",
    "for_kind",
    "option",
]

Kind = Literal["function", "layer"]
Upload = Literal["direct", "s3"]
LockFormat = Literal["requirements", "poetry", "pylock", "uv", "pyproject"]
Door = Literal["cli", "terraform", "toml", "python"]
Type = Literal["str", "path", "int", "bool", "list", "paths", "layers", "sources"]
"""``path``/``paths`` are strings that name files (resolved against the working directory, or
the project file's folder in ``[tool.detzip]``); ``list`` and ``paths`` are lists of strings."""

SourceFolder = tuple[str, str | None, tuple[str, ...] | None, tuple[str, ...] | None]
"""One of a function's extra source folders: (path, prefix, exclude, include); None inherits
the function's own."""

KINDS: tuple[Kind, ...] = get_args(Kind)
BOTH: frozenset[Kind] = frozenset(KINDS)
FUNCTION: frozenset[Kind] = frozenset({"function"})
LAYER: frozenset[Kind] = frozenset({"layer"})
NONE: frozenset[Kind] = frozenset()
DOORS: frozenset[Door] = frozenset(get_args(Door))
#: what a project file does not take: it decides where each zip goes and what it is called,
#: and the local cache is the machine's
NOT_IN_TOML: frozenset[Door] = DOORS - {"toml"}

# the closed sets their own modules define (all light to import)
RUNTIMES: tuple[str, ...] = tuple(_targets.RUNTIMES)
ARCHS: tuple[str, ...] = tuple(_targets.ARCHITECTURES)
COMPRESSORS: tuple[str, ...] = get_args(Compressor)
UPLOADS: tuple[str, ...] = get_args(Upload)
FORMATS: tuple[str, ...] = get_args(LockFormat)  # the lock readers' (a test holds them equal)


@datatype
class Option:
    """One option, by the name the API and the spec know it by.

    ``doors`` are the front doors that take it; :attr:`cli`, :attr:`terraform` and
    :attr:`toml` give its spelling at each (None: not taken there), by the rule unless
    ``flag`` (the command line's) or ``key`` (Terraform's and TOML's) says otherwise;
    ``positional`` is an argument rather than a flag on the command line. ``default`` may
    depend on the kind (a mapping kind → default), and a door or command may document its own
    (``door_defaults``). ``project_default``: may stand at the top of ``[tool.detzip]`` as every
    artifact's default. ``needs_requirements``: a function takes it only with ``requirements``.
    """

    name: str
    type: Type
    help: str
    kinds: frozenset[Kind]
    group: str
    default: Any = None
    choices: tuple[str, ...] | None = None
    flag: str | None = None
    key: str | None = None
    doors: frozenset[Door] = DOORS
    positional: bool = False
    short: str | None = None
    metavar: str | None = None
    required: frozenset[Kind] = NONE
    project_default: bool = False
    door_defaults: tuple[tuple[str, Any], ...] = ()
    needs_requirements: bool = False

    @property
    def cli(self) -> str | None:
        """The command-line flag (None: not on the command line, or an argument there)."""
        if "cli" not in self.doors or self.positional:
            return None
        if self.flag is not None:
            return self.flag
        negated = self.type == "bool" and self.default is True
        return ("--no-" if negated else "--") + self.name.replace("_", "-")

    @property
    def terraform(self) -> str | None:
        """The Terraform query key (None: not taken there)."""
        return (self.key or self.name) if "terraform" in self.doors else None

    @property
    def toml(self) -> str | None:
        """The ``[tool.detzip]`` key (None: not taken there)."""
        return (self.key or self.name) if "toml" in self.doors else None

    def spelled(self, door: Door) -> str | None:
        """The option's spelling at ``door`` (a flag, a key, a keyword), None if not there."""
        if door == "cli":
            return self.cli
        if door == "terraform":
            return self.terraform
        if door == "toml":
            return self.toml
        return self.name

    def default_for(self, kind: Kind, door: str = "python") -> Any:
        """The default for ``kind`` at ``door`` (or command, e.g. ``check``): the door's own
        (``door_defaults``) if it has one, else the kind's, else the one ``default``."""
        for where, value in self.door_defaults:
            if where == door:
                return value
        if isinstance(self.default, Mapping):
            return self.default[kind]
        return self.default

    def describe_default(self, kind: Kind | None = None, door: str = "python") -> str:
        """The default as help texts show it."""
        if kind is None and isinstance(self.default, Mapping):
            return ", ".join(
                f"{_shown(self.default_for(k, door))} for a {k}" for k in KINDS if k in self.kinds
            )
        return _shown(self.default_for(kind or "function", door))


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if value == "":
        return "'' (the root)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ", ".join(value) or "none"
    return str(value)


_DEPS = "dependencies"
OPTIONS: tuple[Option, ...] = (
    # -- what to pack -----------------------------------------------------------------------
    Option(
        "source",
        "path",
        "the folder holding the function's code",
        FUNCTION,
        "source",
        metavar="SRC",
        required=FUNCTION,
        positional=True,
    ),
    Option(
        "extra_sources",
        "sources",
        "more folders to pack beside SRC (shared code), each PATH or PATH=PREFIX (in TOML, "
        "Terraform's jsonencode and Python also a table {path, prefix, exclude, include}); each "
        "reads its own .detzipignore, and takes prefix/exclude/include from the function unless "
        "it sets its own",
        FUNCTION,
        "source",
        default=(),
        flag="--add-source",
        metavar="PATH[=PREFIX]",
    ),
    Option(
        "exclude",
        "list",
        "gitignore-style patterns to leave out; for a layer they match paths inside it, "
        "e.g. '*/tests/' ('!PATTERN' re-includes)",
        BOTH,
        "source",
        default=(),
        metavar="PATTERN",
    ),
    Option(
        "include",
        "list",
        "pack only files matching these patterns",
        FUNCTION,
        "source",
        default=(),
        metavar="PATTERN",
    ),
    Option(
        "default_excludes",
        "bool",
        "leave out what is never wanted: for a function VCS folders, __pycache__, *.pyc, "
        "virtualenvs, tool caches, .DS_Store; for a layer __pycache__/ and *.pyc",
        BOTH,
        "source",
        default=True,
    ),
    Option(
        "ignore_file",
        "bool",
        "read SRC/.detzipignore (gitignore syntax)",
        FUNCTION,
        "source",
        default=True,
    ),
    Option(
        "allow_outside_links",
        "bool",
        "follow symlinks that point outside SRC (their targets are packed)",
        FUNCTION,
        "source",
        default=False,
    ),
    Option(
        "from_git",
        "str",
        "pack the tree of this git commit (branch, tag or sha) instead of the working tree: "
        "its blobs, modes and links exactly, whatever is checked out or edited; excludes and "
        "the committed .detzipignore apply",
        FUNCTION,
        "source",
        metavar="REV",
    ),
    Option(
        "prefix",
        "str",
        "folder in the zip to place everything under ('' for the root)",
        BOTH,
        "source",
        default={"function": "", "layer": "python"},
        metavar="DIR",
    ),
    # -- dependencies -----------------------------------------------------------------------
    Option(
        "requirements",
        "path",
        "requirements.txt, poetry.lock, pylock.toml or uv.lock (a function bundles them "
        "beside its code)",
        BOTH,
        _DEPS,
        short="-r",
        metavar="FILE",
        required=LAYER,
    ),
    Option(
        "format",
        "str",
        "the lock's format when its file name does not say",
        BOTH,
        _DEPS,
        choices=FORMATS,
        needs_requirements=True,
    ),
    Option(
        "runtime",
        "str",
        "the Lambda runtime the zip runs on",
        BOTH,
        _DEPS,
        default=_targets.DEFAULT_RUNTIME,
        choices=RUNTIMES,
        project_default=True,
    ),
    Option(
        "arch",
        "str",
        "the Lambda architecture",
        BOTH,
        _DEPS,
        default=_targets.DEFAULT_ARCH,
        choices=ARCHS,
        project_default=True,
    ),
    Option(
        "groups",
        "list",
        "also install these dependency groups (poetry, uv, pylock; only main by default)",
        BOTH,
        _DEPS,
        default=(),
        flag="--with",
        metavar="GROUP",
        key="with",
        needs_requirements=True,
    ),
    Option(
        "extras",
        "list",
        "also install the project's own extras (poetry, uv, pylock)",
        BOTH,
        _DEPS,
        default=(),
        metavar="NAME",
        needs_requirements=True,
    ),
    Option(
        "package",
        "str",
        "the workspace member whose dependencies to install (uv; default: the project at the "
        "lock's folder)",
        BOTH,
        _DEPS,
        metavar="NAME",
        needs_requirements=True,
    ),
    Option(
        "include_project",
        "bool",
        "install the project itself too, built from its folder like any local package (the "
        "lock's root project or --package member; else the pyproject.toml beside the lock)",
        BOTH,
        _DEPS,
        default=False,
        needs_requirements=True,
    ),
    Option(
        "exclude_packages",
        "list",
        "leave these distributions out (e.g. boto3, which the runtime provides)",
        BOTH,
        _DEPS,
        default=(),
        flag="--exclude-package",
        metavar="NAME",
        needs_requirements=True,
    ),
    Option(
        "index_url",
        "str",
        "the package index (pip's --index-url)",
        BOTH,
        _DEPS,
        metavar="URL",
        project_default=True,
        needs_requirements=True,
    ),
    Option(
        "extra_index_urls",
        "list",
        "more package indexes",
        BOTH,
        _DEPS,
        default=(),
        flag="--extra-index-url",
        metavar="URL",
        project_default=True,
        needs_requirements=True,
    ),
    Option(
        "find_links",
        "list",
        "local wheel folders (or URLs) to look in",
        BOTH,
        _DEPS,
        default=(),
        metavar="DIR",
        project_default=True,
        needs_requirements=True,
    ),
    Option(
        "no_index",
        "bool",
        "use only find_links, no package index",
        BOTH,
        _DEPS,
        default=False,
        project_default=True,
        needs_requirements=True,
    ),
    # -- bytecode ------------------------------------------------------------------------------
    Option(
        "compile",
        "bool",
        "add hash-based bytecode (PEP 552) for every packed .py, compiled by an interpreter of "
        "the runtime's Python: faster cold starts",
        BOTH,
        "bytecode",
        default=False,
        project_default=True,
    ),
    Option(
        "invalidation",
        "str",
        "how Python trusts the bytecode: checked-hash (valid while the source is unchanged) or "
        "unchecked-hash (always)",
        BOTH,
        "bytecode",
        default="checked-hash",
        choices=("checked-hash", "unchecked-hash"),
        project_default=True,
    ),
    Option(
        "python",
        "str",
        "the interpreter that compiles the bytecode (its minor version must be the runtime's; "
        "none: pythonX.Y on PATH, else uv's)",
        BOTH,
        "bytecode",
        metavar="PATH",
        project_default=True,
    ),
    # -- zip format ---------------------------------------------------------------------------
    Option(
        "mtime",
        "str",
        "timestamp of every entry: epoch seconds, an ISO date, or source-date-epoch to take "
        "$SOURCE_DATE_EPOCH (none: 1980-01-01, whatever the environment says)",
        BOTH,
        "zip format",
        metavar="TIME",
        project_default=True,
    ),
    Option(
        "compressor",
        "str",
        "deflate: pinned libdeflate, same bytes everywhere; zlib: this machine's zlib, same "
        "bytes on this machine only; store: no compression",
        BOTH,
        "zip format",
        default="deflate",
        choices=COMPRESSORS,
        project_default=True,
    ),
    Option(
        "level",
        "int",
        "compression level: deflate 1-12, zlib 1-9 (none: 6)",
        BOTH,
        "zip format",
        metavar="N",
        project_default=True,
    ),
    Option(
        "recompress",
        "bool",
        "inflate the wheels' members and compress them again with the compressor and level "
        "(up to deflate 12) instead of copying their compressed bytes: a smaller layer, a "
        "slower build",
        BOTH,
        "zip format",
        default=False,
        project_default=True,
        needs_requirements=True,
    ),
    # -- cache --------------------------------------------------------------------------------
    Option(
        "cache",
        "str",
        "shared cache s3://BUCKET/PREFIX (needs detzip[s3]), or off (none: $DETZIP_CACHE)",
        BOTH,
        "cache",
        metavar="URL",
    ),
    Option(
        "cache_dir",
        "path",
        "local cache of artifacts and wheels (none: $DETZIP_CACHE_DIR, else "
        "$XDG_CACHE_HOME/detzip, else ~/.cache/detzip)",
        BOTH,
        "cache",
        metavar="DIR",
        doors=NOT_IN_TOML,
    ),
    Option(
        "no_cache",
        "bool",
        "always build: neither read nor write the artifact cache (cache = off elsewhere)",
        BOTH,
        "cache",
        default=False,
        doors=frozenset({"cli", "python"}),
    ),
    Option(
        "require_cache",
        "bool",
        "fail if the shared cache cannot be reached (default: warn and build locally)",
        BOTH,
        "cache",
        default=False,
        doors=NOT_IN_TOML,
    ),
    Option(
        "cache_write",
        "str",
        "which caches a build may write: all; local (the shared cache is only read: pull "
        "requests, forks); none (nor the local cache folder) (none given: $DETZIP_CACHE_WRITE, "
        "else all)",
        BOTH,
        "cache",
        choices=WRITES,
        metavar="WHICH",
    ),
    Option(
        "verify",
        "bool",
        "rebuild every artifact a cache serves and compare bytes; exit 1 naming the entry if "
        "they differ (costs a build without the cache)",
        BOTH,
        "cache",
        default=False,
    ),
    Option(
        "name",
        "str",
        "the artifact's name in caches (none: the output file name without .zip)",
        BOTH,
        "cache",
        doors=NOT_IN_TOML,
    ),
    # -- output -------------------------------------------------------------------------------
    Option(
        "output",
        "path",
        "the zip to write",
        BOTH,
        "output",
        short="-o",
        metavar="OUT.zip",
        required=BOTH,
        doors=NOT_IN_TOML,
    ),
    Option(
        "upload",
        "str",
        "how the zip reaches Lambda: direct fails a zip over 52,428,800 bytes; s3 skips that "
        "check and, with an S3 cache or upload_to, names the object in the result (none: warn)",
        BOTH,
        "output",
        choices=UPLOADS,
        project_default=True,
        door_defaults=(("terraform", "direct"), ("check", "direct")),
    ),
    Option(
        "external_layers",
        "layers",
        "layers detzip does not build (AWS's, a shared one), by ARN with their unzipped size: "
        "counted in the function's limits (unzipped total, at most 5 layers)",
        FUNCTION,
        "output",
        default=(),
        flag="--external-layer",
        metavar="ARN=BYTES",
    ),
    Option(
        "handler",
        "str",
        "the function Lambda calls, MODULE.FUNCTION (e.g. app.handler): checked in the zip and "
        "its layers before deploy (none: not checked)",
        FUNCTION,
        "output",
        metavar="MODULE.FUNCTION",
    ),
    Option(
        "upload_to",
        "str",
        "s3://BUCKET/PREFIX to upload the zip to, content-addressed (PREFIX/NAME-SHA256.zip), "
        "when no S3 cache holds it; implies upload s3",
        BOTH,
        "output",
        metavar="S3_URL",
        project_default=True,
    ),
    Option(
        "layers",
        "paths",
        "the layers this function uses, checked with it against Lambda's limits "
        "(unzipped total, at most 5); in [tool.detzip] their names",
        FUNCTION,
        "output",
        default=(),
        flag="--layer",
        metavar="LAYER.zip",
    ),
    # -- where a project is (not an artifact's option) ----------------------------------------
    Option(
        "config",
        "path",
        "detzip.toml, pyproject.toml or the folder holding it, that folder only (none: found "
        "from here or above)",
        NONE,
        "project",
        metavar="PATH",
        doors=frozenset({"cli", "terraform"}),
    ),
)

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def option(name: str) -> Option:
    """The option called ``name`` (a KeyError if there is none)."""
    return BY_NAME[name]


def for_kind(kind: Kind) -> tuple[Option, ...]:
    """The options ``kind`` takes, in the table's order."""
    return tuple(o for o in OPTIONS if kind in o.kinds)
