"""Reading option values: the one path from what a front door was given to what the spec holds.

Each door hands over raw values in its own form — argparse's strings and lists, Terraform's
strings only (lists newline-separated, booleans ``"true"``/``"false"``), TOML's typed values,
Python's path-likes, sequences and datetimes — and :func:`read` turns each into the spec's value
(paths as :class:`~pathlib.Path`, lists as tuples), or refuses it with an :class:`OptionError`
that names the option, rendered in the door's own words.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from detzip.errors import DetzipError, Setting, literal
from detzip.optiontable import BY_NAME, Door, Kind, Option, SourceFolder

__all__ = ["OptionError", "read", "read_values"]


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


def read(opt: Option, value: Any, door: Door) -> Any:
    """``value``, as ``door`` gives it, as the spec holds it for ``opt``; or
    :class:`OptionError` saying why it cannot be."""
    if door == "python":
        value = _from_python(opt, value)
        if opt.name == "mtime" and isinstance(value, int | float | datetime):
            return value  # the API also takes epoch seconds or a datetime
    elif door == "terraform":
        value = _from_terraform_string(opt, value)
    value = _checked(opt, value)
    if opt.type == "path":
        return Path(value)
    if opt.type == "paths":
        return tuple(Path(item) for item in value)
    return value


def read_values(values: Mapping[str, Any], door: Door, kind: Kind | None = None) -> dict[str, Any]:
    """Option values by name (None says nothing: left out), each read as :func:`read` does;
    a name that is no artifact's option is refused (naming ``kind``'s options)."""
    found: dict[str, Any] = {}
    for name, value in values.items():
        opt = BY_NAME.get(name)
        if opt is None or not opt.kinds:
            taken = [o for o in BY_NAME.values() if (kind in o.kinds if kind else o.kinds)]
            known = ", ".join(o.name for o in taken)
            raise OptionError(f"unknown option {name!r}; use one of {known}")
        if value is not None:
            found[name] = read(opt, value, door)
    return found


def _checked(opt: Option, value: Any) -> Any:
    """``value`` if it is what ``opt`` takes (lists as tuples), else :class:`OptionError`."""
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


def _from_python(opt: Option, value: Any) -> Any:
    """The API's looser forms: any path-like, any sequence."""
    if opt.type == "path" and isinstance(value, os.PathLike):
        return os.fspath(value)
    if opt.type == "sources" and isinstance(value, list | tuple):
        return [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
    if opt.type == "sources" and isinstance(value, os.PathLike):
        return os.fspath(value)
    if opt.type in ("list", "paths") and not isinstance(value, str | bytes):
        try:
            return tuple(os.fspath(v) if isinstance(v, os.PathLike) else v for v in value)
        except TypeError:
            return value
    return value
