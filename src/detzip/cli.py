"""Command line: argument parsing and printing only; the work is done by the public API.

Exit codes: 0 success, 1 a negative verdict (``diff`` found differences, ``check`` or a build
found a zip over a Lambda limit), 2 bad input or usage
(one line on stderr naming the file and the fix). Heavy modules are imported inside the commands
so that start-up stays close to Python's own.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from detzip import __version__

EXIT_OK = 0
EXIT_DIFFERENT = 1
EXIT_BAD_INPUT = 2

_UPLOAD_HELP = (
    "how the zip reaches Lambda: direct fails a build over 52,428,800 bytes, s3 skips that "
    "check (default: warn)"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"detzip: error: {message}\n")


def _add_zip_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("zip format")
    group.add_argument(
        "--mtime",
        metavar="TIME",
        help="timestamp of every entry: epoch seconds or ISO date "
        "(default: $SOURCE_DATE_EPOCH, else 1980-01-01)",
    )
    group.add_argument(
        "--compressor",
        choices=("deflate", "zlib", "store"),
        default="deflate",
        help="deflate: pinned libdeflate, same bytes everywhere (default); zlib: this "
        "machine's zlib, same bytes on this machine only; store: no compression",
    )
    group.add_argument(
        "--level", type=int, help="compression level (deflate 1-12, zlib 1-9; default 6)"
    )


def _add_dependency_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    group = parser.add_argument_group("dependencies")
    group.add_argument(
        "-r",
        "--requirements",
        required=required,
        metavar="FILE",
        help="requirements.txt, poetry.lock, pylock.toml or uv.lock",
    )
    group.add_argument(
        "--format",
        choices=("requirements", "poetry", "pylock", "uv"),
        help="lock format (default: from the file name)",
    )
    group.add_argument("--runtime", default="python3.12", help="Lambda runtime (python3.10-3.14)")
    group.add_argument("--arch", default="x86_64", choices=("x86_64", "arm64"))
    group.add_argument(
        "--with",
        dest="groups",
        action="append",
        default=[],
        metavar="GROUP",
        help="also install this dependency group (poetry, uv, pylock; repeatable)",
    )
    group.add_argument(
        "--exclude-package",
        action="append",
        default=[],
        metavar="NAME",
        help="leave this distribution out (e.g. boto3, which the runtime provides)",
    )
    group.add_argument("--index-url", metavar="URL", help="package index (pip's --index-url)")
    group.add_argument(
        "--extra-index-url", action="append", default=[], metavar="URL", help="more indexes"
    )
    group.add_argument(
        "--find-links", action="append", default=[], metavar="DIR", help="local wheel folders"
    )
    group.add_argument("--no-index", action="store_true", help="use only --find-links")


def _add_cache_dir(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="local cache of artifacts and wheels (default $DETZIP_CACHE_DIR, else "
        "~/.cache/detzip)",
    )


def _add_cache_options(parser: argparse.ArgumentParser, *, name: bool = True) -> None:
    group = parser.add_argument_group("cache")
    _add_cache_dir(group)
    group.add_argument(
        "--cache",
        metavar="URL",
        help="shared cache, s3://BUCKET/PREFIX (default $DETZIP_CACHE; needs detzip[s3])",
    )
    group.add_argument(
        "--no-cache", action="store_true", help="always build; neither read nor write the cache"
    )
    group.add_argument(
        "--require-cache",
        action="store_true",
        help="fail if the shared cache cannot be reached (default: warn and build locally)",
    )
    if name:
        group.add_argument(
            "--name", help="the artifact's name in caches (default: the output file name)"
        )


def _add_upload(parser: argparse._ActionsContainer, help: str) -> None:
    parser.add_argument("--upload", choices=("direct", "s3"), help=help)


def _cache(args: argparse.Namespace, configured: str | None = None) -> Any:
    """The cache the flags ask for; ``--cache`` wins over a project's ``configured`` one."""
    from detzip.cache import Cache

    if args.no_cache:
        return Cache.disabled(args.cache_dir)
    remote = args.cache if args.cache is not None else configured
    return Cache.create(args.cache_dir, remote, require=args.require_cache)


def _dependencies(
    args: argparse.Namespace, *, exclude: Sequence[str] = (), defaults: bool = True
) -> Any:
    from detzip.dependencies import Dependencies

    return Dependencies(
        args.requirements,
        runtime=args.runtime,
        arch=args.arch,
        format=args.format,
        groups=tuple(args.groups),
        exclude=tuple(exclude),
        exclude_packages=tuple(args.exclude_package),
        default_excludes=defaults,
        index_url=args.index_url,
        extra_index_urls=tuple(args.extra_index_url),
        find_links=tuple(args.find_links),
        no_index=args.no_index,
        cache_dir=args.cache_dir,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="detzip",
        description="Deterministic AWS Lambda zips: same inputs, same bytes.",
    )
    parser.add_argument("--version", action="version", version=f"detzip {__version__}")
    # -v/-q are accepted before or after the command
    common = _Parser(add_help=False)
    for where, default in ((parser, 0), (common, argparse.SUPPRESS)):
        where.add_argument(
            "-v",
            "--verbose",
            action="count",
            default=default,
            help="say more on stderr (-vv: debug, including pip's command lines)",
        )
        where.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=False if default == 0 else argparse.SUPPRESS,
            help="only errors on stderr: no warnings, no progress",
        )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    function = commands.add_parser(
        "function",
        parents=[common],
        help="zip a source tree into a function zip",
        description="Zip the code under SRC into a canonical zip.",
    )
    function.add_argument("source", metavar="SRC", help="folder holding the function code")
    function.add_argument("-o", "--output", required=True, metavar="OUT.zip")
    function.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="gitignore-style pattern to leave out (repeatable; '!PATTERN' re-includes)",
    )
    function.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="pack only files matching these patterns (repeatable)",
    )
    function.add_argument(
        "--no-default-excludes",
        action="store_true",
        help="also pack VCS folders, __pycache__, *.pyc, virtualenvs, tool caches, .DS_Store",
    )
    function.add_argument(
        "--no-ignore-file", action="store_true", help="do not read SRC/.detzipignore"
    )
    function.add_argument("--prefix", default="", help="folder to place everything under")
    function.add_argument(
        "--allow-outside-links",
        action="store_true",
        help="follow symlinks that point outside SRC (their targets are packed)",
    )
    _add_dependency_options(function, required=False)
    _add_zip_options(function)
    _add_cache_options(function)
    _add_upload(function, _UPLOAD_HELP)
    function.add_argument("--json", action="store_true", help="print the result as JSON")

    layer = commands.add_parser(
        "layer",
        parents=[common],
        help="build a dependency layer from a lock or requirements file",
        description="Install the locked packages for a Lambda runtime and architecture into a "
        "layer zip (under python/), without Docker and without recompressing wheels.",
    )
    layer.add_argument("-o", "--output", required=True, metavar="OUT.zip")
    layer.add_argument(
        "--prefix", default="python", help="folder in the zip (default python; '' for the root)"
    )
    layer.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="gitignore-style pattern for paths inside the layer, e.g. '*/tests/' (repeatable)",
    )
    layer.add_argument(
        "--no-default-excludes", action="store_true", help="keep __pycache__/ and *.pyc"
    )
    _add_dependency_options(layer, required=True)
    _add_zip_options(layer)
    _add_cache_options(layer)
    _add_upload(layer, _UPLOAD_HELP)
    layer.add_argument("--json", action="store_true", help="print the result as JSON")

    hash_ = commands.add_parser(
        "hash",
        parents=[common],
        help="print a file's base64 SHA-256 (Terraform's filebase64sha256)",
        description="Print base64sha256 of each FILE, as Terraform's filebase64sha256 does.",
    )
    hash_.add_argument("files", nargs="+", metavar="FILE")
    hash_.add_argument("--hex", action="store_true", help="print hex SHA-256 instead")

    diff = commands.add_parser(
        "diff",
        parents=[common],
        help="explain why two zips differ",
        description="Compare two zips entry by entry. Exit 0 if identical, 1 if not.",
    )
    diff.add_argument("a", metavar="A.zip")
    diff.add_argument("b", metavar="B.zip")
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")

    build = commands.add_parser(
        "build",
        parents=[common],
        help="build every artifact the project declares ([tool.detzip])",
        description="Build the layers and functions declared in [tool.detzip] of pyproject.toml "
        "(or in detzip.toml), found here or in a parent folder, into the output dir, through "
        "the cache; then print a summary. Each function is checked with its layers against "
        "Lambda's limits (exit 1 if over).",
    )
    build.add_argument(
        "names", nargs="*", metavar="NAME", help="build only these (and the layers they use)"
    )
    build.add_argument(
        "--config", metavar="PATH", help="detzip.toml, pyproject.toml, or the folder holding it"
    )
    _add_cache_options(build, name=False)
    build.add_argument("--json", action="store_true", help="print the summary as JSON")

    check = commands.add_parser(
        "check",
        parents=[common],
        help="check zips against Lambda's size limits",
        description="Check a function zip and its layers against Lambda's limits: each zip at "
        "most 52,428,800 bytes for a direct upload, everything unzipped under 262,144,000 "
        "bytes, at most 5 layers. Reads only the central directories. Exit 0 within the "
        "limits, 1 over one.",
    )
    check.add_argument("function", nargs="?", metavar="FUNCTION.zip")
    check.add_argument(
        "--layer",
        action="append",
        default=[],
        metavar="LAYER.zip",
        help="a layer the function uses (repeatable)",
    )
    check.add_argument(
        "--upload",
        choices=("direct", "s3"),
        default="direct",
        help="s3: the zips go through S3, so the zipped-size limit does not apply",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    commands.add_parser(
        "terraform",
        parents=[common],
        help="run as Terraform's external data source (JSON query on stdin)",
        description="Read the external data source's query (a JSON object of strings) on "
        "stdin, build or fetch the artifact it describes, and print path, base64sha256, "
        "sha256, size, unzipped_size, key and cache (hit/miss) as a JSON object of strings. "
        "Query keys: " + "; ".join(f"{k}: {v}" for k, v in _terraform_keys().items()),
    )

    cache = commands.add_parser(
        "cache",
        parents=[common],
        help="show or prune the local cache",
        description="The local cache holds built artifacts and wheels.",
    )
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = actions.add_parser("info", parents=[common], help="where the cache is and what it holds")
    _add_cache_dir(info)
    info.add_argument("--json", action="store_true", help="print as JSON")
    prune = actions.add_parser(
        "prune",
        parents=[common],
        help="remove old or least recently used artifacts and wheels",
        description="Remove artifacts and wheels not used for --older-than, then the least "
        "recently used until the cache fits --max-size. Leftover temporary files are always "
        "removed.",
    )
    _add_cache_dir(prune)
    prune.add_argument("--max-size", metavar="SIZE", help="keep at most this much, e.g. 2G")
    prune.add_argument("--older-than", metavar="AGE", help="remove what is unused for, e.g. 30d")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    prune.add_argument("--json", action="store_true", help="print as JSON")
    return parser


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _cmd_function(args: argparse.Namespace) -> int:
    from detzip.function import build_function

    artifact = build_function(
        args.source,
        args.output,
        exclude=args.exclude,
        include=args.include,
        default_excludes=not args.no_default_excludes,
        ignore_file=not args.no_ignore_file,
        prefix=args.prefix,
        allow_outside_links=args.allow_outside_links,
        mtime=args.mtime,
        compressor=args.compressor,
        level=args.level,
        dependencies=_dependencies(args) if args.requirements else None,
        cache=_cache(args),
        name=args.name,
        upload=args.upload,
    )
    _print_artifact(artifact, args.json)
    return EXIT_OK


def _cmd_layer(args: argparse.Namespace) -> int:
    from detzip.layer import write_layer
    from detzip.options import ZipOptions

    artifact = write_layer(
        _dependencies(args, exclude=args.exclude, defaults=not args.no_default_excludes),
        args.output,
        prefix=args.prefix,
        options=ZipOptions.create(mtime=args.mtime, compressor=args.compressor, level=args.level),
        cache=_cache(args),
        name=args.name,
        upload=args.upload,
    )
    _print_artifact(artifact, args.json)
    return EXIT_OK


def _print_artifact(artifact: Any, as_json: bool) -> None:
    if as_json:
        _print_json(artifact.to_dict())
        return
    print(artifact.path)
    print(f"  base64sha256  {artifact.base64sha256}")
    print(f"  sha256        {artifact.sha256}")
    print(
        f"  size          {artifact.size:,} bytes zipped, "
        f"{artifact.unzipped_size:,} unzipped, {artifact.entries} entries"
    )
    if artifact.cache_hit:
        how = f"cache hit ({artifact.cache_source})"
    elif artifact.cache_entry is not None:
        how = "built, cached"
    else:
        how = "built"
    print(f"  key           {artifact.key}  {how}")


def _terraform_keys() -> dict[str, str]:
    from detzip.terraform import KEYS

    return KEYS


def _cmd_build(args: argparse.Namespace) -> int:
    from detzip import progress, project

    loaded = project.load(args.config)
    cache = _cache(args, loaded.cache)

    results = project.build(
        loaded,
        args.names,
        cache=cache,
        on_start=lambda spec: progress.status(f"{spec.kind} {spec.name}…"),
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
        print(_summary(results))
    for result in results:
        for problem in result.problems:
            sys.stderr.write(f"detzip: error: {problem}\n")
    return EXIT_OK if all(r.limits_ok for r in results) else EXIT_DIFFERENT


def _summary(results: Sequence[Any]) -> str:
    header: tuple[str, ...] = ("name", "kind", "zipped", "unzipped", "sha256", "cache")
    header += ("headroom: unzipped", "upload")
    rows: list[tuple[str, ...]] = [header]
    for result in results:
        data = result.to_dict()
        upload = data["upload_headroom"]
        rows.append(
            (
                data["name"],
                data["kind"],
                f"{data['size']:,}",
                f"{data['unzipped_size']:,}",
                data["sha256"][:12],
                "hit" if data["cache_hit"] else "miss",
                f"{data['unzipped_headroom']:,}" + (" (with layers)" if data["layers"] else ""),
                "s3" if upload is None else f"{upload:,}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = {2, 3, 6, 7}
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if i in numeric and row is not header else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _cmd_check(args: argparse.Namespace) -> int:
    from detzip.limits import check_limits

    report = check_limits(args.function, args.layer, upload=args.upload)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.render())
    return EXIT_OK if report.ok else EXIT_DIFFERENT


def _cmd_terraform(args: argparse.Namespace) -> int:
    from detzip import terraform

    result = terraform.run(terraform.parse_query(sys.stdin.read()))
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    return EXIT_OK


def _cmd_cache(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from detzip import cacheadmin
    from detzip.cache import OFF, default_cache_dir

    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if args.action == "info":
        found = cacheadmin.info(root)
        if args.json:
            _print_json(found.to_dict())
        else:
            print(f"cache dir   {root}")
            print(f"artifacts   {found.artifacts} ({_size(found.artifact_bytes)})")
            print(f"wheels      {found.wheels} ({_size(found.wheel_bytes)})")
            print(f"memos       {found.memos}")
            remote = os.environ.get("DETZIP_CACHE", "").strip()
            if remote.lower() in OFF:
                shown = "off (DETZIP_CACHE: artifacts are not cached)"
            else:
                shown = f"{remote} (from $DETZIP_CACHE)" if remote else "none"
            print(f"shared      {shown}")
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
        data = pruned.to_dict()
        verb = "would remove" if args.dry_run else "removed"
        print(
            f"{verb} {_count(data['removed_artifacts'], 'artifact')} and "
            f"{_count(data['removed_wheels'], 'wheel')} ({_size(pruned.freed)}); "
            f"{_size(pruned.kept_bytes)} kept"
        )
    return EXIT_OK


def _count(number: object, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError


def _cmd_hash(args: argparse.Namespace) -> int:
    from detzip.hashing import b64, file_sha256

    for name in args.files:
        digest = file_sha256(name)
        shown = digest if args.hex else b64(digest)
        print(shown if len(args.files) == 1 else f"{shown}  {name}")
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from detzip.zipdiff import diff_zips, render

    differences = diff_zips(args.a, args.b)
    if args.json:
        _print_json(
            {"identical": not differences, "differences": [d.to_dict() for d in differences]}
        )
    else:
        print(render(args.a, args.b, differences))
    return EXIT_DIFFERENT if differences else EXIT_OK


_COMMANDS = {
    "function": _cmd_function,
    "layer": _cmd_layer,
    "hash": _cmd_hash,
    "diff": _cmd_diff,
    "cache": _cmd_cache,
    "check": _cmd_check,
    "build": _cmd_build,
    "terraform": _cmd_terraform,
}


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _log_to_stderr(verbose: int = 0, quiet: bool = False) -> None:
    """detzip's warnings as ``detzip: warning: …`` lines on stderr (stdout carries results)."""
    import logging

    class _Stderr(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            from detzip import progress

            progress.clear()
            sys.stderr.write(f"detzip: {record.levelname.lower()}: {record.getMessage()}\n")

    logger = logging.getLogger("detzip")
    if not any(handler.name == "detzip-cli" for handler in logger.handlers):
        handler = _Stderr()
        handler.set_name("detzip-cli")
        logger.addHandler(handler)
        logger.propagate = False
    if quiet:
        logger.setLevel(logging.ERROR)
    else:
        logger.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    args = build_parser().parse_args(argv)
    # On SIGTERM unwind normally, so that temporary outputs are removed.
    signal.signal(signal.SIGTERM, _terminate)
    _log_to_stderr(args.verbose, args.quiet)
    from detzip import progress

    interactive = sys.stderr.isatty() and not args.quiet and args.command != "terraform"
    progress.configure(interactive and not getattr(args, "json", False))
    from detzip.errors import DetzipError

    try:
        return _COMMANDS[args.command](args)
    except DetzipError as exc:
        sys.stderr.write(f"detzip: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("detzip: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
