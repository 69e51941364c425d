"""Python version constraints, as PEP 440 specifiers or in poetry's syntax (``^3.9``, ``~3.10``,
``>=3.8,<4.0 || 2.7.*``), checked against a Lambda runtime's Python (``3.12``: any 3.12.z)."""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

__all__ = ["allows", "specifier_sets"]

#: the patch releases a runtime may be at (Lambda moves them without notice)
_PATCHES = range(0, 40)


def allows(constraint: str, python: tuple[int, int]) -> bool:
    """Whether ``constraint`` admits some ``X.Y.z`` of the runtime's ``python`` (X, Y).

    Raises ValueError if the constraint cannot be read.
    """
    alternatives = specifier_sets(constraint)
    versions = [Version(f"{python[0]}.{python[1]}.{z}") for z in _PATCHES]
    return any(spec.contains(v, prereleases=True) for spec in alternatives for v in versions)


def specifier_sets(constraint: str) -> list[SpecifierSet]:
    """The alternatives (``||``) of a constraint, each as a PEP 440 specifier set."""
    alternatives = []
    for alternative in constraint.split("||"):
        parts = [p for p in re.split(r"[,\s]+(?=[<>=!~^*\d])", alternative.strip()) if p]
        try:
            alternatives.append(SpecifierSet(",".join(_pep440(p.strip()) for p in parts)))
        except (InvalidSpecifier, InvalidVersion) as exc:
            raise ValueError(f"cannot read the Python constraint {constraint!r} ({exc})") from None
    return alternatives


def _pep440(part: str) -> str:
    """One poetry constraint → PEP 440: ``^3.9`` → ``>=3.9,<4.0``; ``~3.10`` → ``>=3.10,<3.11``."""
    part = part.replace(" ", "")
    if part in ("*", ""):
        return ""
    if part.startswith("^"):
        version = Version(part[1:])
        release = list(version.release)
        first = next((i for i, n in enumerate(release) if n != 0), len(release) - 1)
        upper = [*release[:first], release[first] + 1]
        return f">={version},<{'.'.join(map(str, upper))}"
    if part.startswith("~") and not part.startswith("~="):
        version = Version(part[1:])
        release = list(version.release)
        upper = [release[0] + 1] if len(release) == 1 else [release[0], release[1] + 1]
        return f">={version},<{'.'.join(map(str, upper))}"
    if part[0].isdigit():  # a bare version, or a wildcard
        return f"=={part}"
    if part.startswith("=") and not part.startswith("=="):
        return f"={part}"
    return part
