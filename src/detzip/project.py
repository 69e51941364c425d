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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip import _toml
from detzip import optiontable as table
from detzip._datatype import datatype, field, replace
from detzip.cache.settings import CacheSettings
from detzip.errors import DetzipError, Setting, speaking
from detzip.optiontable import Door, Kind
from detzip.spec import ArtifactSpec

if TYPE_CHECKING:
    from detzip.artifact import Artifact
    from detzip.cache.local import Cache

__all__ = ["CONFIG_FILES", "PLURALS", "Built", "Declared", "Project", "find_config", "load"]

CONFIG_FILES = ("detzip.toml", "pyproject.toml")
PLURALS: dict[Kind, str] = {"layer": "layers", "function": "functions"}


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
    """A loaded project file: its artifacts and where they are written."""

    config: Path
    root: Path
    output_dir: Path
    artifacts: dict[str, Declared]
    cache: CacheSettings = field(default_factory=CacheSettings)

    def output(self, name: str) -> Path:
        """Where the artifact ``name`` is written: ``<output_dir>/<name>.zip``."""
        return self.output_dir / f"{name}.zip"

    def select(self, names: Sequence[str]) -> list[Declared]:
        """The named artifacts and the layers they use (all if none named), layers first."""
        unknown = [name for name in names if name not in self.artifacts]
        if unknown:
            raise DetzipError(
                f"no artifact named {', '.join(unknown)}; declared: "
                f"{', '.join(sorted(self.artifacts)) or 'none'}",
                self.config,
            )
        chosen = set(names or self.artifacts)
        for name in list(chosen):
            chosen.update(self.artifacts[name].layers)
        declared = [self.artifacts[name] for name in sorted(chosen)]
        return sorted(declared, key=lambda item: item.kind != "layer")

    def build(
        self,
        names: Sequence[str] = (),
        *,
        cache: Cache | None = None,
        on_start: Callable[[Declared], None] | None = None,
    ) -> list[Built]:
        """Build the named artifacts (all by default) and the layers they use, through the cache.

        ``cache`` defaults to the project's (its ``cache`` key, else ``$DETZIP_CACHE``, local
        by default). Each function is checked with its layers against Lambda's unzipped limit
        and layer count; see :attr:`Built.problems`. An error names the artifact and speaks
        the project file's language (``upload = "s3"``).
        """
        from detzip.builder import build

        store = cache if cache is not None else self.cache.open()
        results = []
        toml = table.speller("toml")
        for declared in self.select(names):
            if on_start is not None:
                on_start(declared)
            try:
                with speaking(toml):  # its warnings too: the file is where to fix them
                    artifact = build(declared.spec, store, never_pack=[self.output_dir])
            except DetzipError as exc:
                raise exc.spelled(toml).prefixed(f"[{declared.name}] ") from None
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
        data.pop("options")
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


def find_config(start: str | os.PathLike[str] | None = None) -> Path:
    """``start`` if it is a file; else the nearest detzip.toml or pyproject.toml with
    ``[tool.detzip]`` in ``start`` (default: the working directory) or above it."""
    origin = Path(start) if start is not None else Path.cwd()
    if origin.is_file():
        return origin
    if start is not None and not origin.exists():
        raise DetzipError(
            "no such file or folder; give a detzip.toml, pyproject.toml or folder", origin
        )
    for folder in [origin.resolve(), *origin.resolve().parents]:
        if (folder / "detzip.toml").is_file():
            return folder / "detzip.toml"
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            tool = _toml.load(candidate).get("tool")
            if isinstance(tool, dict) and "detzip" in tool:
                return candidate
    raise DetzipError(
        "no detzip.toml, or pyproject.toml with [tool.detzip], here or in a parent folder; "
        "create one (see the README) or give {0}",
        origin,
        settings=[Setting("config")],
    )


#: an artifact name: a file name in output_dir, never a path out of it
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def load(config: str | os.PathLike[str] | None = None, *, door: Door = "toml") -> Project:
    """The project declared in ``config`` (a file or folder; default: found from here).

    ``door`` is the front door asking, whose documented defaults apply where the file says
    nothing (Terraform's ``upload`` is ``direct``).
    """
    path = find_config(config)
    data = _toml.load(path)
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
    reader = _Reader(path, where)
    reader.check(top, "top", where)
    root = path.parent
    output_dir = root / top.get("output_dir", ".build")
    defaults = reader.values(
        {k: v for k, v in top.items() if k not in table.PROJECT_KEYS}, root, where
    )
    defaults.pop("cache", None)
    for opt in table.OPTIONS:
        for who, value in opt.door_defaults:
            if who == door and opt.name not in defaults:
                defaults[opt.name] = value
    tables: dict[str, tuple[Kind, str, dict[str, Any]]] = {}
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
            if not isinstance(options, dict):
                raise DetzipError(f"[{here}] must be a table of options", path)
            if name in tables:
                raise DetzipError(
                    f"[{here}]: the name {name!r} is also a layer; names must be unique "
                    "(each is written to <output_dir>/<name>.zip)",
                    path,
                )
            reader.check(options, kind, here)
            tables[name] = (kind, here, options)
    if not tables:
        raise DetzipError(f"[{where or 'top level'}] declares no layers or functions", path)
    artifacts: dict[str, Declared] = {}
    for name, (kind, here, options) in tables.items():
        layer_names = tuple(options.get("layers", ()))
        for layer in layer_names:
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
        values = reader.values({k: v for k, v in options.items() if k != "layers"}, root, here)
        values.update(name=name, output=str(output_dir / f"{name}.zip"))
        if layer_names:
            values["layers"] = [str(output_dir / f"{layer}.zip") for layer in layer_names]
        inherited = {k: v for k, v in defaults.items() if kind in table.BY_NAME[k].kinds}
        if kind == "function" and "requirements" not in values:
            inherited = {
                k: v for k, v in inherited.items() if not table.BY_NAME[k].needs_requirements
            }
        try:
            spec = ArtifactSpec.create(kind, values, "toml", defaults=inherited)
        except DetzipError as exc:
            raise DetzipError(f"[{here}] " + exc.render(table.speller("toml")), path) from None
        spec = replace(spec, cache=CacheSettings())  # the project's cache serves every build
        artifacts[name] = Declared(name, spec, layer_names)
    for declared in artifacts.values():
        _same_target(declared, artifacts, tables, top, where, path)
    url = top.get("cache")
    return Project(path, root, output_dir, artifacts, CacheSettings(url=url))


def _same_target(
    declared: Declared,
    artifacts: Mapping[str, Declared],
    tables: Mapping[str, tuple[Kind, str, dict[str, Any]]],
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
    """Checks a project file's tables against the option table; turns them into values."""

    def __init__(self, path: Path, where: str) -> None:
        self.path = path
        self.where = where

    def check(self, options: Mapping[str, Any], section: str, here: str) -> None:
        allowed = table.toml_keys(section)
        if section == "function":
            allowed["layers"] = None
        for key, value in options.items():
            if key not in allowed:
                raise DetzipError(
                    f"[{here or 'top level'}] unknown key {key!r}; use one of "
                    f"{', '.join(sorted(allowed))}",
                    self.path,
                )
            opt = allowed[key]
            if opt is None:
                kind = "table" if key in ("layers", "functions") and section == "top" else "str"
                if key == "layers" and section == "function":
                    kind = "list"
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
                continue
            try:
                table.coerce(opt, value, "toml")
            except DetzipError as exc:
                raise DetzipError(
                    f"[{here or 'top level'}] " + exc.render(table.speller("toml")), self.path
                ) from None

    def values(self, options: Mapping[str, Any], root: Path, here: str) -> dict[str, Any]:
        """Option values by name, with paths resolved against the file's folder."""
        by_key = {opt.toml: opt for opt in table.OPTIONS if opt.toml is not None}
        values: dict[str, Any] = {}
        for key, value in options.items():
            opt = by_key[key]
            if opt.type == "path":
                value = str(root / value)
            elif opt.type == "sources":
                value = _rooted_sources(value, root)
            elif opt.name == "find_links":
                value = [link if "://" in link else str(root / link) for link in value]
            values[opt.name] = value
        return values


def _rooted_sources(value: Any, root: Path) -> Any:
    """Extra source folders with their paths resolved against the project file's folder (a
    value of the wrong shape is left for the option table to refuse)."""
    items = value if isinstance(value, list) else [value]
    rooted: list[Any] = []
    for item in items:
        if isinstance(item, str):
            path, sep, prefix = item.partition("=")
            rooted.append(str(root / path) + sep + prefix)
        elif isinstance(item, dict) and isinstance(item.get("path"), str):
            rooted.append({**item, "path": str(root / item["path"])})
        else:
            rooted.append(item)
    return rooted


def _join(*parts: str) -> str:
    return ".".join(part for part in parts if part)
