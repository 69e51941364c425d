"""How each front door writes a setting an error or warning tells the user to make.

A :class:`~detzip.errors.Setting` names an option by its name in the option table; a door shows
it in its own words: ``--upload s3`` on the command line, ``upload = "s3"`` in Terraform and
``[tool.detzip]``, ``upload='s3'`` in Python.
"""

from __future__ import annotations

from detzip.errors import Setting, Spelling, python_spelling
from detzip.optiontable import BY_NAME, Door

__all__ = ["spell", "speller"]


def spell(door: Door, setting: Setting) -> str:
    """``setting`` in ``door``'s words: ``--upload s3``, ``upload = "s3"``, ``upload='s3'``."""
    opt = BY_NAME.get(setting.option)
    value = setting.value
    if opt is None or door == "python":
        return python_spelling(setting)
    if door == "cli":
        if opt.cli is None:
            return opt.name
        if value is None or opt.type == "bool":
            return opt.cli  # a flag says its value (--no-default-excludes)
        item = value[0] if isinstance(value, list | tuple) and value else value
        return f"{opt.cli} {item}"
    key = opt.spelled(door) or opt.name
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


def speller(door: Door) -> Spelling:
    """A :data:`detzip.errors.Spelling` for ``door``."""
    return lambda setting: spell(door, setting)
