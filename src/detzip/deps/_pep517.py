"""A source → a pure-Python wheel, built by its own PEP 517 backend as reproducibly as a build can
be. Shared by sdists from an index (:mod:`detzip.deps._sdist`) and local packages
(:mod:`detzip.deps.local`).

Only a pure wheel (``py3-none-any``) can be built for a Lambda target on this machine: anything
compiled here would be compiled for this machine's Python and libc. Whether a package is pure
cannot be read from its source (markupsafe's C extension is optional), so the build is run with
no compiler to find: ``cc``, ``gcc``, ``c++``, ``g++``, ``clang``, ``cargo``, ``rustc``,
``gfortran`` and ``cmake`` fail at once (a build that needs one fails in seconds, not after
minutes of compiling), and only a wheel tagged for any platform and ABI is accepted.

The build requirements (``build-system.requires``, or setuptools and wheel for a legacy project)
are resolved first and pinned for pip's isolated build (``PIP_CONSTRAINT``),
``SOURCE_DATE_EPOCH`` is fixed, pip's caches are off, and the resolution is returned for the key.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from detzip.deps import pip
from detzip.errors import DetzipError

__all__ = [
    "LEGACY_REQUIRES",
    "SOURCE_DATE_EPOCH",
    "VCS_VERSIONS",
    "NotPure",
    "build_requires",
    "build_wheel",
    "resolve_requires",
    "sealed",
    "vcs_tools",
]

#: the timestamp every built wheel's members get (1980-01-01, the zip format's first moment)
SOURCE_DATE_EPOCH = "315532800"
#: tools a build must not find: each fails at once
_COMPILERS = ("cc", "gcc", "c++", "g++", "clang", "clang++", "cargo", "rustc", "gfortran",
              "cmake", "ninja", "meson")  # fmt: skip
#: what pip assumes for a project without ``[build-system]``
LEGACY_REQUIRES = ("setuptools>=40.8.0", "wheel")
#: build requirements that take the version from VCS metadata (git tags)
VCS_VERSIONS = frozenset(
    {"setuptools-scm", "hatch-vcs", "versioningit", "dunamai", "poetry-dynamic-versioning",
     "setuptools-git-versioning", "pbr"}
)  # fmt: skip


class NotPure(Exception):
    """The build failed, or built something other than a pure wheel; ``why`` says which."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def sealed(folder: Path) -> dict[str, str]:
    """The build's environment: no compiler on PATH, a fixed timestamp, no wheel cache."""
    shims = folder / "no-compilers"
    shims.mkdir(exist_ok=True)
    for tool in _COMPILERS:
        shim = shims / tool
        said = f"detzip: no compiler ({tool}) in a Lambda build"
        shim.write_text(f"#!/bin/sh\necho '{said}' >&2\nexit 1\n", encoding="utf-8")
        shim.chmod(stat.S_IRWXU)
        # (Windows finds commands by PATHEXT: the same shim as a batch file)
        (shims / f"{tool}.cmd").write_text(f"@echo {said} 1>&2\r\n@exit /b 1\r\n", "utf-8")
    return {
        **os.environ,
        "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}",
        "CC": str(shims / "cc"),
        "CXX": str(shims / "c++"),
        "CARGO": str(shims / "cargo"),
        # Windows: setuptools finds Visual C++ through the registry and vcvarsall.bat, not
        # PATH; with DISTUTILS_USE_SDK it takes the environment as it is and looks for cl.exe
        # on PATH only, where there is none: a native build fails at once, as elsewhere
        "DISTUTILS_USE_SDK": "1",
        "MSSdk": "1",
        "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
        "PYTHONHASHSEED": "0",
        "PIP_NO_CACHE_DIR": "1",
    }


def build_requires(pyproject: bytes | None, where: str | os.PathLike[str]) -> list[str]:
    """``build-system.requires`` of a ``pyproject.toml``'s bytes (None, or no such table: a
    legacy project, built with setuptools and wheel)."""
    if pyproject is None:
        return list(LEGACY_REQUIRES)
    try:
        system = tomllib.loads(pyproject.decode("utf-8-sig")).get("build-system", {})
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DetzipError(f"its pyproject.toml is not valid TOML ({exc}); fix it", where) from None
    if not isinstance(system, dict):
        raise DetzipError("build-system is not a table; fix it", where)
    if "requires" not in system:
        return list(LEGACY_REQUIRES)
    requires = system["requires"]
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise DetzipError("build-system.requires is not a list of strings; fix it", where)
    return list(requires)


def vcs_tools(requires: Sequence[str]) -> list[str]:
    """The build requirements among :data:`VCS_VERSIONS` (the version comes from git tags)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    names = set()
    for line in requires:
        try:
            names.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue
    return sorted(names & VCS_VERSIONS)


def resolve_requires(requires: Sequence[str], options: Sequence[str], folder: Path) -> list[str]:
    """The build requirements pinned as pip resolves them for this interpreter (the build runs
    here): ``name==version`` lines, sorted."""
    if not requires:
        return []
    listing = folder / "build-requires.txt"
    listing.write_text("".join(f"{r}\n" for r in requires), encoding="utf-8")
    items = pip.resolve(listing, ["--only-binary=:all:"], options)
    return sorted(f"{item['metadata']['name']}=={item['metadata']['version']}" for item in items)


def build_wheel(
    source: Path,
    pins: Sequence[str],
    options: Sequence[str],
    folder: Path,
    what: str,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Build ``source`` (an sdist file or a project folder) into a pure wheel under
    ``folder/out`` with pip, its build requirements pinned to ``pins``, in :func:`sealed`'s
    environment (``env``, when the caller made it already). Raises :class:`NotPure` when the
    build fails or the wheel is not pure."""
    env = env if env is not None else sealed(folder)
    constraints = folder / "build-constraints.txt"
    constraints.write_text("".join(f"{pin}\n" for pin in pins), encoding="utf-8")
    out = folder / "out"
    try:
        pip.run(
            ["wheel", "--no-deps", "--no-cache-dir", "--quiet", str(source), "-w", str(out),
             *options],
            what=f"building {what}",
            env={**env, "PIP_CONSTRAINT": str(constraints)},
        )  # fmt: skip
    except pip.PipFailed as exc:  # the backend's own reason, not pip's summary of it
        raise NotPure(pip.build_failure(exc.output)) from None
    wheels = [p for p in out.iterdir() if p.name.endswith(".whl")] if out.is_dir() else []
    if len(wheels) != 1:
        raise NotPure(f"it built {sorted(p.name for p in wheels)}, not one wheel")
    [wheel] = wheels
    try:
        _, _, _, tags = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename:
        raise NotPure(f"it built {wheel.name!r}") from None
    if not all(tag.abi == "none" and tag.platform == "any" for tag in tags):
        raise NotPure(f"it builds a wheel for {', '.join(sorted(map(str, tags)))} only")
    return wheel
