"""An sdist → a pure-Python wheel, built so that its bytes depend on its inputs only.

The build itself (no compiler, pinned build requirements, a fixed timestamp, pure wheels only)
is :mod:`detzip.deps._pep517`'s; here the sdist is fetched, checked against the lock's hash,
and its build requirements are read, so that the layer's key covers the sdist's hash and the
build tools' versions.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from detzip._datatype import datatype
from detzip._digest import file_sha256
from detzip.deps import _pep517, pip
from detzip.errors import DetzipError, Setting, literal

__all__ = ["SdistWheel", "build_pure"]


@datatype
class SdistWheel:
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
) -> SdistWheel:
    """Fetch the sdist ``line`` names (a requirement line, with its hash when known), check it,
    resolve its build requirements and build it into a pure wheel under ``folder``."""
    env = _pep517.sealed(folder)
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
    digest = file_sha256(sdist)
    if sdist_sha256 and digest != sdist_sha256:
        raise DetzipError(
            f"{sdist.name} has sha256 {digest}, not the {sdist_sha256} the lock names for "
            f"{what}; the index serves other bytes than were locked — re-lock or check the index"
        )
    requires = _pep517.build_requires(_member(sdist, "pyproject.toml"), sdist.name)
    vcs = _pep517.vcs_tools(requires)
    if vcs and _member(sdist, "PKG-INFO") is None:  # the build would invent a version
        raise DetzipError(
            f"the sdist of {what} takes its version from VCS metadata ({', '.join(vcs)}) but "
            "carries neither that nor a PKG-INFO; use a published sdist or wheel",
            sdist.name,
        )
    pins = _pep517.resolve_requires(requires, options, folder)
    try:
        wheel = _pep517.build_wheel(sdist, pins, options, folder, f"{what} from its sdist", env)
    except _pep517.NotPure as exc:
        raise _not_pure(name, version, runtime, literal(exc.why)) from None
    return SdistWheel(wheel, digest, tuple(pins))


def _not_pure(name: str, version: str, runtime: str, why: str) -> DetzipError:
    return DetzipError(
        f"{name} {version} has no wheel for {runtime} and its sdist does not build as pure "
        f"Python without a compiler ({why}); pin a version that publishes a wheel for the "
        "target, or leave it out with {0}",
        settings=[Setting("exclude_packages", [name])],
    )


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
