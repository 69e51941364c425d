"""A project's artifacts, declared once: ``[tool.detzip]`` in pyproject.toml, or detzip.toml.

::

    [tool.detzip]                 # in detzip.toml, the same keys at the top level
    output_dir = ".build"         # default; paths are relative to the config file
    runtime = "python3.12"        # defaults for every artifact: runtime, arch, compressor,
    arch = "arm64"                # level, mtime, upload, cache and the index options

    [tool.detzip.layers.deps]
    requirements = "poetry.lock"
    exclude_packages = ["boto3"]

    [tool.detzip.functions.api]
    source = "functions/api"
    layers = ["deps"]             # checked together against Lambda's unzipped limit

The keys are the option table's (:mod:`detzip.optiontable`), checked by it. Each artifact
becomes an :class:`~detzip.spec.ArtifactSpec` writing ``<output_dir>/<name>.zip``;
:meth:`Project.build` builds layers first, then functions, each checked with its layers.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip import _toml
from detzip import optiontable as table
from detzip._datatype import datatype, field
from detzip.cache.settings import CacheSettings
from detzip.errors import DetzipError, Setting, speaking
from detzip.optiontable import Door, Kind, Option
from detzip.optionvalues import read
from detzip.spec import ArtifactSpec
from detzip.spelling import speller

if TYPE_CHECKING:
    from detzip.artifact import Artifact
    from detzip.cache.local import Cache

__all__ = [
    "CONFIG_FILES",
    "PLURALS",
    "PROJECT_KEYS",
    "Built",
    "Declared",
    "Project",
    "find_config",
    "load",
    "parse_shard",
    "shard_of",
    "summary",
    "toml_keys",
]

CONFIG_FILES = ("detzip.toml", "pyproject.toml")
PLURALS: dict[Kind, str] = {"layer": "layers", "function": "functions"}

#: keys only a project file has, by table (``top``, ``function``): where the zips go, the
#: sections, and a function's layers by name; each with its TOML type and meaning
PROJECT_KEYS: dict[str, dict[str, tuple[str, str]]] = {
    "top": {
        "output_dir": ("str", "where the zips go, relative to the file (default .build)"),
        "layers": ("table", "the layers, by name"),
        "functions": ("table", "the functions, by name"),
    },
    "function": {"layers": ("list", "the layers it uses, by name")},
}
#: the project's shared cache is the top level's alone
_TOP_ONLY = ("cache", "cache_write", "verify")


def toml_keys(where: str) -> dict[str, Option | None]:
    """The keys a table of the project file takes (``top``, ``layer`` or ``function``), each
    with its option (None for the project's own keys, :data:`PROJECT_KEYS`)."""
    known = _TOML_KEYS.get(where)
    if known is None:  # (worked out once per section: a project reads one table per artifact)
        known = _TOML_KEYS[where] = _toml_keys(where)
    return dict(known)


#: :func:`toml_keys` by section, from the option table (which does not change while it runs)
_TOML_KEYS: dict[str, dict[str, Option | None]] = {}


def _toml_keys(where: str) -> dict[str, Option | None]:
    own = PROJECT_KEYS.get(where, {})
    found: dict[str, Option | None] = {key: None for key in own}
    for opt in table.OPTIONS:
        if opt.toml is None or opt.toml in own:
            continue
        if (where == "top" and (opt.project_default or opt.name in _TOP_ONLY)) or (
            where in opt.kinds and opt.name not in _TOP_ONLY
        ):
            found[opt.toml] = opt
    return dict(sorted(found.items()))


@datatype(slots=False)
class Declared:
    """One artifact the project declares: its name, its spec, and the layers it uses."""

    name: str
    spec: ArtifactSpec
    layers: tuple[str, ...] = ()

    @property
    def kind(self) -> Kind:
        """``function`` or ``layer``: its spec's kind."""
        return self.spec.kind


@datatype(slots=False)
class Project:
    """A loaded project file: its artifacts and where they are written.

    ``artifacts`` holds those that were read (all of them unless :func:`load` was given
    ``only``); ``kinds`` every name the file declares, with its kind.
    """

    config: Path
    root: Path
    output_dir: Path
    artifacts: dict[str, Declared]
    cache: CacheSettings = field(default_factory=CacheSettings)
    kinds: dict[str, Kind] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """Every artifact the file declares, in its order (read or not)."""
        return tuple(self.kinds or self.artifacts)

    def output(self, name: str) -> Path:
        """Where the artifact ``name`` is written: ``<output_dir>/<name>.zip``."""
        return self.output_dir / f"{name}.zip"

    @property
    def never_pack(self) -> list[Path]:
        """What no artifact of the project ever packs: the output folder and every declared
        artifact's zip (``output_dir = "."`` with ``source = "."`` would pack the others'
        outputs, and change with every build)."""
        return [self.output_dir, *(self.output(name) for name in self.names)]

    def select(self, names: Sequence[str]) -> list[Declared]:
        """The named artifacts and the layers they use (all if none named), layers first."""
        _refuse_unknown(names, dict.fromkeys(self.names), self.config)
        chosen = set(names or self.names)
        for name in list(chosen):
            chosen.update(self._read(name).layers)
        declared = [self._read(name) for name in sorted(chosen)]
        return sorted(declared, key=lambda item: item.kind != "layer")

    def shard(self, k: int, n: int) -> list[str]:
        """The names shard ``k`` of ``n`` (1-based) builds, sorted: those whose name's sha256,
        as a number, is ``k - 1`` modulo ``n``. By name, not position: adding or removing an
        artifact moves no other, and shards 1..n together hold every name exactly once. The
        layers they use are not added here (:meth:`select` adds them); a shard may be empty."""
        _check_shard(k, n)
        return sorted(name for name in self.names if shard_of(name, n) == k)

    def _read(self, name: str) -> Declared:
        try:
            return self.artifacts[name]
        except KeyError:
            raise DetzipError(
                f"{name} was not read (load(only=...) named others); load it too", self.config
            ) from None

    def build(
        self,
        names: Sequence[str] = (),
        *,
        cache: Cache | None = None,
        on_start: Callable[[Declared], None] | None = None,
        shard: tuple[int, int] | None = None,
    ) -> list[Built]:
        """Build the named artifacts (all by default) and the layers they use, through the cache.

        ``shard`` (K, N) keeps those of them in shard K of N (:meth:`shard`), with the layers
        they use: nothing at all when none is in it (never everything).

        ``cache`` defaults to the project's (its ``cache`` key, else ``$DETZIP_CACHE``, local
        by default). Each function is checked with its layers against Lambda's unzipped limit
        and layer count; see :attr:`Built.problems`. An error names the artifact and speaks
        the project file's language (``upload = "s3"``).
        """
        from detzip._fs import never_pack
        from detzip.builder import build

        if shard is not None:
            _refuse_unknown(names, dict.fromkeys(self.names), self.config)
            mine = set(self.shard(*shard))
            names = [name for name in names or self.names if name in mine]
            if not names:
                return []
        chosen = self.select(names)
        store = cache if cache is not None else self.cache.open()
        # (identities taken once, and each output's as it is written: stat'ing every output
        # for every build grew with the square of the artifacts)
        outputs = never_pack(*self.never_pack)
        results = []
        toml = speller("toml")
        for declared in chosen:  # every input there before any artifact is written
            try:
                declared.spec.check_inputs()
            except DetzipError as exc:
                raise exc.spelled(toml).prefixed(f"[{declared.name}] ") from None
        for declared in chosen:
            if on_start is not None:
                on_start(declared)
            try:
                with speaking(toml):  # its warnings too: the file is where to fix them
                    artifact = build(declared.spec, store, known=outputs)
            except DetzipError as exc:
                raise exc.spelled(toml).prefixed(f"[{declared.name}] ") from None
            outputs |= never_pack(self.output_dir, declared.spec.output)
            results.append(Built(declared, artifact))
        return results


@datatype(slots=False)
class Built:
    """One artifact of a project build, with its check against Lambda's limits."""

    declared: Declared
    artifact: Artifact

    @property
    def limits_ok(self) -> bool:
        """Whether it is within Lambda's limits (a function: with its layers)."""
        return self.artifact.ok

    @property
    def problems(self) -> tuple[str, ...]:
        """What puts it over Lambda's limits, one message each (none when it fits)."""
        return self.artifact.problems

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values (``detzip build --json``): name, kind, sizes, layers,
        headroom under Lambda's limits (``upload_headroom`` None through S3) and problems."""
        from detzip.limits import DIRECT_UPLOAD_LIMIT, UNZIPPED_LIMIT

        data = self.artifact.to_dict()
        data.pop("description")
        total = data.pop("unzipped_total")
        data.pop("problems")
        s3 = self.declared.spec.upload == "s3"
        return {
            "name": self.declared.name,
            "kind": self.declared.kind,
            **data,
            "layers": list(self.declared.layers),
            "unzipped_total": total,
            "unzipped_headroom": UNZIPPED_LIMIT - total,
            "upload_headroom": None if s3 else DIRECT_UPLOAD_LIMIT - self.artifact.size,
            "ok": self.limits_ok,
            "problems": list(self.problems),
        }


def summary(results: Sequence[Built]) -> str:
    """A project build's results as a table (what ``detzip build`` prints): sizes, short
    sha256, cache hit or miss, and the headroom under Lambda's limits."""
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


def shard_of(name: str, n: int) -> int:
    """The shard (1..``n``) that builds the artifact ``name``: its name's sha256, as a number,
    modulo ``n``, plus one. It depends on the name and ``n`` alone."""
    import hashlib

    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % n + 1


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (``--shard 2/4``: shard 2 of 4, 1-based) as ``(K, N)``; anything else is a
    :class:`DetzipError` of one line."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise DetzipError(
            f"--shard {text.strip()[:40]!r} is not K/N; give shard K of N, e.g. --shard 1/4 "
            "(K is 1 to N)"
        )
    k, n = int(match[1]), int(match[2])
    _check_shard(k, n, f"--shard {k}/{n}: ")
    return k, n


def _check_shard(k: int, n: int, said: str = "") -> None:
    if n < 1:
        raise DetzipError(f"{said or f'shard {k} of {n}: '}N must be at least 1")
    if not 1 <= k <= n:
        raise DetzipError(f"{said or f'shard {k} of {n}: '}K must be 1..N (1 to {n})")


def find_config(start: str | os.PathLike[str] | None = None) -> Path:
    """``start`` if it is a file; the detzip.toml or pyproject.toml with ``[tool.detzip]`` in
    ``start`` if it is a folder (that folder only: a folder named is the project's, and a parent's
    project is never taken for it); with no ``start``, the nearest in the working directory or
    above it."""
    origin = Path(start) if start is not None else Path.cwd()
    if origin.is_file():
        return origin
    if start is not None and not origin.exists():
        raise DetzipError(
            "no such file or folder; give a detzip.toml, pyproject.toml or folder", origin
        )
    if start is not None:
        found = _project_file(origin)
        if found is not None:
            return found
        candidate = origin / "pyproject.toml"
        raise DetzipError(
            ("has no [tool.detzip] table and no detzip.toml is beside it" if candidate.is_file()
             else "holds no detzip.toml or pyproject.toml")
            + "; point {0} at the folder or file that declares the project",
            candidate if candidate.is_file() else origin,
            settings=[Setting("config")],
        )  # fmt: skip
    for folder in [origin.resolve(), *origin.resolve().parents]:
        found = _project_file(folder)
        if found is not None:
            return found
    raise DetzipError(
        "no detzip.toml, or pyproject.toml with [tool.detzip], here or in a parent folder; "
        "create one (see the README) or give {0}",
        origin,
        settings=[Setting("config")],
    )


def _project_file(folder: Path) -> Path | None:
    """``folder``'s detzip.toml, else its pyproject.toml if that has ``[tool.detzip]``."""
    if (folder / "detzip.toml").is_file():
        return folder / "detzip.toml"
    candidate = folder / "pyproject.toml"
    return candidate if candidate.is_file() and _declares_detzip(candidate) else None


def _declares_detzip(pyproject: Path) -> bool:
    """Whether ``pyproject`` has ``[tool.detzip]``: a header line says so without reading the
    rest (:func:`load` reads it, and refuses it if it is not TOML); else it is read."""
    try:
        text = pyproject.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        text = None  # read below, to be refused in its own words
    if text is not None:
        if '"""' not in text and "'''" not in text and _DETZIP_HEADER.search(text):
            return True
        if "detzip" not in text:
            return False
    tool = _toml.load(pyproject).get("tool")
    return isinstance(tool, dict) and "detzip" in tool


#: ``[tool.detzip]`` or one of its tables, alone on a line
_DETZIP_HEADER = re.compile(r"^\[tool\.detzip[\].]", re.M)
#: a table header of bare keys alone on its line (a comment may follow)
_HEADER = re.compile(r"\[([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\][ \t]*(?:#.*)?\r?")


def _read(path: Path, only: Sequence[str] | None) -> dict[str, Any]:
    """The project file's TOML. With ``only``, the body of each function's table not named
    there is left out before the text is parsed (its header stays, on its own line, so every
    name, every table and every line number is what the whole file has): the parse does not
    grow with the functions the query does not name. Text this cannot split with certainty
    (multi-line strings), and any text that then fails to parse, is parsed whole: a file that
    is not TOML is refused in the same words either way."""
    if only is None:
        return _toml.load(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return _toml.load(path)
    if '"""' in text or "'''" in text:
        return _toml.load(path)
    prefix = "functions." if path.name == "detzip.toml" else "tool.detzip.functions."
    wanted = set(only)
    lines = text.split("\n")
    skipping = False
    for number, line in enumerate(lines):
        if line.lstrip(" \t").startswith("["):  # (TOML lets a header be indented)
            header = _HEADER.fullmatch(line.lstrip(" \t"))
            key = header[1] if header else ""
            name = key.removeprefix(prefix)
            skipping = key.startswith(prefix) and "." not in name and name not in wanted
        elif skipping:
            lines[number] = ""
    try:
        return tomllib.loads("\n".join(lines))
    except (tomllib.TOMLDecodeError, RecursionError):
        return _toml.load(path)  # the whole file, for the same verdict in the same words


#: an artifact name: a file name in output_dir, never a path out of it
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: the names Windows keeps for devices, whatever the extension (con.zip is the console)
_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{port}{n}" for port in ("com", "lpt") for n in range(1, 10)]
)
#: an artifact's table as declared: its kind, where it is (``tool.detzip.functions.api``) and
#: its options, unread
_Table = tuple[Kind, str, dict[str, Any]]


def load(
    config: str | os.PathLike[str] | None = None,
    *,
    door: Door = "toml",
    only: Sequence[str] | None = None,
) -> Project:
    """The project declared in ``config`` (a file or folder; default: found from here).

    ``door`` is the front door asking, whose documented defaults apply where the file says
    nothing (Terraform's ``upload`` is ``direct``). ``only`` (names) reads and checks the
    options of those artifacts and the layers they use, and no other table's: the cost of
    asking for one artifact does not grow with how many the project declares. Every table's
    name is checked either way, and a name that is not declared is refused naming those that
    are.
    """
    path = find_config(config)
    data = _read(path, only)
    if path.name == "detzip.toml":
        top, where = data, ""
    else:
        tool = data.get("tool")
        if not isinstance(tool, dict) or "detzip" not in tool:
            raise DetzipError("has no [tool.detzip] table; add one (see the README)", path)
        top, where = tool["detzip"], "tool.detzip"
        if not isinstance(top, dict):
            raise DetzipError(
                f"'detzip = {str(top)[:40]}' under [tool] is not a table; write the options "
                "under a [tool.detzip] header (see the README)",
                path,
            )
    root = path.parent
    reader = _Reader(path, root)
    defaults = reader.read(top, "top", where)
    output_dir = root / top.get("output_dir", ".build")
    shared = CacheSettings(
        url=defaults.pop("cache", None),
        write=defaults.pop("cache_write", None),
        verify=defaults.pop("verify", False),
    )
    tables = _tables(top, where, path)
    wanted = list(tables) if only is None else _wanted(only, tables, path)
    values = {name: reader.read(tables[name][2], tables[name][0], tables[name][1])
              for name in wanted}  # fmt: skip
    artifacts: dict[str, Declared] = {}
    for name in wanted:
        kind, here, options = tables[name]
        layer_names = tuple(options.get("layers", ()))
        for number, layer in enumerate(layer_names):
            if layer in layer_names[:number]:
                raise DetzipError(
                    f"[{here}] layers: {layer!r} is listed twice; list each layer once", path
                )
            if layer.startswith("arn:"):
                raise DetzipError(
                    f"[{here}] layers: {layer!r} is an ARN, a layer detzip does not build; list "
                    f'it as external_layers = [{{arn = "{layer}", unzipped_size = BYTES}}] so '
                    "Lambda's limits count it",
                    path,
                )
            if tables.get(layer, ("function",))[0] != "layer":
                raise DetzipError(
                    f"[{here}] layers: {layer!r} is not a declared layer; add "
                    f"[{_join(where, 'layers', layer)}] or fix the name",
                    path,
                )
        given = values[name]
        given.update(name=name, output=output_dir / f"{name}.zip")
        if layer_names:
            given["layers"] = tuple(output_dir / f"{layer}.zip" for layer in layer_names)
        inherited = {k: v for k, v in defaults.items() if kind in table.BY_NAME[k].kinds}
        if kind == "function" and "requirements" not in given:
            inherited = {
                k: v for k, v in inherited.items() if not table.BY_NAME[k].needs_requirements
            }
        try:
            # (the project's cache serves every build)
            spec = ArtifactSpec.from_values(kind, given, inherited, door, cache=CacheSettings())
        except DetzipError as exc:
            raise DetzipError(f"[{here}] " + exc.render(speller("toml")), path) from None
        artifacts[name] = Declared(name, spec, layer_names)
    for declared in artifacts.values():
        _same_target(declared, artifacts, tables, top, where, path)
    kinds = {name: kind for name, (kind, _, _) in tables.items()}
    return Project(path, root, output_dir, artifacts, shared, kinds)


def _tables(top: Mapping[str, Any], where: str, path: Path) -> dict[str, _Table]:
    """Every artifact's table by name, each name checked (a plain name, no device, unique
    whatever the case, not both a layer and a function); the options are not read here."""
    tables: dict[str, _Table] = {}
    folded: dict[str, str] = {}
    for kind in table.KINDS:
        plural = PLURALS[kind]
        section = top.get(plural, {})
        if not isinstance(section, dict):
            raise DetzipError(f"[{_join(where, plural)}] must be a table of tables", path)
        for name, options in section.items():
            here = _join(where, plural, name)
            if not _NAME.fullmatch(name):
                raise DetzipError(
                    f"[{here}]: the name {name!r} is not a plain name; use letters, digits, "
                    "'.', '_' and '-', starting with a letter or digit (each artifact is "
                    "written to <output_dir>/<name>.zip)",
                    path,
                )
            if name.split(".")[0].lower() in _DEVICES:
                raise DetzipError(
                    f"[{here}]: the name {name!r} is a device on Windows ({name.split('.')[0]}"
                    f".zip cannot be a file there); a project builds on every OS: rename it",
                    path,
                )
            same = folded.get(name.lower())
            if same is not None and same != name:
                raise DetzipError(
                    f"[{here}]: the name {name!r} differs from {same!r} only in case: one file "
                    "on macOS and Windows, where one would overwrite the other's zip; a project "
                    "builds on every OS: rename one",
                    path,
                )
            if not isinstance(options, dict):
                raise DetzipError(f"[{here}] must be a table of options", path)
            if name in tables:
                raise DetzipError(
                    f"[{here}]: the name {name!r} is also a layer; names must be unique "
                    "(each is written to <output_dir>/<name>.zip)",
                    path,
                )
            folded.setdefault(name.lower(), name)
            tables[name] = (kind, here, options)
    if not tables:
        raise DetzipError(f"[{where or 'top level'}] declares no layers or functions", path)
    return tables


def _wanted(only: Sequence[str], tables: Mapping[str, _Table], path: Path) -> list[str]:
    """The names in ``only`` and the layers they use, in the file's order; a name not declared
    is refused naming those that are."""
    _refuse_unknown(only, tables, path)
    chosen = set(only)
    for name in only:
        used = tables[name][2].get("layers", ())
        if isinstance(used, list):  # anything else is refused as its table is read
            chosen.update(
                layer
                for layer in used
                if isinstance(layer, str) and tables.get(layer, ("function",))[0] == "layer"
            )  # (a name that is no layer is refused as the table naming it is read)
    return [name for name in tables if name in chosen]


def _refuse_unknown(names: Sequence[str], declared: Mapping[str, Any], path: Path) -> None:
    unknown = [name for name in names if name not in declared]
    if unknown:
        raise DetzipError(
            f"no artifact named {', '.join(unknown)}; declared: "
            f"{', '.join(sorted(declared)) or 'none'}",
            path,
        )


def _same_target(
    declared: Declared,
    artifacts: Mapping[str, Declared],
    tables: Mapping[str, _Table],
    top: Mapping[str, Any],
    where: str,
    path: Path,
) -> None:
    """A function and its layers must be built for one runtime and architecture."""

    def said(name: str, key: str) -> str:
        value = tables[name][2].get(key, top.get(key))
        return "the default" if value is None else str(value)

    for layer in declared.layers:
        for key in ("runtime", "arch"):
            if getattr(declared.spec, key) != getattr(artifacts[layer].spec, key):
                raise DetzipError(
                    f"[{_join(where, 'functions', declared.name)}] {key} is "
                    f"{said(declared.name, key)} but its layer {layer!r} is built for "
                    f"{said(layer, key)}; make them the same",
                    path,
                )


class _Reader:
    """Reads a project file's tables: each key checked against the tables' keys, each value
    read once by its option (:func:`detzip.optionvalues.read`), paths resolved against the
    file's folder."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root

    def read(self, options: Mapping[str, Any], section: str, here: str) -> dict[str, Any]:
        """The table ``options`` of ``section`` (``top``, ``layer``, ``function``) at ``here``
        as option values by name (the project's own keys checked, and left out)."""
        allowed = toml_keys(section)
        values: dict[str, Any] = {}
        for key, value in options.items():
            if key not in allowed:
                raise DetzipError(
                    f"[{here or 'top level'}] unknown key {key!r}; use one of "
                    f"{', '.join(sorted(allowed))}",
                    self.path,
                )
            opt = allowed[key]
            if opt is None:
                self._own(key, value, PROJECT_KEYS[section][key][0], here)
                continue
            try:
                values[opt.name] = self._rooted(opt, read(opt, value, "toml"))
            except DetzipError as exc:
                raise DetzipError(
                    f"[{here or 'top level'}] " + exc.render(speller("toml")), self.path
                ) from None
        return values

    def _own(self, key: str, value: Any, kind: str, here: str) -> None:
        good = {
            "table": isinstance(value, dict),
            "str": isinstance(value, str),
            "list": isinstance(value, list) and all(isinstance(v, str) for v in value),
        }[kind]
        if not good:
            wanted = {"table": "a table", "str": "a string", "list": "a list of strings"}
            raise DetzipError(
                f"[{here or 'top level'}] {key} must be {wanted[kind]}, not {value!r}",
                self.path,
            )

    def _rooted(self, opt: Option, value: Any) -> Any:
        """A value read, with the paths it names resolved against the file's folder."""
        if opt.type == "path":
            return self.root / value
        if opt.type == "sources":
            return tuple(
                (str(self.root / path), prefix, exclude, include)
                for path, prefix, exclude, include in value
            )
        if opt.name == "find_links":
            return tuple(link if "://" in link else str(self.root / link) for link in value)
        return value


def _join(*parts: str) -> str:
    return ".".join(part for part in parts if part)
