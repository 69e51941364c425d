"""Terraform's ``external`` data source: a query of strings in, a result of strings out.

The provider sends one JSON object whose values are all strings and parses the program's whole
stdout as one such object. A query takes one of two forms:

- ``kind`` (``function`` or ``layer``) and the option table's keys (:mod:`detzip.optiontable`):
  the artifact described in full, like a ``detzip function``/``detzip layer`` command;
- ``config`` and/or ``artifact``: an artifact ``[tool.detzip]`` declares (with the layers it uses),
  plus only the cache keys;
- ``config`` and ``artifacts`` (names, one per line, or ``*`` for all): several declared
  artifacts and the layers they use in one process, as one flat object whose keys are
  ``NAME.KEY`` (``api.path``, ``api.base64sha256``, …): each artifact's result as the
  ``artifact`` form gives it.

Either way the query becomes an :class:`~detzip.spec.ArtifactSpec` and goes through
:func:`detzip.builder.build` (so a plan with nothing changed is a cache hit), and the
:class:`~detzip.artifact.Artifact` becomes the result. Lists are newline-separated strings —
``join("\\n", [...])`` in HCL; booleans ``"true"``/``"false"``; an empty string is no value
(except for ``prefix``, where it is the zip's root). Relative paths resolve against the working
directory Terraform runs the program in. Terraform uploads ``filename`` directly, so ``upload``
defaults to ``direct`` in both forms.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from detzip import optiontable as table
from detzip.errors import DetzipError
from detzip.spec import CACHE_FIELDS, ArtifactSpec, cache_fields

if TYPE_CHECKING:
    from detzip.artifact import Artifact
    from detzip.cache.settings import CacheSettings
    from detzip.project import Project

__all__ = [
    "CACHE_KEYS",
    "KIND_HELP",
    "PROJECT_FORM",
    "RESULT",
    "describe_keys",
    "keys",
    "parse_query",
    "read_query",
    "run",
    "run_many",
    "spec_from_query",
    "terraform_path",
]

KIND_HELP = "function or layer (required)"
#: the cache options' keys: the ones the ``config``/``artifact`` form takes besides those two
CACHE_KEYS: tuple[str, ...] = tuple(
    key for opt in table.OPTIONS if opt.name in CACHE_FIELDS and (key := opt.terraform)
)
#: the keys of the ``config``/``artifact`` form: the name, the project, and the cache options
#: (``artifacts`` instead of ``artifact``: the one-shot form)
PROJECT_FORM: tuple[str, ...] = ("artifact", "artifacts", "config", *CACHE_KEYS)
RESULT = ("path", "base64sha256", "sha256", "size", "unzipped_size", "key", "cache", "runtime",
          "arch", "layers", "handler", "s3_bucket", "s3_key", "s3_object_version")  # fmt: skip


def keys() -> dict[str, table.Option]:
    """The keys of the ``kind`` form, each with its option."""
    return {opt.terraform: opt for opt in table.OPTIONS if opt.terraform and opt.kinds}


#: the most a query may take on stdin: a handful of short strings (a table of folders or layers
#: as a jsonencode()d string included) is a few kilobytes; more is not a query
MAX_QUERY = 1 << 20


def read_query(stream: TextIO) -> dict[str, str]:
    """The query on ``stream``, reading at most :data:`MAX_QUERY` characters of it."""
    text = stream.read(MAX_QUERY + 1)
    if len(text) > MAX_QUERY:
        raise DetzipError(
            f"the query on stdin is over {MAX_QUERY:,} characters; the external data source "
            "sends a small object of strings — check what is piped in"
        )
    return parse_query(text)


def parse_query(text: str) -> dict[str, str]:
    """The provider's query: one JSON object whose values are strings."""
    try:
        query = json.loads(text) if text.strip() else {}
    except RecursionError:
        raise DetzipError(
            "the query on stdin is nested too deeply to be the external data source's object "
            "of strings; check what is piped in"
        ) from None
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


def spec_from_query(query: Mapping[str, str]) -> ArtifactSpec:
    """The ``kind`` form's spec: each key read as its option takes it."""
    known = keys()
    unknown = sorted(set(query) - set(known) - {"kind"})
    if unknown:
        raise DetzipError(
            f"unknown query key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"use kind, {', '.join(sorted(known))} (or config and artifact)"
        )
    kind = query.get("kind", "").strip()
    if not kind:
        raise DetzipError(f"the query needs 'kind' ({KIND_HELP}), or 'artifact'")
    values = {
        known[key].name: value
        for key, value in query.items()
        if key != "kind" and (value.strip() or known[key].name == "prefix")
    }
    return ArtifactSpec.create(kind, values, "terraform")


def run(query: Mapping[str, str]) -> dict[str, str]:
    """Build (or fetch from the cache) the artifact the query describes; the result as strings.

    A function over Lambda's limits together with its layers fails (exit 1), as everywhere.
    With ``artifacts``, every artifact named and the layers they use, flat (:func:`run_many`).
    """
    if "artifacts" in query:
        return run_many(query)
    if "artifact" in query or "config" in query:
        artifact, spec, layers = _declared(query)
    else:
        from detzip.builder import build

        spec = spec_from_query(query)
        artifact = build(spec)
        layers = tuple(path.stem for path in spec.layers)
    if artifact.problems:
        from detzip.limits import LimitExceeded

        raise LimitExceeded("; ".join(artifact.problems))
    return _result(artifact, spec, layers)


def run_many(query: Mapping[str, str]) -> dict[str, str]:
    """``{"config": …, "artifacts": "*"}`` (or names, one per line): each artifact named and
    each layer they use, built or fetched in this one process, as one flat object of strings:
    ``NAME.KEY`` for every key of the result the ``artifact`` form gives for NAME. A function
    over Lambda's limits together with its layers fails the whole query (exit 1)."""
    if "artifact" in query:
        raise DetzipError(
            "the query has both 'artifact' (one) and 'artifacts' (several, or *); keep one"
        )
    _only_project_keys(query, "artifacts")
    text = query["artifacts"]
    lines = [line.strip() for line in text.splitlines()]
    names = list(dict.fromkeys(line for line in lines if line))
    if not names:
        raise DetzipError(
            "'artifacts' is empty; give the declared names, one per line, or * for all"
        )
    if "*" in names and len(names) > 1:
        raise DetzipError("'artifacts' is * (all) or names, one per line, not both")
    joined = next((name for name in names if "," in name or len(name.split()) > 1), None)
    if joined is not None:  # join(", ", …) where join("\n", …) was meant
        raise DetzipError(
            f"'artifacts' has {joined!r}: give one name per line (join(\"\\n\", names)), "
            "not a list separated by commas or spaces"
        )
    wanted = None if names == ["*"] else names
    declared, settings = _project(query, wanted)
    built = declared.build(wanted or (), cache=settings.open())
    problems = [problem for b in built for problem in b.problems]
    if problems:
        from detzip.limits import LimitExceeded

        raise LimitExceeded("; ".join(problems))
    result: dict[str, str] = {}
    for b in built:
        one = _result(b.artifact, b.declared.spec, b.declared.layers)
        result.update((f"{b.declared.name}.{key}", value) for key, value in one.items())
    return result


def _declared(query: Mapping[str, str]) -> tuple[Artifact, ArtifactSpec, tuple[str, ...]]:
    """``{"config": …, "artifact": name}``: an artifact as the project declares it, built with
    the layers it uses and checked with them. Only its table and its layers' are read."""
    _only_project_keys(query, "artifact")
    name = query.get("artifact", "").strip()
    if not name:
        raise DetzipError("the query needs 'artifact' (an artifact declared in [tool.detzip])")
    if len(name.split()) > 1 or "," in name:
        raise DetzipError(
            f"'artifact' is one name, not {name!r}; for several, ask for 'artifacts' "
            '(join("\\n", names)) or "*" for all'
        )
    declared, settings = _project(query, [name])
    built = declared.build([name], cache=settings.open())
    found = next(b for b in built if b.declared.name == name)
    return found.artifact, found.declared.spec, found.declared.layers


def _only_project_keys(query: Mapping[str, str], form: str) -> None:
    allowed = [key for key in PROJECT_FORM if key in (form, "config") or key in CACHE_KEYS]
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise DetzipError(
            f"with '{form}', the query takes only {', '.join(sorted(allowed))}; the "
            f"project declares the rest (remove {', '.join(unknown)})"
        )


def _project(
    query: Mapping[str, str], names: Sequence[str] | None
) -> tuple[Project, CacheSettings]:
    """The project the query names (``names`` and their layers read, or all), and its cache
    as the query's cache keys change it."""
    from detzip import project
    from detzip._datatype import replace

    config = query.get("config", "").strip() or None
    declared = project.load(config, door="terraform", only=names)
    cache = {key: query[key] for key in CACHE_KEYS if key in query}
    return declared, replace(declared.cache, **_cache_fields(cache))


def _cache_fields(query: Mapping[str, str]) -> dict[str, Any]:
    """The query's cache keys as :class:`~detzip.cache.settings.CacheSettings` fields."""
    from detzip.optionvalues import read_values

    known = keys()
    given = {known[key].name: value for key, value in query.items() if value.strip()}
    return cache_fields(read_values(given, "terraform"))


def terraform_path(path: str, cwd: str, flavour: Any = os.path) -> str:
    """``path`` as Terraform's ``filename`` should read it on every OS: relative to ``cwd``
    (where Terraform runs the program) with ``/`` between its parts, so a plan made on Windows
    and one made on Linux agree; on another drive than ``cwd`` (Windows), where no relative path
    exists, absolute. ``flavour`` is the OS's path module (``ntpath`` to see Windows's)."""
    absolute = flavour.join(cwd, path)
    try:
        relative: str = flavour.relpath(absolute, cwd)
    except ValueError:  # another drive
        relative = flavour.normpath(absolute)
    return relative.replace(flavour.sep, "/")


def _result(artifact: Artifact, spec: ArtifactSpec, layers: tuple[str, ...]) -> dict[str, str]:
    """The result, as strings that are the same from any checkout: ``path`` relative to the
    directory Terraform runs the program in (what ``filename`` is resolved against)."""
    result = {
        "path": terraform_path(str(artifact.path), os.getcwd()),
        "runtime": spec.runtime,
        "arch": spec.arch,
        "base64sha256": artifact.base64sha256,
        "sha256": artifact.sha256,
        "size": str(artifact.size),
        "unzipped_size": str(artifact.unzipped_size),
        "key": artifact.key or "",
        "cache": "hit" if artifact.cache_hit else "miss",
    }
    if spec.kind == "function":
        result["layers"] = "\n".join(layers)
        if spec.handler:
            result["handler"] = spec.handler
    if artifact.s3 is not None:  # upload = "s3": what aws_lambda_* take instead of filename
        result["s3_bucket"] = artifact.s3.bucket
        result["s3_key"] = artifact.s3.key
        result["s3_object_version"] = artifact.s3.version
    return result


def describe_keys() -> str:
    """Every key of both query forms with its meaning and default, for ``--help``."""
    lines = [f"kind: {KIND_HELP}"]
    for key, opt in sorted(keys().items()):
        kinds = "" if opt.kinds == table.BOTH else f" [{'/'.join(sorted(opt.kinds))} only]"
        needed = " (required)" if opt.required == table.BOTH else ""
        if opt.required and opt.required != table.BOTH:
            needed = f" (required for a {'/'.join(sorted(opt.required))})"
        choices = f" one of {', '.join(opt.choices)};" if opt.choices else ""
        default = opt.describe_default(None, "terraform")
        lines.append(f"{key}: {opt.help}{kinds}{needed};{choices} default {default}")
    return "\n".join(lines)
