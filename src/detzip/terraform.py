"""Terraform's ``external`` data source: a query of strings in, a result of strings out.

The provider sends one JSON object whose values are all strings and parses the program's whole
stdout as one such object. This adapter turns the query into a call of :func:`build_function`
or :func:`build_layer` (so a plan with nothing changed is a cache hit) and the
:class:`~detzip.artifact.Artifact` into the result. Lists (patterns, groups, packages) are
newline-separated strings — ``join("\\n", [...])`` in HCL; booleans are ``"true"``/``"false"``.
Relative paths resolve against the working directory Terraform runs the program in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from detzip.errors import DetzipError

if TYPE_CHECKING:
    from detzip.artifact import Artifact
    from detzip.cache import Cache

COMMON = {
    "kind": "function or layer (required)",
    "output": "the zip to write (required)",
    "requirements": "lock or requirements file (required for a layer)",
    "runtime": "Lambda runtime, e.g. python3.12",
    "arch": "x86_64 or arm64",
    "prefix": "folder in the zip",
    "exclude": "patterns to leave out, one per line",
    "mtime": "timestamp of every entry",
    "compressor": "deflate, zlib or store",
    "level": "compression level",
    "format": "lock format, when the file name does not say",
    "with": "dependency groups to add, one per line",
    "exclude_packages": "distributions to leave out, one per line",
    "index_url": "package index",
    "extra_index_urls": "more indexes, one per line",
    "find_links": "local wheel folders, one per line",
    "no_index": "true: use only find_links",
    "default_excludes": "false: keep what is left out by default",
    "cache": "shared cache, s3://BUCKET/PREFIX, or off",
    "cache_dir": "local cache folder",
    "require_cache": "true: fail if the shared cache is unreachable",
    "name": "the artifact's name in caches",
    "upload": "direct (default: Terraform uploads filename directly) or s3",
}
FUNCTION_ONLY = {
    "source": "the function's folder (required for a function)",
    "include": "patterns to pack only, one per line",
    "ignore_file": "false: do not read .detzipignore",
    "allow_outside_links": "true: follow symlinks out of the source",
}
KEYS = {**COMMON, **FUNCTION_ONLY}
PROJECT = {
    "artifact": "an artifact declared in [tool.detzip] (instead of the keys above)",
    "config": "detzip.toml, pyproject.toml or its folder (default: found from here)",
    "cache": COMMON["cache"],
    "cache_dir": COMMON["cache_dir"],
    "require_cache": COMMON["require_cache"],
}
DEPENDENCY_KEYS = {
    "runtime",
    "arch",
    "format",
    "with",
    "exclude_packages",
    "index_url",
    "extra_index_urls",
    "find_links",
    "no_index",
}


def parse_query(text: str) -> dict[str, str]:
    """The provider's query: one JSON object whose values are strings."""
    try:
        query = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise DetzipError(
            f"stdin is not JSON ({exc}); detzip terraform reads the query Terraform's external "
            "data source sends"
        ) from None
    if not isinstance(query, dict):
        raise DetzipError("stdin must be one JSON object (the external data source's query)")
    for key, value in query.items():
        if not isinstance(value, str):
            raise DetzipError(
                f"query value {key!r} is {type(value).__name__}, not a string; Terraform's "
                "external data source passes strings only (join lists with newlines)"
            )
    return query


def run(query: Mapping[str, str]) -> dict[str, str]:
    """Build (or fetch from the cache) the artifact the query describes; the result as strings."""
    if "artifact" in query or "config" in query:
        return _result(_declared(query))
    unknown = sorted(set(query) - set(KEYS))
    if unknown:
        raise DetzipError(
            f"unknown query key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"use {', '.join(sorted(KEYS))}"
        )
    kind = _required(query, "kind")
    output = _required(query, "output")
    cache = _cache(query)
    common: dict[str, Any] = {
        "prefix": query.get("prefix"),
        "mtime": _text(query, "mtime"),
        "compressor": query.get("compressor", "deflate"),
        "level": _number(query, "level"),
        "cache": cache,
        "name": _text(query, "name"),
        "upload": query.get("upload", "direct"),
    }
    if kind == "layer":
        extra = sorted(set(query) & set(FUNCTION_ONLY))
        if extra:
            raise DetzipError(f"{', '.join(extra)} apply to kind=function only; remove them")
        from detzip.layer import build_layer

        if common["prefix"] is None:
            common["prefix"] = "python"
        artifact = build_layer(
            _required(query, "requirements"),
            output,
            exclude=_lines(query, "exclude"),
            default_excludes=_flag(query, "default_excludes", True),
            **_dependency_options(query),
            **common,
        )
    elif kind == "function":
        from detzip.dependencies import Dependencies
        from detzip.function import build_function

        dependencies = None
        if "requirements" in query:
            dependencies = Dependencies(query["requirements"], **_dependency_options(query))
        else:
            stray = sorted(set(query) & DEPENDENCY_KEYS)
            if stray:
                raise DetzipError(f"{', '.join(stray)} need requirements (a lock file)")
        artifact = build_function(
            _required(query, "source"),
            output,
            exclude=_lines(query, "exclude"),
            include=_lines(query, "include"),
            default_excludes=_flag(query, "default_excludes", True),
            ignore_file=_flag(query, "ignore_file", True),
            allow_outside_links=_flag(query, "allow_outside_links", False),
            dependencies=dependencies,
            **{**common, "prefix": common["prefix"] or ""},
        )
    else:
        raise DetzipError(f"kind must be function or layer, not {kind!r}")
    return _result(artifact)


def _declared(query: Mapping[str, str]) -> Artifact:
    """``{"config": …, "artifact": name}``: an artifact as the project declares it."""
    unknown = sorted(set(query) - set(PROJECT))
    if unknown:
        raise DetzipError(
            f"with 'artifact', the query takes only {', '.join(sorted(PROJECT))}; the project "
            f"declares the rest (remove {', '.join(unknown)})"
        )
    from detzip import project

    declared = project.load(_text(query, "config"))
    if "cache" not in query and declared.cache is not None:
        query = {**query, "cache": declared.cache}
    return project.build_artifact(declared, _required(query, "artifact"), cache=_cache(query))


def _cache(query: Mapping[str, str]) -> Cache:
    from detzip.cache import Cache

    return Cache.create(
        _text(query, "cache_dir"),
        _text(query, "cache"),
        require=_flag(query, "require_cache", False),
    )


def _result(artifact: Artifact) -> dict[str, str]:
    return {
        "path": str(artifact.path),
        "base64sha256": artifact.base64sha256,
        "sha256": artifact.sha256,
        "size": str(artifact.size),
        "unzipped_size": str(artifact.unzipped_size),
        "key": artifact.key or "",
        "cache": "hit" if artifact.cache_hit else "miss",
    }


def _dependency_options(query: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "format": _text(query, "format"),
        "groups": _lines(query, "with"),
        "exclude_packages": _lines(query, "exclude_packages"),
        "index_url": _text(query, "index_url"),
        "extra_index_urls": _lines(query, "extra_index_urls"),
        "find_links": _lines(query, "find_links"),
        "no_index": _flag(query, "no_index", False),
        "cache_dir": _text(query, "cache_dir"),
    }
    for key in ("runtime", "arch"):
        if key in query:
            options[key] = query[key]
    return options


def _required(query: Mapping[str, str], key: str) -> str:
    value = query.get(key, "").strip()
    if not value:
        raise DetzipError(f"the query needs {key!r} ({({**KEYS, **PROJECT})[key]})")
    return value


def _text(query: Mapping[str, str], key: str) -> str | None:
    value = query.get(key, "").strip()
    return value or None


def _lines(query: Mapping[str, str], key: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in query.get(key, "").splitlines() if line.strip())


def _flag(query: Mapping[str, str], key: str, default: bool) -> bool:
    value = query.get(key, "").strip().lower()
    if not value:
        return default
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise DetzipError(f'query value {key!r} must be "true" or "false", not {value!r}')


def _number(query: Mapping[str, str], key: str) -> int | None:
    value = query.get(key, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise DetzipError(f"query value {key!r} must be a whole number, not {value!r}") from None
