"""pyproject.toml (PEP 621) → pins: its dependencies resolved by pip for the target.

A ``pyproject.toml`` is not a lock: ``[project] dependencies`` (plus the chosen
``[project.optional-dependencies]`` as ``--extras`` and PEP 735 ``[dependency-groups]`` as
``--with``) are resolved against the index for the target on every build, as an unpinned
requirements file is. The set is reported as not locked, with a warning that recommends a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from detzip._scratch import Scratch
from detzip.deps.locks.model import (
    NOTHING_MORE,
    Choice,
    Pin,
    check_offered,
    check_python,
    project_pin,
    read_toml,
)
from detzip.deps.locks.requirements import resolve_lines
from detzip.deps.targets import Target
from detzip.errors import DetzipError, literal

__all__ = ["load", "requirement_lines"]


def load(
    path: Path, target: Target, choice: Choice = NOTHING_MORE, pip_options: Sequence[str] = ()
) -> list[Pin]:
    """The set pip resolves for ``target`` from the project's requirements (see the module)."""
    data = read_toml(path)
    project = data.get("project")
    if not isinstance(project, dict):
        raise DetzipError(
            "has no [project] table (PEP 621) to read dependencies from; declare them there, "
            "or give a lock (uv.lock, poetry.lock, pylock.toml, requirements.txt)",
            path,
        )
    check_python(project.get("requires-python"), target, path)
    lines = requirement_lines(data, choice, path)
    project = [project_pin(path, "pyproject", path)] if choice.project else []
    if not lines:
        return project
    with Scratch("pyproject") as scratch:
        listing = scratch / "requirements.txt"
        listing.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return resolve_lines(listing, target, pip_options) + project


def requirement_lines(data: dict[str, Any], choice: Choice, path: Path) -> list[str]:
    """The requirement lines for the main dependencies, the chosen extras and groups; the
    project's own extras (``name[aws]`` in another extra) are expanded, local paths refused."""
    project = data["project"]
    name = canonicalize_name(str(project.get("name", "")))
    extras: dict[str, Any] = {
        canonicalize_name(k): v for k, v in project.get("optional-dependencies", {}).items()
    }
    groups: dict[str, Any] = {
        canonicalize_name(k): v for k, v in data.get("dependency-groups", {}).items()
    }
    check_offered("extras", choice.extras, extras, "the project", path)
    check_offered("groups", choice.groups, groups, "the project", path)
    lines: list[str] = []
    pending: list[str] = list(project.get("dependencies", []))
    for extra in sorted(choice.extras):
        pending += extras[canonicalize_name(extra)]
    for group in sorted(choice.groups):
        pending += _group(groups, canonicalize_name(group), path, set())
    done: set[str] = set()
    while pending:
        line = str(pending.pop(0))
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise DetzipError(f"not a valid requirement {line!r} ({exc}); fix it", path) from None
        if canonicalize_name(requirement.name) == name:  # the project's own extras
            for extra in sorted({canonicalize_name(e) for e in requirement.extras} - done):
                done.add(extra)
                pending += extras.get(extra, [])
            continue
        if requirement.url and requirement.url.startswith("file:"):
            raise DetzipError(
                f"{literal(requirement.name)} is a local package ({literal(requirement.url)}, a "
                "path on this machine), which pip cannot resolve for another platform; lock the "
                "project (uv lock, poetry lock) — detzip builds local packages from a lock — or "
                "name its folder in a requirements file",
                path,
            )
        lines.append(line)
    return lines


def _group(groups: dict[str, Any], name: str, path: Path, seen: set[str]) -> list[str]:
    """A PEP 735 group's requirements, with its ``{include-group = ...}`` entries expanded."""
    if name in seen:
        raise DetzipError(f"dependency group {name} includes itself; fix the cycle", path)
    found: list[str] = []
    for entry in groups.get(name, []):
        if isinstance(entry, dict) and "include-group" in entry:
            included = canonicalize_name(str(entry["include-group"]))
            if included not in groups:
                raise DetzipError(f"dependency group {name} includes unknown {included}", path)
            found += _group(groups, included, path, seen | {name})
        else:
            found.append(str(entry))
    return found
