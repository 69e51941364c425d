"""An sdist → a pure-Python wheel, built so that its bytes depend on its inputs only.

Only a pure wheel (``py3-none-any``) can be built for a Lambda target on this machine: anything
compiled here would be compiled for this machine's Python and libc. Whether a package is pure
cannot be read from its sdist (markupsafe's C extension is optional), so the build is run with
no compiler to find: ``cc``, ``gcc``, ``c++``, ``g++``, ``clang``, ``cargo``, ``rustc``,
``gfortran`` and ``cmake`` fail at once (a build that needs one fails in seconds, not after
minutes of compiling), and only a wheel tagged for any platform and ABI is accepted.

Reproducible as far as a build can be: the build requirements (``build-system.requires``, or
setuptools and wheel for a legacy sdist) are resolved first and pinned for the isolated build
(``PIP_CONSTRAINT``), ``SOURCE_DATE_EPOCH`` is fixed, pip's wheel cache is off, and the
resolution is recorded, so that the layer's key covers the sdist's hash and the build tools'
versions.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from detzip.deps import pip
from detzip.errors import DetzipError, Setting, literal

__all__ = ["Built", "build_pure"]

#: the timestamp every built wheel's members get (1980-01-01, the zip format's first moment)
SOURCE_DATE_EPOCH = "315532800"
#: tools a build must not find: each fails at once
_COMPILERS = ("cc", "gcc", "c++", "g++", "clang", "clang++", "cargo", "rustc", "gfortran",
              "cmake", "ninja", "meson")  # fmt: skip
#: what pip assumes for an sdist without ``[build-system]``
_LEGACY_REQUIRES = ["setuptools>=40.8.0", "wheel"]


@dataclass(frozen=True, slots=True)
class Built:
    """A wheel built from an sdist: the wheel, the sdist's sha256, and the build requirements
    as resolved (``name==version``) for the build."""

    wheel: Path
    sdist_sha256: str
    build_requires: tuple[str, ...]

    def describe(self) -> dict[str, object]:
        """What the wheel's bytes depend on, for the key."""
        return {"sdist_sha256": self.sdist_sha256, "build_requires": list(self.build_requires)}


def build_pure(
    name: str,
    version: str,
    line: str,
    sdist_sha256: str | None,
    options: Sequence[str],
    folder: Path,
    runtime: str,
) -> Built:
    """Fetch the sdist ``line`` names (a requirement line, with its hash when known), check it,
    resolve its build requirements and build it into a pure wheel under ``folder``."""
    env = _sealed(folder)
    requirement = folder / "sdist.txt"
    requirement.write_text(line + "\n")
    what = f"{name} {version}"
    try:  # pip reads the sdist's metadata too: a backend may fail here already
        pip.run(
            ["download", "--no-deps", "--no-binary", name, "--no-cache-dir", "--quiet",
             "-r", str(requirement), "-d", str(folder / "sdist"), *options],
            what=f"fetching the sdist of {what}",
            env=env,
        )  # fmt: skip
    except DetzipError as exc:
        if "metadata" not in str(exc) and "Error: " not in str(exc):
            raise
        raise _not_pure(name, version, runtime, literal(str(exc).split(": ", 1)[-1])) from None
    [sdist] = [p for p in (folder / "sdist").iterdir() if p.is_file()]
    with open(sdist, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if sdist_sha256 and digest != sdist_sha256:
        raise DetzipError(
            f"{sdist.name} has sha256 {digest}, not the {sdist_sha256} the lock names for "
            f"{what}; the index serves other bytes than were locked — re-lock or check the index"
        )
    requires = _build_requires(sdist)
    _version_is_known(sdist, requires, what)
    pins = _resolve(requires, options, folder) if requires else []
    constraints = folder / "build-constraints.txt"
    constraints.write_text("".join(f"{pin}\n" for pin in pins))
    try:
        pip.run(
            ["wheel", "--no-deps", "--no-cache-dir", "--quiet", str(sdist),
             "-w", str(folder / "out"), *options],
            what=f"building {what} from its sdist",
            env={**env, "PIP_CONSTRAINT": str(constraints)},
        )  # fmt: skip
    except DetzipError as exc:
        raise _not_pure(name, version, runtime, literal(str(exc).split(": ", 1)[-1])) from None
    [wheel] = [p for p in (folder / "out").iterdir() if p.name.endswith(".whl")]
    try:
        _, _, _, tags = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename:
        raise _not_pure(name, version, runtime, f"it built {wheel.name!r}") from None
    if not all(tag.abi == "none" and tag.platform == "any" for tag in tags):
        tagged = ", ".join(sorted(map(str, tags)))
        raise _not_pure(name, version, runtime, f"it builds a wheel for {tagged} only")
    return Built(wheel, digest, tuple(pins))


#: build requirements that take the version from VCS metadata (git tags)
_VCS_VERSIONS = {"setuptools-scm", "hatch-vcs", "versioningit", "dunamai",
                 "poetry-dynamic-versioning", "setuptools-git-versioning", "pbr"}  # fmt: skip


def _version_is_known(sdist: Path, requires: Sequence[str], what: str) -> None:
    """Refuse an sdist whose version would come from VCS data it does not carry: the build
    would invent one (``0.1.dev0``) or fail far from the cause."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    names = set()
    for line in requires:
        try:
            names.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue
    vcs = sorted(names & _VCS_VERSIONS)
    if vcs and _member(sdist, "PKG-INFO") is None:
        raise DetzipError(
            f"the sdist of {what} takes its version from VCS metadata ({', '.join(vcs)}) but "
            "carries neither that nor a PKG-INFO; use a published sdist or wheel",
            sdist.name,
        )


def _not_pure(name: str, version: str, runtime: str, why: str) -> DetzipError:
    return DetzipError(
        f"{name} {version} has no wheel for {runtime} and its sdist does not build as pure "
        f"Python without a compiler ({why}); pin a version that publishes a wheel for the "
        "target, or leave it out with {0}",
        settings=[Setting("exclude_packages", [name])],
    )


def _sealed(folder: Path) -> dict[str, str]:
    """The build's environment: no compiler on PATH, a fixed timestamp, no wheel cache."""
    shims = folder / "no-compilers"
    shims.mkdir()
    for tool in _COMPILERS:
        shim = shims / tool
        shim.write_text("#!/bin/sh\necho 'detzip: no compiler in a Lambda build' >&2\nexit 1\n")
        shim.chmod(stat.S_IRWXU)
    return {
        **os.environ,
        "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}",
        "CC": str(shims / "cc"),
        "CXX": str(shims / "c++"),
        "CARGO": str(shims / "cargo"),
        "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
        "PYTHONHASHSEED": "0",
        "PIP_NO_CACHE_DIR": "1",
    }


def _build_requires(sdist: Path) -> list[str]:
    """The sdist's ``build-system.requires`` (a legacy sdist: setuptools and wheel)."""
    data = _member(sdist, "pyproject.toml")
    if data is None:
        return list(_LEGACY_REQUIRES)
    try:
        system = tomllib.loads(data.decode("utf-8")).get("build-system", {})
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise DetzipError("its pyproject.toml is not valid TOML", sdist) from None
    if "requires" not in system:
        return list(_LEGACY_REQUIRES)
    return [str(r) for r in system["requires"]]


def _member(sdist: Path, name: str) -> bytes | None:
    """The top folder's ``name`` in a .tar.gz or .zip sdist, if it has one."""
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(name)]
            return archive.read(names[0]) if names else None
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/" + name):
                extracted = archive.extractfile(member)
                return extracted.read() if extracted is not None else None
    return None


def _resolve(requires: Sequence[str], options: Sequence[str], folder: Path) -> list[str]:
    """The build requirements pinned as pip resolves them for this interpreter (the build runs
    here): ``name==version`` lines, sorted."""
    listing = folder / "build-requires.txt"
    listing.write_text("".join(f"{r}\n" for r in requires))
    items = pip.resolve(listing, ["--only-binary=:all:"], options)
    return sorted(f"{item['metadata']['name']}=={item['metadata']['version']}" for item in items)
