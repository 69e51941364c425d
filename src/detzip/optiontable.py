"""Every option of an artifact, declared once: name, type, default, choices, help, the kinds it
applies to, and how each front door spells it.

The command line's arguments (:mod:`detzip.cli`), the Terraform query keys
(:mod:`detzip.terraform`) and the ``[tool.detzip]`` schema (:mod:`detzip.project`) are made from
:data:`OPTIONS`, and every value they read is checked here (:func:`coerce`), so the three cannot
disagree. An option's ``name`` is its keyword argument in the Python API and its field in
:class:`detzip.spec.ArtifactSpec`.

This module imports nothing heavy: the CLI builds its parser from it on every start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from detzip._datatype import datatype
from detzip.deps import targets as _targets
from detzip.errors import DetzipError, Setting, literal
from detzip.zip.options import Compressor

__all__ = [
    "ARCHS",
    "BOTH",
    "BY_NAME",
    "COMPRESSORS",
    "FORMATS",
    "FUNCTION",
    "KINDS",
    "LAYER",
    "NONE",
    "OPTIONS",
    "PROJECT_KEYS",
    "RUNTIMES",
    "UPLOADS",
    "Door",
    "Kind",
    "LockFormat",
    "Option",
    "OptionError",
    "SourceFolder",
    "Type",
    "Upload",
    "coerce",
    "for_kind",
    "option",
    "spell",
    "speller",
    "toml_keys",
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

# the closed sets their own modules define (all light to import)
RUNTIMES: tuple[str, ...] = tuple(_targets.RUNTIMES)
ARCHS: tuple[str, ...] = tuple(_targets.ARCHITECTURES)
COMPRESSORS: tuple[str, ...] = get_args(Compressor)
UPLOADS: tuple[str, ...] = get_args(Upload)
FORMATS: tuple[str, ...] = get_args(LockFormat)  # the lock readers' (a test holds them equal)


@datatype
class Option:
    """One option. ``cli`` is its flag (None: not on the command line, or positional there);
    ``terraform`` and ``toml`` its keys (None: not accepted there). ``default`` may depend on the
    kind (a mapping kind → default), and a front door may document its own (``door_defaults``).
    ``project_default``: may stand at the top of ``[tool.detzip]`` as every artifact's default.
    """

    name: str
    type: Type
    help: str
    kinds: frozenset[Kind]
    group: str
    default: Any = None
    choices: tuple[str, ...] | None = None
    cli: str | None = None
    short: str | None = None
    metavar: str | None = None
    terraform: str | None = None
    toml: str | None = None
    required: frozenset[Kind] = NONE
    project_default: bool = False
    door_defaults: tuple[tuple[Door, Any], ...] = ()
    needs_requirements: bool = False

    def default_for(self, kind: Kind, door: Door = "python") -> Any:
        """The default for ``kind`` at ``door``: the door's own (``door_defaults``) if it has
        one, else the kind's, else the one ``default``."""
        for where, value in self.door_defaults:
            if where == door:
                return value
        if isinstance(self.default, Mapping):
            return self.default[kind]
        return self.default

    def key(self, door: Door) -> str | None:
        """The option's spelling at ``door`` (a flag, a key, a keyword), None if not there."""
        return {"cli": self.cli, "terraform": self.terraform, "toml": self.toml}.get(
            door, self.name
        )

    def describe_default(self, kind: Kind | None = None, door: Door = "python") -> str:
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
        terraform="source",
        toml="source",
        metavar="SRC",
        required=FUNCTION,
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
        cli="--add-source",
        metavar="PATH[=PREFIX]",
        terraform="extra_sources",
        toml="extra_sources",
    ),
    Option(
        "exclude",
        "list",
        "gitignore-style patterns to leave out; for a layer they match paths inside it, "
        "e.g. '*/tests/' ('!PATTERN' re-includes)",
        BOTH,
        "source",
        default=(),
        cli="--exclude",
        metavar="PATTERN",
        terraform="exclude",
        toml="exclude",
    ),
    Option(
        "include",
        "list",
        "pack only files matching these patterns",
        FUNCTION,
        "source",
        default=(),
        cli="--include",
        metavar="PATTERN",
        terraform="include",
        toml="include",
    ),
    Option(
        "default_excludes",
        "bool",
        "leave out what is never wanted: for a function VCS folders, __pycache__, *.pyc, "
        "virtualenvs, tool caches, .DS_Store; for a layer __pycache__/ and *.pyc",
        BOTH,
        "source",
        default=True,
        cli="--no-default-excludes",
        terraform="default_excludes",
        toml="default_excludes",
    ),
    Option(
        "ignore_file",
        "bool",
        "read SRC/.detzipignore (gitignore syntax)",
        FUNCTION,
        "source",
        default=True,
        cli="--no-ignore-file",
        terraform="ignore_file",
        toml="ignore_file",
    ),
    Option(
        "allow_outside_links",
        "bool",
        "follow symlinks that point outside SRC (their targets are packed)",
        FUNCTION,
        "source",
        default=False,
        cli="--allow-outside-links",
        terraform="allow_outside_links",
        toml="allow_outside_links",
    ),
    Option(
        "prefix",
        "str",
        "folder in the zip to place everything under ('' for the root)",
        BOTH,
        "source",
        default={"function": "", "layer": "python"},
        cli="--prefix",
        metavar="DIR",
        terraform="prefix",
        toml="prefix",
    ),
    # -- dependencies -----------------------------------------------------------------------
    Option(
        "requirements",
        "path",
        "requirements.txt, poetry.lock, pylock.toml or uv.lock (a function bundles them "
        "beside its code)",
        BOTH,
        _DEPS,
        cli="--requirements",
        short="-r",
        metavar="FILE",
        terraform="requirements",
        toml="requirements",
        required=LAYER,
    ),
    Option(
        "format",
        "str",
        "the lock's format when its file name does not say",
        BOTH,
        _DEPS,
        choices=FORMATS,
        cli="--format",
        terraform="format",
        toml="format",
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
        cli="--runtime",
        terraform="runtime",
        toml="runtime",
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
        cli="--arch",
        terraform="arch",
        toml="arch",
        project_default=True,
    ),
    Option(
        "groups",
        "list",
        "also install these dependency groups (poetry, uv, pylock; only main by default)",
        BOTH,
        _DEPS,
        default=(),
        cli="--with",
        metavar="GROUP",
        terraform="with",
        toml="with",
        needs_requirements=True,
    ),
    Option(
        "extras",
        "list",
        "also install the project's own extras (poetry, uv, pylock)",
        BOTH,
        _DEPS,
        default=(),
        cli="--extras",
        metavar="NAME",
        terraform="extras",
        toml="extras",
        needs_requirements=True,
    ),
    Option(
        "package",
        "str",
        "the workspace member whose dependencies to install (uv; default: the project at the "
        "lock's folder)",
        BOTH,
        _DEPS,
        cli="--package",
        metavar="NAME",
        terraform="package",
        toml="package",
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
        cli="--include-project",
        terraform="include_project",
        toml="include_project",
        needs_requirements=True,
    ),
    Option(
        "exclude_packages",
        "list",
        "leave these distributions out (e.g. boto3, which the runtime provides)",
        BOTH,
        _DEPS,
        default=(),
        cli="--exclude-package",
        metavar="NAME",
        terraform="exclude_packages",
        toml="exclude_packages",
        needs_requirements=True,
    ),
    Option(
        "index_url",
        "str",
        "the package index (pip's --index-url)",
        BOTH,
        _DEPS,
        cli="--index-url",
        metavar="URL",
        terraform="index_url",
        toml="index_url",
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
        cli="--extra-index-url",
        metavar="URL",
        terraform="extra_index_urls",
        toml="extra_index_urls",
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
        cli="--find-links",
        metavar="DIR",
        terraform="find_links",
        toml="find_links",
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
        cli="--no-index",
        terraform="no_index",
        toml="no_index",
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
        cli="--compile",
        terraform="compile",
        toml="compile",
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
        cli="--invalidation",
        terraform="invalidation",
        toml="invalidation",
        project_default=True,
    ),
    Option(
        "python",
        "str",
        "the interpreter that compiles the bytecode (its minor version must be the runtime's; "
        "none: pythonX.Y on PATH, else uv's)",
        BOTH,
        "bytecode",
        cli="--python",
        metavar="PATH",
        terraform="python",
        toml="python",
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
        cli="--mtime",
        metavar="TIME",
        terraform="mtime",
        toml="mtime",
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
        cli="--compressor",
        terraform="compressor",
        toml="compressor",
        project_default=True,
    ),
    Option(
        "level",
        "int",
        "compression level: deflate 1-12, zlib 1-9 (none: 6)",
        BOTH,
        "zip format",
        cli="--level",
        metavar="N",
        terraform="level",
        toml="level",
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
        cli="--recompress",
        terraform="recompress",
        toml="recompress",
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
        cli="--cache",
        metavar="URL",
        terraform="cache",
        toml="cache",
    ),
    Option(
        "cache_dir",
        "path",
        "local cache of artifacts and wheels (none: $DETZIP_CACHE_DIR, else "
        "$XDG_CACHE_HOME/detzip, else ~/.cache/detzip)",
        BOTH,
        "cache",
        cli="--cache-dir",
        metavar="DIR",
        terraform="cache_dir",
    ),
    Option(
        "no_cache",
        "bool",
        "always build: neither read nor write the artifact cache (cache = off elsewhere)",
        BOTH,
        "cache",
        default=False,
        cli="--no-cache",
    ),
    Option(
        "require_cache",
        "bool",
        "fail if the shared cache cannot be reached (default: warn and build locally)",
        BOTH,
        "cache",
        default=False,
        cli="--require-cache",
        terraform="require_cache",
    ),
    Option(
        "name",
        "str",
        "the artifact's name in caches (none: the output file name without .zip)",
        BOTH,
        "cache",
        cli="--name",
        terraform="name",
    ),
    # -- output -------------------------------------------------------------------------------
    Option(
        "output",
        "path",
        "the zip to write",
        BOTH,
        "output",
        cli="--output",
        short="-o",
        metavar="OUT.zip",
        terraform="output",
        required=BOTH,
    ),
    Option(
        "upload",
        "str",
        "how the zip reaches Lambda: direct fails a zip over 52,428,800 bytes; s3 skips that "
        "check and, with an S3 cache or upload_to, names the object in the result (none: warn)",
        BOTH,
        "output",
        choices=UPLOADS,
        cli="--upload",
        terraform="upload",
        toml="upload",
        project_default=True,
        door_defaults=(("terraform", "direct"),),
    ),
    Option(
        "external_layers",
        "layers",
        "layers detzip does not build (AWS's, a shared one), by ARN with their unzipped size: "
        "counted in the function's limits (unzipped total, at most 5 layers)",
        FUNCTION,
        "output",
        default=(),
        cli="--external-layer",
        metavar="ARN=BYTES",
        terraform="external_layers",
        toml="external_layers",
    ),
    Option(
        "handler",
        "str",
        "the function Lambda calls, MODULE.FUNCTION (e.g. app.handler): checked in the zip and "
        "its layers before deploy (none: not checked)",
        FUNCTION,
        "output",
        cli="--handler",
        metavar="MODULE.FUNCTION",
        terraform="handler",
        toml="handler",
    ),
    Option(
        "upload_to",
        "str",
        "s3://BUCKET/PREFIX to upload the zip to, content-addressed (PREFIX/NAME-SHA256.zip), "
        "when no S3 cache holds it; implies upload s3",
        BOTH,
        "output",
        cli="--upload-to",
        metavar="S3_URL",
        terraform="upload_to",
        toml="upload_to",
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
        cli="--layer",
        metavar="LAYER.zip",
        terraform="layers",
        toml="layers",
    ),
    # -- where a project is (not an artifact's option) ----------------------------------------
    Option(
        "config",
        "path",
        "detzip.toml, pyproject.toml or the folder holding it (none: found from here)",
        NONE,
        "project",
        cli="--config",
        metavar="PATH",
        terraform="config",
    ),
)

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def option(name: str) -> Option:
    """The option called ``name`` (a KeyError if there is none)."""
    return BY_NAME[name]


def for_kind(kind: Kind) -> tuple[Option, ...]:
    """The options ``kind`` takes, in the table's order."""
    return tuple(o for o in OPTIONS if kind in o.kinds)


#: keys only a project file has: where zips go, the sections, and a function's layers by name
PROJECT_KEYS = {
    "output_dir": ("str", "where the zips go, relative to the file (default .build)"),
    "layers": ("table", "the layers, by name"),
    "functions": ("table", "the functions, by name"),
}
_NOT_IN_TOML = {"output", "name", "cache"}  # the file decides them (cache: top level only)


def toml_keys(where: str) -> dict[str, Option | None]:
    """The keys a table of the project file takes (``top``, ``layer`` or ``function``), each
    with its option (None for the project's own keys)."""
    found: dict[str, Option | None] = {}
    for opt in OPTIONS:
        if opt.toml is None:
            continue
        if where == "top":
            if opt.project_default or opt.name == "cache":
                found[opt.toml] = opt
        elif where in opt.kinds and opt.name not in _NOT_IN_TOML:
            found[opt.toml] = opt
    if where == "top":
        found.update({"output_dir": None, "layers": None, "functions": None})
    return dict(sorted(found.items()))


# -- how a front door writes a setting -----------------------------------------------------------


def spell(door: Door, setting: Setting) -> str:
    """``setting`` in ``door``'s words: ``--upload s3``, ``upload = "s3"``, ``upload='s3'``."""
    opt = BY_NAME.get(setting.option)
    value = setting.value
    if opt is None or door == "python":
        return setting.option if value is None else f"{setting.option}={value!r}"
    key = opt.key(door) or opt.name
    if door == "cli":
        if opt.cli is None:
            return opt.name
        if value is None or opt.type == "bool":
            return opt.cli  # a flag says its value (--no-default-excludes)
        item = value[0] if isinstance(value, list | tuple) and value else value
        return f"{opt.cli} {item}"
    if value is None:
        return key
    if door == "terraform":
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | tuple):
            text = "\\n".join(map(str, value))
        else:
            text = str(value)
        return f'{key} = "{text}"'
    return f"{key} = {_toml_literal(value)}"


def _toml_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_literal(item) for item in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def speller(door: Door) -> Any:
    """A :data:`detzip.errors.Spelling` for ``door``."""
    return lambda setting: spell(door, setting)


# -- reading values ------------------------------------------------------------------------------


class OptionError(DetzipError):
    """A value a front door read is not what the option takes."""


_TYPE_NAMES = {
    "str": "a string",
    "path": "a path (a string)",
    "int": "a whole number",
    "bool": "true or false",
    "list": "a list of strings",
    "paths": "a list of paths (strings)",
    "layers": "a list of {arn, unzipped_size} tables",
    "sources": "a list of folders (PATH, PATH=PREFIX, or {path, prefix, exclude, include})",
}


def coerce(opt: Option, value: Any, door: Door) -> Any:
    """``value`` as ``opt`` takes it (lists as tuples), or :class:`OptionError` saying why.

    Terraform passes strings only: lists are newline-separated, booleans ``"true"``/``"false"``.
    """
    if door == "terraform":
        value = _from_terraform_string(opt, value)
    if opt.type == "layers":
        return _external_layers(opt, value)
    if opt.type == "sources":
        return _sources(opt, value)
    if opt.type in ("list", "paths"):
        good = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    elif opt.type == "bool":
        good = isinstance(value, bool)
    elif opt.type == "int":
        good = isinstance(value, int) and not isinstance(value, bool)
    else:
        good = isinstance(value, str)
    if not good:
        raise OptionError(
            f"{{0}} must be {_TYPE_NAMES[opt.type]} ({opt.help.split(';')[0]}), not {value!r}",
            settings=[Setting(opt.name)],
        )
    if opt.choices is not None and value not in opt.choices:
        raise OptionError(
            f"{{0}} must be one of {', '.join(opt.choices)}, not {value!r}",
            settings=[Setting(opt.name)],
        )
    return tuple(value) if isinstance(value, list) else value


def _external_layers(opt: Option, value: Any) -> tuple[tuple[str, int], ...]:
    """Layers detzip does not build, as ``(arn, unzipped_size)`` pairs: from tables (TOML,
    Terraform's ``jsonencode``, Python dicts), ``ARN=BYTES`` strings (the command line) or
    pairs."""
    if not isinstance(value, list | tuple):
        value = [value]
    found = []
    for item in value:
        arn, size = None, None
        if isinstance(item, dict) and set(item) == {"arn", "unzipped_size"}:
            arn, size = item["arn"], item["unzipped_size"]
        elif isinstance(item, str) and "=" in item:
            arn, _, text = item.rpartition("=")
            size = int(text) if text.strip().isdigit() else text
        elif isinstance(item, list | tuple) and len(item) == 2:
            arn, size = item
        good_arn = isinstance(arn, str) and arn.startswith("arn:") and ":layer:" in arn
        good_size = isinstance(size, int) and not isinstance(size, bool) and size >= 0
        if not (good_arn and good_size):
            raise OptionError(
                f"{{0}}: {literal(repr(item))} is not a layer ARN with its unzipped size; give "
                "each as arn (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION) and "
                "unzipped_size (its bytes unzipped), or ARN=BYTES on the command line",
                settings=[Setting(opt.name)],
            )
        found.append((str(arn), int(size)))  # type: ignore[arg-type]
    return tuple(found)


def _sources(opt: Option, value: Any) -> tuple[SourceFolder, ...]:
    """Extra source folders from ``PATH``/``PATH=PREFIX`` strings or ``{path, prefix, exclude,
    include}`` tables (a single one stands for a list of one)."""
    if isinstance(value, str | dict):
        value = [value]
    if not isinstance(value, list | tuple):
        value = [value]
    found: list[SourceFolder] = []
    for item in value:
        if isinstance(item, str) and item.strip():
            path, sep, prefix = item.partition("=")
            found.append((path, prefix if sep else None, None, None))
            continue
        good = isinstance(item, dict) and isinstance(item.get("path"), str) and item["path"]
        good = good and set(item) <= {"path", "prefix", "exclude", "include"}
        lists = [item.get(k) for k in ("exclude", "include")] if good else []
        good = good and isinstance(item.get("prefix", ""), str) and all(
            v is None or (isinstance(v, list | tuple) and all(isinstance(s, str) for s in v))
            for v in lists
        )  # fmt: skip
        if not good:
            raise OptionError(
                f"{{0}}: {literal(repr(item))} is not a folder; give each as PATH, PATH=PREFIX "
                "or a table {{path, prefix, exclude, include}}",
                settings=[Setting(opt.name)],
            )
        exclude, include = (tuple(v) if v is not None else None for v in lists)
        found.append((item["path"], item.get("prefix"), exclude, include))
    from detzip.zip.names import normalize_prefix

    for folder, own, _, _ in found:  # checked here: the error names the option it came from
        if own is not None:
            given = literal(repr(f"{folder}={own}"))
            normalize_prefix(own, Setting(opt.name), f"{{0}} {given}: the prefix")
    return tuple(found)


def _from_terraform_string(opt: Option, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if opt.type == "sources" and text.startswith(("[", "{")):
        import json

        try:
            return json.loads(text)
        except ValueError:
            raise OptionError(
                "{0} must be PATH[=PREFIX] lines or jsonencode([{{path = …, prefix = …}}, …])",
                settings=[Setting(opt.name)],
            ) from None
    if opt.type == "sources":
        return tuple(line.strip() for line in value.splitlines() if line.strip())
    if opt.type == "layers":
        import json

        try:
            return json.loads(text) if text else []
        except ValueError:
            raise OptionError(
                "{0} must be jsonencode([{arn = …, unzipped_size = …}, …])",
                settings=[Setting(opt.name)],
            ) from None
    if opt.type in ("list", "paths"):
        return tuple(line.strip() for line in value.splitlines() if line.strip())
    if opt.type == "bool":
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise OptionError(
            f'{{0}} must be "true" or "false", not {value!r}', settings=[Setting(opt.name)]
        )
    if opt.type == "int":
        try:
            return int(text)
        except ValueError:
            raise OptionError(
                f"{{0}} must be a whole number, not {value!r}", settings=[Setting(opt.name)]
            ) from None
    return text
