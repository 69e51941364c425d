"""Command line: argument parsing and printing only; the work is done by the public API.

Exit codes: 0 success, 1 a negative verdict (``diff`` found differences, ``check`` or a build
found a zip over a Lambda limit), 2 bad input or usage
(one line on stderr naming the file and the fix). Heavy modules are imported inside the commands
so that start-up stays close to Python's own.
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from detzip import __version__

if TYPE_CHECKING:
    from detzip.optiontable import Kind, Option

__all__ = [
    "DEFERRED_COLLECTION",
    "EXIT_BAD_INPUT",
    "EXIT_DIFFERENT",
    "EXIT_OK",
    "build_parser",
    "collect_late",
    "main",
    "parse_spec",
]

EXIT_OK = 0
EXIT_DIFFERENT = 1
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    #: the width help is laid out in, measured when help is printed. argparse makes a formatter
    #: for every option it adds (to check the option's metavar), and a formatter asks shutil
    #: for the terminal's width: importing shutil (and bz2, lzma) is ~3 ms of every run.
    _width = 78

    def __init__(self, *args: Any, verbosity: bool = False, **kwargs: Any) -> None:
        """``verbosity``: a command's parser, taking -v/-q after the command (as a parent
        parser would give them, without building one: each parser is ~0.1 ms of start-up)."""
        super().__init__(*args, **kwargs)
        if verbosity:
            _verbosity(self, argparse.SUPPRESS)

    def error(self, message: str) -> NoReturn:
        """One line naming what is wrong and where to read more (no usage dump)."""
        self.exit(EXIT_BAD_INPUT, f"detzip: error: {message}; see {self.prog} --help\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        make: Any = self.formatter_class  # (typeshed's type names prog only: all take width)
        formatter: argparse.HelpFormatter = make(prog=self.prog, width=self._width)
        return formatter

    def format_usage(self) -> str:
        self._measure()
        return super().format_usage()

    def format_help(self) -> str:
        self._measure()
        return super().format_help()

    def _measure(self) -> None:
        import shutil

        self._width = shutil.get_terminal_size().columns - 2


def _add_options(
    parser: argparse.ArgumentParser,
    options: Sequence[Option],
    kind: Kind | None = None,
    command: str = "cli",
) -> None:
    """``options`` of the option table, as their flags (or argument) say, in their groups
    (``kind``: required where the kind requires them; ``command``: whose documented default
    the help shows, e.g. ``check``'s ``upload``).

    Defaults are not set here, except a command's own: an option not given is absent from the
    namespace, and :meth:`ArtifactSpec.create` fills in the table's default (which ``--help``
    shows).
    """
    groups: dict[str, argparse._ArgumentGroup] = {}
    for opt in options:
        if "cli" not in opt.doors:
            continue
        group = groups.get(opt.group)
        if group is None:
            group = groups[opt.group] = parser.add_argument_group(opt.group)
        text = opt.help
        if opt.positional:
            group.add_argument(opt.name, metavar=opt.metavar, help=text.replace("%", "%%"))
            continue
        assert opt.cli is not None
        flags = [opt.short, opt.cli] if opt.short else [opt.cli]
        default = opt.default_for(kind or "function", command)
        own = any(where == command for where, _ in opt.door_defaults)
        settings: dict[str, Any] = {
            "dest": opt.name,
            "default": default if own else argparse.SUPPRESS,
        }
        if opt.type == "bool":
            negated = opt.default is True
            settings["action"] = "store_false" if negated else "store_true"
            text = f"do not: {text}" if negated else text
        else:
            if opt.type in ("list", "paths", "layers", "sources"):
                settings["action"] = "append"
                text += " (repeatable)"
            if opt.type == "int":
                settings["type"] = int
            if opt.choices:
                settings["choices"] = opt.choices
                settings["metavar"] = opt.name.upper()
                text += f"; one of {', '.join(opt.choices)}"
            if opt.metavar:
                settings["metavar"] = opt.metavar
            if kind is not None and kind in opt.required:
                settings["required"] = True
            else:
                text += f" (default: {opt.describe_default(kind, command)})"
        group.add_argument(*flags, help=text.replace("%", "%%"), **settings)


def _options(*names: str) -> list[Option]:
    """The option table's options called ``names``, in the table's order."""
    from detzip import optiontable as table

    return [opt for opt in table.OPTIONS if opt.name in names]


def _cache_options() -> list[Option]:
    """The cache options a command honours: those the cache settings take."""
    from detzip.spec import CACHE_FIELDS

    return _options(*CACHE_FIELDS)


def _spec(args: argparse.Namespace, kind: Kind) -> Any:
    """The command line's :class:`ArtifactSpec`: what was given, by option name."""
    from detzip import optiontable as table
    from detzip.spec import ArtifactSpec

    values = {o.name: getattr(args, o.name) for o in table.for_kind(kind) if hasattr(args, o.name)}
    return ArtifactSpec.create(kind, values, "cli")


def parse_spec(argv: Sequence[str]) -> Any:
    """The :class:`ArtifactSpec` that ``detzip function …`` or ``detzip layer …`` describes."""
    args = build_parser().parse_args(argv)
    if args.command not in ("function", "layer"):
        raise ValueError(f"{args.command} builds no single artifact")
    return _spec(args, args.command)


def _cache_given(args: argparse.Namespace) -> dict[str, Any]:
    """The cache flags given, as :class:`CacheSettings` fields."""
    from detzip.optionvalues import read_values
    from detzip.spec import CACHE_FIELDS, cache_fields

    given = {name: getattr(args, name) for name in CACHE_FIELDS if hasattr(args, name)}
    return cache_fields(read_values(given, "cli"))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``detzip`` parser: every command (``function``, ``layer``, ``hash``, ``diff``,
    ``build``, ``why``, ``check``, ``terraform``, ``cache``) with its options and help; given
    ``command``, only that one is set up. A command line that names a command (see
    :func:`_command`) never shows the others: neither its help (the command's own), nor its
    errors (the command is a valid choice; all else is the command's parser's to refuse, or
    an unrecognized argument)."""
    parser = _Parser(
        prog="detzip",
        description="Deterministic AWS Lambda zips: same inputs, same bytes.",
    )
    parser.add_argument("--version", action="version", version=f"detzip {__version__}")
    _verbosity(parser, 0)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, (summary, setup) in _COMMAND_PARSERS.items():
        if command is None or name == command:  # (a parser per command: ~1 ms each)
            setup(commands, summary)
    return parser


def _verbosity(parser: argparse.ArgumentParser, default: Any) -> None:
    """-v/-q, accepted before the command (``default``: their values when not given) and
    after it (``argparse.SUPPRESS``: absent, so the ones before the command stand)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="say more on stderr (-vv: debug, including pip's command lines)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if default == 0 else argparse.SUPPRESS,
        help="only errors on stderr: no warnings, no progress",
    )


def _function_parser(commands: Any, summary: str) -> None:
    from detzip.optiontable import for_kind

    function = commands.add_parser(
        "function",
        verbosity=True,
        help=summary,
        description="Zip the code under SRC into a canonical zip (with -r, its dependencies "
        "beside it). With --layer, the function is checked together with its layers against "
        "Lambda's limits (exit 1 if over).",
    )
    _add_options(function, for_kind("function"), "function")
    function.add_argument("--json", action="store_true", help="print the result as JSON")


def _layer_parser(commands: Any, summary: str) -> None:
    from detzip.optiontable import for_kind

    layer = commands.add_parser(
        "layer",
        verbosity=True,
        help=summary,
        description="Install the locked packages for a Lambda runtime and architecture into a "
        "layer zip (under python/), without Docker and without recompressing wheels.",
    )
    _add_options(layer, for_kind("layer"), "layer")
    layer.add_argument("--json", action="store_true", help="print the result as JSON")


def _hash_parser(commands: Any, summary: str) -> None:
    hash_ = commands.add_parser(
        "hash",
        verbosity=True,
        help=summary,
        description="Print base64sha256 of each FILE, as Terraform's filebase64sha256 does.",
    )
    hash_.add_argument("files", nargs="+", metavar="FILE")
    hash_.add_argument("--hex", action="store_true", help="print hex SHA-256 instead")


def _diff_parser(commands: Any, summary: str) -> None:
    diff = commands.add_parser(
        "diff",
        verbosity=True,
        help=summary,
        description="Compare two zips entry by entry. Exit 0 if identical, 1 if not.",
    )
    diff.add_argument("a", metavar="A.zip")
    diff.add_argument("b", metavar="B.zip")
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")


def _why_parser(commands: Any, summary: str) -> None:
    why = commands.add_parser(
        "why",
        verbosity=True,
        help=summary,
        description="Name what changed between the last build of NAME (its record in the local "
        "cache: the zip at <output_dir>/NAME.zip, else the newest record of NAME) and a build "
        "of NAME now: files added, removed or changed, exec bits, packages, options, the "
        "target, detzip's version and format. Or, given two zips, between the builds the "
        "cache recorded for them. It only reads: no zip, cache entry, memo or output is "
        "written. Exit 0 whatever it finds.",
    )
    why.add_argument(
        "what", metavar="NAME|OLD.zip", help="an artifact [tool.detzip] declares, or a zip"
    )
    why.add_argument("new", nargs="?", metavar="NEW.zip", help="with OLD.zip: the zip to explain")
    _add_options(why, _options("config", "cache_dir"))
    why.add_argument("--json", action="store_true", help="print the differences as JSON")


def _build_parser(commands: Any, summary: str) -> None:
    build = commands.add_parser(
        "build",
        verbosity=True,
        help=summary,
        description="Build the layers and functions declared in [tool.detzip] of pyproject.toml "
        "(or in detzip.toml), found here or in a parent folder, into the output dir, through "
        "the cache; then print a summary. Each function is checked with its layers against "
        "Lambda's limits (exit 1 if over). The cache flags override the file's cache key.",
        epilog=_project_keys(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "names", nargs="*", metavar="NAME", help="build only these (and the layers they use)"
    )
    _add_options(build, [*_options("config"), *_cache_options()])
    build.add_argument(
        "--shard",
        metavar="K/N",
        help="build shard K of N (1-based): the artifacts whose name hashes to K, and the layers "
        "they use; N CI jobs sharing an S3 cache build each artifact once between them",
    )
    build.add_argument("--json", action="store_true", help="print the summary as JSON")


def _check_parser(commands: Any, summary: str) -> None:
    check = commands.add_parser(
        "check",
        verbosity=True,
        help=summary,
        description="Check a function zip and its layers against Lambda's limits: each zip at "
        "most 52,428,800 bytes for a direct upload, everything unzipped under 262,144,000 "
        "bytes, at most 5 layers. Reads only the central directories. Exit 0 within the "
        "limits, 1 over one.",
    )
    check.add_argument("function", nargs="?", metavar="FUNCTION.zip")
    _add_options(check, _options("layers", "external_layers", "upload"), command="check")
    check.add_argument("--json", action="store_true", help="print the report as JSON")


def _terraform_parser(commands: Any, summary: str) -> None:
    commands.add_parser(
        "terraform",
        verbosity=True,
        help=summary,
        description=_terraform_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _cache_parser(commands: Any, summary: str) -> None:
    cache = commands.add_parser(
        "cache",
        verbosity=True,
        help=summary,
        description="The local cache holds built artifacts and wheels.",
    )
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = actions.add_parser(
        "info",
        verbosity=True,
        help="where the cache is and what it holds",
        description="Where the local cache is and what it holds; with NAME, the entries of the "
        "artifact NAME, newest first, with who built each (its provenance), in the local cache "
        "and in the shared cache if one is configured (--cache or $DETZIP_CACHE).",
    )
    info.add_argument("name", nargs="?", metavar="NAME", help="an artifact's name")
    _add_options(info, _options("cache_dir", "cache"))
    info.add_argument("--json", action="store_true", help="print as JSON")
    verify = actions.add_parser(
        "verify",
        verbosity=True,
        help="rebuild a project's cached artifacts and compare bytes",
        description="For each artifact of the project (all, the NAMEs given, or a random "
        "--sample of them, with the layers they use): describe its key as a build would, look "
        "up its entries in the local and the shared cache, and if there are any, rebuild it "
        "without the cache and compare bytes. Writes no artifact and touches no output. Exit 0 "
        "if every entry is what its key builds, 1 naming each one that is not.",
    )
    verify.add_argument("names", nargs="*", metavar="NAME", help="artifacts (default: all)")
    verify.add_argument(
        "--sample",
        type=float,
        metavar="FRACTION",
        help="audit a random fraction of the artifacts, e.g. 0.1 (at least one)",
    )
    _add_options(verify, [*_options("config"), *_options("cache", "cache_dir", "require_cache")])
    verify.add_argument("--json", action="store_true", help="print as JSON")
    prune = actions.add_parser(
        "prune",
        verbosity=True,
        help="remove old or least recently used artifacts and wheels",
        description="Remove artifacts and wheels not used for --older-than, then the least "
        "recently used until the cache fits --max-size. Leftover temporary files are always "
        "removed.",
    )
    _add_options(prune, _options("cache_dir"))
    prune.add_argument("--max-size", metavar="SIZE", help="keep at most this much, e.g. 2G")
    prune.add_argument("--older-than", metavar="AGE", help="remove what is unused for, e.g. 30d")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    prune.add_argument("--json", action="store_true", help="print as JSON")


_COMMAND_PARSERS: dict[str, tuple[str, Any]] = {
    "function": (
        "zip a source tree into a function zip",
        _function_parser,
    ),
    "layer": (
        "build a dependency layer from a lock or requirements file",
        _layer_parser,
    ),
    "hash": (
        "print a file's base64 SHA-256 (Terraform's filebase64sha256)",
        _hash_parser,
    ),
    "diff": (
        "explain why two zips differ",
        _diff_parser,
    ),
    "build": (
        "build every artifact the project declares ([tool.detzip])",
        _build_parser,
    ),
    "why": (
        "say why an artifact changed since its last build (or between two zips)",
        _why_parser,
    ),
    "check": (
        "check zips against Lambda's size limits",
        _check_parser,
    ),
    "terraform": (
        "run as Terraform's external data source (JSON query on stdin)",
        _terraform_parser,
    ),
    "cache": (
        "show or prune the local cache",
        _cache_parser,
    ),
}


def _command(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (None: none yet, e.g. ``detzip --help``)."""
    for arg in argv:
        if arg in _COMMAND_PARSERS:
            return arg
        if not arg.startswith("-") or arg in ("-h", "--help", "--version"):
            return None
    return None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _cmd_artifact(args: argparse.Namespace) -> int:
    """``detzip function`` and ``detzip layer``: parse → spec → build → render."""
    from detzip.builder import build

    artifact = build(_spec(args, args.command))
    if args.json:
        _print_json(artifact.to_dict())
    else:
        print(artifact.render())
    for problem in artifact.problems:
        sys.stderr.write(f"detzip: error: {problem}\n")
    return EXIT_OK if artifact.ok else EXIT_DIFFERENT


def _terraform_help() -> str:
    from detzip.terraform import PROJECT_FORM, RESULT, describe_keys

    return (
        "Read the external data source's query (a JSON object of strings) on stdin, build or "
        "fetch the artifact it describes, and print "
        + ", ".join(RESULT)
        + " (hit/miss) as a JSON object of strings.\n\n"
        "A query is either the artifact in full (kind and the keys below; lists are "
        'newline-separated, booleans "true"/"false"), or an artifact [tool.detzip] '
        "declares: " + ", ".join(PROJECT_FORM) + " only. upload defaults to direct in both "
        "(Terraform uploads filename directly).\n\n" + describe_keys()
    )


def _project_keys() -> str:
    from detzip.project import toml_keys

    lines = ["keys of [tool.detzip] (or of detzip.toml's top level):"]
    for section, title in (
        ("top", "top level"),
        ("layer", "layers.NAME"),
        ("function", "functions.NAME"),
    ):
        keys = toml_keys(section)
        shown = [key if opt is not None or section == "top" else f"{key} (names)"
                 for key, opt in keys.items()]  # fmt: skip
        lines.append(f"  {title}: " + ", ".join(shown))
    lines.append("see detzip layer --help and detzip function --help for what each means")
    return "\n".join(lines)


def _cmd_build(args: argparse.Namespace) -> int:
    from detzip import _progress as progress
    from detzip import project
    from detzip._datatype import replace

    shard = None if args.shard is None else project.parse_shard(args.shard)
    loaded = project.load(getattr(args, "config", None), door="toml")
    settings = replace(loaded.cache, **_cache_given(args))
    results = loaded.build(
        args.names,
        cache=settings.open(),
        on_start=lambda declared: progress.status(f"{declared.kind} {declared.name}…"),
        shard=shard,
    )
    progress.clear()
    if args.json:
        _print_json(
            {
                "config": str(loaded.config),
                "output_dir": str(loaded.output_dir),
                "ok": all(r.limits_ok for r in results),
                "artifacts": [r.to_dict() for r in results],
            }
        )
    else:
        print(project.summary(results))
    for result in results:
        for problem in result.problems:
            sys.stderr.write(f"detzip: error: {problem}\n")
    return EXIT_OK if all(r.limits_ok for r in results) else EXIT_DIFFERENT


def _cmd_check(args: argparse.Namespace) -> int:
    from detzip.limits import check_limits
    from detzip.optionvalues import read_values

    given = read_values({"external_layers": getattr(args, "external_layers", ())}, "cli")
    report = check_limits(
        args.function,
        getattr(args, "layers", ()),
        upload=args.upload,
        external=given.get("external_layers", ()),
    )
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.render())
    return EXIT_OK if report.ok else EXIT_DIFFERENT


def _cmd_terraform(args: argparse.Namespace) -> int:
    from detzip import terraform

    # Terraform's query is UTF-8 whatever this machine's locale (Windows: its ANSI code page);
    # the result is ASCII (json escapes the rest), so any stdout encoding carries it
    raw = getattr(sys.stdin, "buffer", None)
    stdin = sys.stdin if raw is None else io.TextIOWrapper(raw, "utf-8", "surrogateescape")
    result = terraform.run(terraform.read_query(stdin))
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    return EXIT_OK


def _cmd_cache(args: argparse.Namespace) -> int:
    from detzip.cache import admin as cacheadmin
    from detzip.cache.layout import Layout

    if args.action == "verify":
        return _cmd_cache_verify(args)
    root = Layout.at(getattr(args, "cache_dir", None)).root
    if args.action == "info" and args.name is not None:
        return _cmd_cache_entries(args, root)
    if args.action == "info":
        found = cacheadmin.info(root)
        if args.json:
            _print_json(found.to_dict())
        else:
            print(found.render())
        return EXIT_OK
    pruned = cacheadmin.prune(
        root,
        max_size=None if args.max_size is None else cacheadmin.parse_size(args.max_size),
        older_than=None if args.older_than is None else cacheadmin.parse_age(args.older_than),
        dry_run=args.dry_run,
    )
    if args.json:
        _print_json({**pruned.to_dict(), "dry_run": args.dry_run})
    else:
        print(pruned.render(args.dry_run))
    return EXIT_OK


def _cmd_cache_entries(args: argparse.Namespace, root: Any) -> int:
    """``detzip cache info NAME``: an artifact's entries, local and shared, with provenance."""
    from detzip.cache import admin as cacheadmin
    from detzip.cache.settings import CacheSettings
    from detzip.errors import DetzipError

    settings = replace_settings(CacheSettings(), args)
    entries = cacheadmin.entries(root, args.name)
    url, _ = settings.remote()
    shared = None if settings.is_off() or url is None else url
    if shared is not None:
        from detzip.cache.artifacts import open_remote
        from detzip.cache.remote import RemoteUnavailable

        try:
            found = open_remote(shared).records(args.name)
        except RemoteUnavailable as exc:
            raise DetzipError(f"cannot read the shared cache ({exc}); fix access to it") from None
        entries += [cacheadmin.described(where, record, None) for where, record in found]
    if not entries:
        raise DetzipError(
            f"no cache entry of an artifact named {args.name!r} in {root}"
            + (f" or {shared}" if shared else "")
            + "; build it first, or check the name (detzip cache info lists the cache)"
        )
    if args.json:
        _print_json({"name": args.name, "entries": entries})
    else:
        print(cacheadmin.render_entries(entries))
    return EXIT_OK


def replace_settings(settings: Any, args: argparse.Namespace) -> Any:
    """``settings`` with the cache flags given on the command line."""
    from detzip._datatype import replace

    return replace(settings, **_cache_given(args))


def _cmd_cache_verify(args: argparse.Namespace) -> int:
    """``detzip cache verify``: a project's cached artifacts, rebuilt and compared."""
    from detzip import audit, project
    from detzip.errors import speaking
    from detzip.spelling import speller

    loaded = project.load(getattr(args, "config", None), door="toml")
    settings = replace_settings(loaded.cache, args)
    chosen = audit.choose(loaded, args.names, args.sample)
    with speaking(speller("cli")):
        results = audit.audit(loaded, chosen, settings.open())
    if args.json:
        _print_json(
            {
                "config": str(loaded.config),
                "ok": all(r.ok for r in results),
                "artifacts": [r.to_dict() for r in results],
            }
        )
    else:
        print(audit.render(results))
    for result in results:
        for entry in result.entries:
            if entry.problem is not None:
                sys.stderr.write(f"detzip: error: {entry.problem}\n")
    return EXIT_OK if all(r.ok for r in results) else EXIT_DIFFERENT


def _cmd_hash(args: argparse.Namespace) -> int:
    from detzip._digest import b64, file_sha256

    for name in args.files:
        digest = file_sha256(name)
        shown = digest if args.hex else b64(digest)
        print(shown if len(args.files) == 1 else f"{shown}  {name}")
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from detzip.zip.diff import diff_zips, render

    differences = diff_zips(args.a, args.b)
    if args.json:
        _print_json(
            {"identical": not differences, "differences": [d.to_dict() for d in differences]}
        )
    else:
        print(render(args.a, args.b, differences))
    return EXIT_DIFFERENT if differences else EXIT_OK


def _cmd_why(args: argparse.Namespace) -> int:
    """``detzip why NAME`` (in a project) or ``detzip why OLD.zip NEW.zip``: a report, exit 0."""
    from pathlib import Path

    from detzip import why
    from detzip.cache.layout import Layout
    from detzip.errors import DetzipError

    root = Layout.at(getattr(args, "cache_dir", None)).root
    if args.new is not None:
        report = why.why_zips(Path(args.what), Path(args.new), root)
    else:
        from detzip import project
        from detzip.errors import speaking
        from detzip.spelling import speller

        loaded = project.load(getattr(args, "config", None), door="toml")
        name = args.what
        loaded.select([name])  # (an unknown name: one line listing the declared ones)
        declared = loaded.artifacts[name]
        outputs = loaded.never_pack
        toml = speller("toml")
        try:
            with speaking(toml):
                report = why.why_artifact(declared.spec, root, never_pack=outputs)
        except DetzipError as exc:
            raise exc.spelled(toml).prefixed(f"[{name}] ") from None
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.render())
    return EXIT_OK


_COMMANDS = {
    "function": _cmd_artifact,
    "layer": _cmd_artifact,
    "hash": _cmd_hash,
    "diff": _cmd_diff,
    "cache": _cmd_cache,
    "check": _cmd_check,
    "build": _cmd_build,
    "why": _cmd_why,
    "terraform": _cmd_terraform,
}


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _log_to_stderr(verbose: int = 0, quiet: bool = False) -> None:
    """detzip's warnings as ``detzip: warning: …`` lines on stderr (stdout carries results).

    ``logging`` itself is imported only when the first message at this level is emitted.
    """
    from detzip import _log

    level = _log.ERROR if quiet else {0: _log.WARNING, 1: _log.INFO}.get(verbose, _log.DEBUG)

    def setup() -> None:
        import logging

        class _Stderr(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                from detzip import _progress as progress

                progress.clear()
                sys.stderr.write(f"detzip: {record.levelname.lower()}: {record.getMessage()}\n")

        logger = logging.getLogger("detzip")
        if not any(handler.name == "detzip-cli" for handler in logger.handlers):
            handler = _Stderr()
            handler.set_name("detzip-cli")
            logger.addHandler(handler)
            logger.propagate = False
        logger.setLevel(level)

    _log.configure(level, setup)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it). While it runs, a
    SIGTERM unwinds normally (temporary outputs are removed); the caller's handler is restored
    after, so an in-process caller keeps its own."""
    given = sys.argv[1:] if argv is None else list(argv)
    if given == ["--version"]:  # (what argparse prints, without building every parser)
        sys.stdout.write(f"detzip {__version__}\n")
        return EXIT_OK
    resume = collect_late()
    try:
        args = build_parser(_command(given)).parse_args(given)
        before = signal.signal(signal.SIGTERM, _terminate)
        try:
            return _run(args)
        finally:
            signal.signal(signal.SIGTERM, before)
    finally:
        resume()


#: the objects (made, less those freed) a command may make before Python's cyclic garbage
#: collector first runs; Python's own is 700. A hit makes ~15,000-20,000 (a 100-function
#: project's too), nearly all of them its modules' and parser's, which live until the process
#: ends: each collection would only walk them again (~2 ms of a hit's start-up, 20 collections)
DEFERRED_COLLECTION = 100_000


def collect_late() -> Callable[[], None]:
    """Defer the cyclic garbage collector until :data:`DEFERRED_COLLECTION` objects are made;
    its first collection (a build that makes that many: a miss) puts Python's own thresholds
    back, so a long build collects as usual and cyclic garbage is bounded. Returns what puts
    them back (at the command's end: an in-process caller keeps its own)."""
    import gc

    own = gc.get_threshold()
    if own[0] == 0 or own[0] >= DEFERRED_COLLECTION:  # (disabled, or deferred already)
        return lambda: None
    done: list[bool] = []

    def first(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and not done:
            done.append(True)
            gc.set_threshold(*own)

    def resume() -> None:
        if first in gc.callbacks:
            gc.callbacks.remove(first)
        if not done:
            gc.set_threshold(*own)

    gc.set_threshold(DEFERRED_COLLECTION, *own[1:])
    gc.callbacks.append(first)
    return resume


def _run(args: argparse.Namespace) -> int:
    """The command ``args`` names, its errors rendered in its door's words."""
    _log_to_stderr(args.verbose, args.quiet)
    from detzip import _progress as progress

    interactive = sys.stderr.isatty() and not args.quiet and args.command != "terraform"
    progress.configure(interactive and not getattr(args, "json", False))
    from detzip.errors import DetzipError, speaking
    from detzip.spelling import speller

    spelling = speller("terraform" if args.command == "terraform" else "cli")
    try:
        with speaking(spelling):
            return _COMMANDS[args.command](args)
    except DetzipError as exc:
        sys.stderr.write(f"detzip: error: {exc.render(spelling)}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("detzip: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
