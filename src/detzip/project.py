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

Each artifact is written to ``<output_dir>/<name>.zip`` through the cache. :func:`build`
builds layers first, then functions, and checks every function with its layers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detzip import tomlfile
from detzip.artifact import Artifact
from detzip.errors import DetzipError

CONFIG_FILES = ("detzip.toml", "pyproject.toml")

# key → (type, meaning); the type is str, bool, int or list (of strings)
DEFAULTS: dict[str, tuple[type, str]] = {
    "runtime": (str, "Lambda runtime, e.g. python3.12"),
    "arch": (str, "x86_64 or arm64"),
    "compressor": (str, "deflate, zlib or store"),
    "level": (int, "compression level"),
    "mtime": (str, "timestamp of every entry"),
    "upload": (str, "direct or s3"),
    "index_url": (str, "package index"),
    "extra_index_urls": (list, "more package indexes"),
    "find_links": (list, "local wheel folders"),
    "no_index": (bool, "use only find_links"),
}
TOP: dict[str, tuple[type, str]] = {
    "output_dir": (str, "where the zips go (default .build)"),
    "cache": (str, "shared cache s3://BUCKET/PREFIX, or off"),
    "layers": (dict, "the layers, by name"),
    "functions": (dict, "the functions, by name"),
    **DEFAULTS,
}
DEPENDENCIES: dict[str, tuple[type, str]] = {
    "requirements": (str, "lock or requirements file"),
    "format": (str, "lock format, when the file name does not say"),
    "with": (list, "dependency groups to add"),
    "exclude_packages": (list, "distributions to leave out"),
}
LAYER: dict[str, tuple[type, str]] = {
    **DEPENDENCIES,
    "exclude": (list, "patterns for paths inside the layer"),
    "default_excludes": (bool, "false keeps __pycache__ and *.pyc"),
    "prefix": (str, "folder in the zip (default python)"),
    **DEFAULTS,
}
FUNCTION: dict[str, tuple[type, str]] = {
    "source": (str, "the function's folder"),
    "exclude": (list, "patterns to leave out"),
    "include": (list, "patterns to pack only"),
    "default_excludes": (bool, "false also packs VCS folders, caches, …"),
    "ignore_file": (bool, "false does not read .detzipignore"),
    "prefix": (str, "folder in the zip"),
    "allow_outside_links": (bool, "follow symlinks out of the source"),
    "layers": (list, "names of the layers this function uses"),
    **DEPENDENCIES,
    **DEFAULTS,
}


@dataclass(frozen=True)
class ArtifactSpec:
    """One declared artifact: its kind, name and options (paths already resolved)."""

    kind: str  # "function" or "layer"
    name: str
    options: dict[str, Any]
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Project:
    config: Path
    root: Path
    output_dir: Path
    artifacts: dict[str, ArtifactSpec]
    cache: str | None = None

    def output(self, name: str) -> Path:
        return self.output_dir / f"{name}.zip"

    def select(self, names: Sequence[str]) -> list[ArtifactSpec]:
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
        specs = [self.artifacts[name] for name in sorted(chosen)]
        return sorted(specs, key=lambda spec: spec.kind != "layer")


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
        if candidate.is_file() and "detzip" in tomlfile.load(candidate).get("tool", {}):
            return candidate
    raise DetzipError(
        "no detzip.toml, or pyproject.toml with [tool.detzip], here or in a parent folder; "
        "create one (see the README) or pass --config",
        origin,
    )


def load(config: str | os.PathLike[str] | None = None) -> Project:
    """The project declared in ``config`` (a file or folder; default: found from here)."""
    path = find_config(config)
    data = tomlfile.load(path)
    if path.name == "detzip.toml":
        table, where = data, ""
    else:
        if "detzip" not in data.get("tool", {}):
            raise DetzipError("has no [tool.detzip] table; add one (see the README)", path)
        table, where = data["tool"]["detzip"], "tool.detzip"
    _check(table, TOP, where, path)
    root = path.parent
    defaults = {key: table[key] for key in DEFAULTS if key in table}
    artifacts: dict[str, ArtifactSpec] = {}
    for kind, schema, plural in (("layer", LAYER, "layers"), ("function", FUNCTION, "functions")):
        for name, spec in table.get(plural, {}).items():
            here = _join(where, plural, name)
            if not isinstance(spec, dict):
                raise DetzipError(f"[{here}] must be a table of options", path)
            _check(spec, schema, here, path)
            if name in artifacts:
                raise DetzipError(
                    f"[{here}]: the name {name!r} is also a layer; names must be unique "
                    "(each is written to <output_dir>/<name>.zip)",
                    path,
                )
            required = "requirements" if kind == "layer" else "source"
            if required not in spec:
                raise DetzipError(f"[{here}] needs {required!r} ({schema[required][1]})", path)
            options = {**defaults, **spec}
            for key in ("requirements", "source"):
                if key in options:
                    options[key] = str(root / options[key])
            links = options.get("find_links", [])
            options["find_links"] = [link if "://" in link else str(root / link) for link in links]
            layers = tuple(options.pop("layers", ()))
            artifacts[name] = ArtifactSpec(kind, name, options, layers)
    for spec in artifacts.values():
        for layer in spec.layers:
            target = artifacts.get(layer)
            here = _join(where, "functions", spec.name)
            if target is None or target.kind != "layer":
                raise DetzipError(
                    f"[{here}] layers: {layer!r} is not a declared layer; add "
                    f"[{_join(where, 'layers', layer)}] or fix the name",
                    path,
                )
            for key in ("runtime", "arch"):
                mine, theirs = spec.options.get(key), target.options.get(key)
                if mine != theirs:
                    raise DetzipError(
                        f"[{here}] {key} is {mine or 'the default'} but its layer {layer!r} "
                        f"is built for {theirs or 'the default'}; make them the same",
                        path,
                    )
    if len(artifacts) == 0:
        raise DetzipError(f"[{where or 'top level'}] declares no layers or functions", path)
    cache = table.get("cache")
    return Project(path, root, root / table.get("output_dir", ".build"), artifacts, cache)


@dataclass(frozen=True)
class Built:
    """One artifact of a project build, and for a function the check with its layers."""

    spec: ArtifactSpec
    artifact: Artifact
    unzipped_total: int
    limits_ok: bool = True
    problems: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        from detzip.limits import DIRECT_UPLOAD_LIMIT, UNZIPPED_LIMIT

        data = self.artifact.to_dict()
        data.pop("options")
        s3 = self.spec.options.get("upload") == "s3"
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            **data,
            "layers": list(self.spec.layers),
            "unzipped_total": self.unzipped_total,
            "unzipped_headroom": UNZIPPED_LIMIT - self.unzipped_total,
            "upload_headroom": None if s3 else DIRECT_UPLOAD_LIMIT - self.artifact.size,
            "ok": self.limits_ok,
            "problems": list(self.problems),
        }


def build(
    project: Project,
    names: Sequence[str] = (),
    *,
    cache: Any = None,
    on_start: Callable[[ArtifactSpec], None] | None = None,
) -> list[Built]:
    """Build the named artifacts (all by default) and the layers they use, through the cache.

    ``cache`` is a :class:`detzip.cache.Cache` or None for the project's (``cache`` key, else
    ``$DETZIP_CACHE``, local by default). Each function is checked with its layers against
    Lambda's unzipped limit and layer count; see :attr:`Built.problems`.
    """
    from detzip.cache import Cache

    if cache is None:
        cache = Cache.create(remote=project.cache)
    done: dict[str, Artifact] = {}
    results = []
    for spec in project.select(names):
        if on_start is not None:
            on_start(spec)
        try:
            artifact = _build_one(project, spec, cache)
        except DetzipError as exc:
            raise type(exc)(f"[{spec.name}] {exc}") from None
        done[spec.name] = artifact
        results.append(_checked(spec, artifact, [done[layer] for layer in spec.layers]))
    return results


def build_artifact(project: Project, name: str, *, cache: Any) -> Artifact:
    """One declared artifact (no layers, no combined check): what Terraform asks for."""
    spec = project.select([name])
    return _build_one(project, next(s for s in spec if s.name == name), cache)


def _build_one(project: Project, spec: ArtifactSpec, cache: Any) -> Artifact:
    options = dict(spec.options)
    common: dict[str, Any] = {
        "mtime": options.pop("mtime", None),
        "compressor": options.pop("compressor", "deflate"),
        "level": options.pop("level", None),
        "upload": options.pop("upload", None),
        "cache": cache,
        "name": spec.name,
    }
    deps: dict[str, Any] = {
        "format": options.pop("format", None),
        "groups": tuple(options.pop("with", ())),
        "exclude_packages": tuple(options.pop("exclude_packages", ())),
        "index_url": options.pop("index_url", None),
        "extra_index_urls": tuple(options.pop("extra_index_urls", ())),
        "find_links": tuple(options.pop("find_links", ())),
        "no_index": options.pop("no_index", False),
        **{key: options.pop(key) for key in ("runtime", "arch") if key in options},
    }
    output = project.output(spec.name)
    if spec.kind == "layer":
        from detzip.layer import build_layer

        return build_layer(options.pop("requirements"), output, **deps, **options, **common)
    from detzip.dependencies import Dependencies
    from detzip.function import build_function

    requirements = options.pop("requirements", None)
    dependencies = Dependencies(requirements, **deps) if requirements else None
    return build_function(
        options.pop("source"), output, dependencies=dependencies, **options, **common
    )


def _checked(spec: ArtifactSpec, artifact: Artifact, layers: Sequence[Artifact]) -> Built:
    from detzip.limits import MAX_LAYERS, UNZIPPED_LIMIT

    total = artifact.unzipped_size + sum(layer.unzipped_size for layer in layers)
    problems = []
    if total >= UNZIPPED_LIMIT:
        sizes = sorted(((layer.unzipped_size, layer.path.name) for layer in layers), reverse=True)
        largest = ", ".join(f"{name} {size:,}" for size, name in sizes)
        problems.append(
            f"{spec.name} and its layers unzip to {total:,} bytes; Lambda needs them under "
            f"{UNZIPPED_LIMIT:,} (function {artifact.unzipped_size:,}; layers: {largest}). "
            f"See detzip check {artifact.path} "
            + " ".join(f"--layer {layer.path}" for layer in layers)
        )
    if len(layers) > MAX_LAYERS:
        problems.append(f"{spec.name} uses {len(layers)} layers; Lambda allows {MAX_LAYERS}")
    return Built(spec, artifact, total, not problems, tuple(problems))


def _check(
    table: Mapping[str, Any], schema: Mapping[str, tuple[type, str]], where: str, path: Path
) -> None:
    for key, value in table.items():
        if key not in schema:
            raise DetzipError(
                f"[{where or 'top level'}] unknown key {key!r}; use one of "
                f"{', '.join(sorted(schema))}",
                path,
            )
        kind, meaning = schema[key]
        good = (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
            if kind is list
            else isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        )
        if not good:
            wanted = _TYPE_NAMES[kind]
            raise DetzipError(
                f"[{where or 'top level'}] {key} must be {wanted} ({meaning}), not {value!r}",
                path,
            )


_TYPE_NAMES: dict[type, str] = {
    list: "a list of strings",
    str: "a string",
    bool: "true or false",
    int: "a whole number",
    dict: "a table",
}


def _join(*parts: str) -> str:
    return ".".join(part for part in parts if part)
