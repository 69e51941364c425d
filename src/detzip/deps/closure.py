"""The completeness check: every requirement of every packed distribution is met by the set.

A lock or requirements file can name fewer packages than its packages need (a requirements.txt
that pins only the top level), and a layer built from it imports fine here and fails on Lambda
with ``Runtime.ImportModuleError``. After the set is chosen, each wheel's ``Requires-Dist`` is
read from its ``METADATA`` and evaluated for the target — markers with the target's environment,
the extras that were asked of it (by the lock, or by another package's requirement) — and each
must be met by a package in the set at a version its specifier allows. A package left out with
``exclude_packages`` (the runtime brings it) meets any requirement on it.
"""

from __future__ import annotations

import email.parser
from collections.abc import Iterable, Mapping, Sequence

from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from detzip._datatype import datatype
from detzip.deps.targets import Target

__all__ = ["Installed", "Unmet", "declared_extras", "unmet"]


@datatype
class Installed:
    """A distribution in the set: its name, version, ``METADATA`` and the extras asked of it."""

    name: str
    version: str
    metadata: bytes
    extras: frozenset[str] = frozenset()


@datatype
class Unmet:
    """A requirement no package in the set meets: who needs what, and what the set has."""

    needed_by: str  # "requests 2.32.3"
    requirement: str  # "urllib3<3,>=1.21.1"
    name: str
    found: str | None  # the version in the set, if any (then it is the wrong one)

    def __str__(self) -> str:
        have = "not in the set" if self.found is None else f"the set has {self.found}"
        return f"{self.needed_by} needs {self.requirement} ({have})"


def unmet(installed: Sequence[Installed], provided: Iterable[str], target: Target) -> list[Unmet]:
    """The requirements of ``installed`` that the set does not meet (empty: complete).

    ``provided`` are names the runtime brings (``exclude_packages``): any requirement on them
    is met. Extras asked of a package by another's requirement are followed to a fixed point.
    """
    versions = {canonicalize_name(p.name): p.version for p in installed}
    by_name = {canonicalize_name(p.name): p for p in installed}
    given = {canonicalize_name(name) for name in provided}
    parsed = {name: _parse(p) for name, p in by_name.items()}
    requires = {name: reqs for name, (reqs, _) in parsed.items()}
    provides = {name: extras for name, (_, extras) in parsed.items()}
    # an extra the distribution does not declare is ignored, as pip ignores it (with a warning)
    asked: dict[str, set[str]] = {
        name: {e for e in p.extras if _provided(e, provides[name])} for name, p in by_name.items()
    }
    env = dict(target.marker_environment())
    done: set[tuple[str, str]] = set()
    found: dict[tuple[str, str], Unmet] = {}
    pending = [(name, extra) for name in by_name for extra in ("", *sorted(asked[name]))]
    while pending:
        name, extra = pending.pop()
        if (name, extra) in done:
            continue
        done.add((name, extra))
        package = by_name[name]
        for requirement in requires[name]:
            if not _applies(requirement, env, extra):
                continue
            wanted = canonicalize_name(requirement.name)
            if wanted in given:
                continue
            have = versions.get(wanted)
            if have is None or not requirement.specifier.contains(have, prereleases=True):
                text = str(requirement).split(";", 1)[0].strip()
                found[(f"{package.name} {package.version}", text)] = Unmet(
                    f"{package.name} {package.version}", text, wanted, have
                )
                continue
            for more in requirement.extras:
                if not _provided(more, provides[wanted]):
                    continue  # not declared: pip would not install its requirements either
                if (wanted, more) not in done:
                    asked[wanted].add(more)
                    pending.append((wanted, more))
    return [found[k] for k in sorted(found)]


def _parse(package: Installed) -> tuple[list[Requirement], set[str]]:
    """A distribution's requirements and the extras it declares (``Provides-Extra``)."""
    message = email.parser.BytesParser().parsebytes(package.metadata, headersonly=True)
    requirements = []
    for line in message.get_all("Requires-Dist") or []:
        try:
            requirements.append(Requirement(str(line)))
        except InvalidRequirement:
            continue  # pip ignores what it cannot parse too; the oracle tests agree
    return requirements, declared_extras(package.metadata)


def declared_extras(metadata: bytes) -> set[str]:
    """The extras a distribution's ``METADATA`` declares (``Provides-Extra``), normalized."""
    message = email.parser.BytesParser().parsebytes(metadata, headersonly=True)
    return {canonicalize_name(str(e)) for e in message.get_all("Provides-Extra") or []}


def _provided(extra: str, provides: set[str]) -> bool:
    return canonicalize_name(extra) in provides


def _applies(requirement: Requirement, env: Mapping[str, str], extra: str) -> bool:
    """Whether the requirement holds for the target when ``extra`` ('' : none) is asked."""
    if requirement.marker is None:
        return extra == ""  # an unconditional requirement counts once, with no extra
    try:
        return requirement.marker.evaluate({**env, "extra": extra})
    except UndefinedEnvironmentName:
        return False
