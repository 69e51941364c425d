"""An sdist → a pure-Python wheel, built so that its bytes depend on its inputs only.

The build itself (no compiler, pinned build requirements, a fixed timestamp, pure wheels only)
is :mod:`detzip.deps._pep517`'s; here the sdist is fetched, checked against the lock's hash,
and its build requirements are read, so that the layer's key covers the sdist's hash and the
build tools' versions.

A build that fails (a native package: seconds to minutes of installing its build requirements
first) is remembered in the cache's ``failed-builds/`` folder by the sdist's sha256 and what
else the build depends on (:class:`Failures`), and refused from there at once the next time,
saying that it is remembered and which file to delete to try again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import tarfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from detzip._datatype import datatype
from detzip._digest import file_sha256
from detzip.deps import _pep517, pip
from detzip.errors import DetzipError, Setting, literal

if TYPE_CHECKING:
    from detzip.deps.targets import Target

__all__ = ["Failures", "SdistWheel", "build_pure"]


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


class Failures:
    """Failed sdist builds, one JSON file each under ``folder``, named by a digest of the
    sdist's sha256 and the build's environment: the target, the index options (they choose the
    build requirements), this interpreter and pip (the build runs here), and detzip's version
    (its sealed build). What the build was refused for, its build requirements and when are
    inside, for the message."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, sdist_sha256: str, target: Target, options: Sequence[str]) -> Path:
        """Where a failed build of this sdist in this environment is remembered."""
        return self.folder / f"{_environment_key(sdist_sha256, target, options)}.json"

    def recall(
        self, sdist_sha256: str, target: Target, options: Sequence[str]
    ) -> tuple[Path, dict[str, object]] | None:
        """The remembered failure of this build, if there is one: its file and what it says."""
        path = self.path(sdist_sha256, target, options)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("why"), str):
            return None
        return path, data

    def remember(
        self,
        sdist_sha256: str,
        target: Target,
        options: Sequence[str],
        what: str,
        why: str,
        build_requires: Sequence[str],
    ) -> None:
        """Remember that this build failed, and why (only a memo: a folder that cannot take it
        leaves the next run to build again)."""
        from detzip._fs import write_file

        data = {
            "package": what,
            "sdist_sha256": sdist_sha256,
            "why": why,
            "build_requires": list(build_requires),
            "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "environment": _environment(target, options),
        }
        path = self.path(sdist_sha256, target, options)
        with contextlib.suppress(OSError):
            write_file(path, json.dumps(data, indent=1).encode())


def _environment(target: Target, options: Sequence[str]) -> dict[str, object]:
    from importlib.metadata import PackageNotFoundError, version

    from detzip._version import __version__

    try:
        pip_version = version("pip")
    except PackageNotFoundError:  # (pip runs as `python -m pip`: it is there)
        pip_version = "?"
    return {
        "target": target.describe(),
        "options": list(options),
        "python": sys.version,
        "pip": pip_version,
        "detzip": __version__,
    }


def _environment_key(sdist_sha256: str, target: Target, options: Sequence[str]) -> str:
    text = json.dumps([1, sdist_sha256, _environment(target, options)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def build_pure(
    name: str,
    version: str,
    line: str,
    sdist_sha256: str | None,
    options: Sequence[str],
    folder: Path,
    target: Target,
    failures: Failures | None = None,
    passed_over: str | None = None,
) -> SdistWheel:
    """Fetch the sdist ``line`` names (a requirement line, with its hash when known), check it,
    resolve its build requirements and build it into a pure wheel under ``folder``.

    A failed build of the same sdist in the same environment that ``failures`` remembers is
    refused at once (before anything is fetched when the lock names the sdist's sha256); a
    build that fails now is remembered there. ``passed_over`` says why none of the lock's
    wheels fits the target (for the message)."""
    what = f"{name} {version}"

    def refuse(why: str, digest: str | None, requires: Sequence[str] = ()) -> DetzipError:
        if failures is not None and digest is not None:
            failures.remember(digest, target, options, what, why, requires)
        return _not_pure(name, version, target, passed_over, why)

    if failures is not None and sdist_sha256:
        _recall(failures, sdist_sha256, target, options, name, version, passed_over)
    env = _pep517.sealed(folder)
    requirement = folder / "sdist.txt"
    requirement.write_text(line + "\n", encoding="utf-8")
    try:  # pip reads the sdist's metadata too: a backend may fail here already
        pip.run(
            ["download", "--no-deps", "--no-binary", name, "--no-cache-dir", "--quiet",
             "-r", str(requirement), "-d", str(folder / "sdist"), *options],
            what=f"fetching the sdist of {what}",
            env=env,
        )  # fmt: skip
    except pip.PipFailed as exc:
        if not _build_failed(exc.output) and "metadata" not in str(exc):
            raise
        raise refuse(pip.build_failure(exc.output), sdist_sha256) from None
    [sdist] = [p for p in (folder / "sdist").iterdir() if p.is_file()]
    digest = file_sha256(sdist)
    if sdist_sha256 and digest != sdist_sha256:
        raise DetzipError(
            f"{sdist.name} has sha256 {digest}, not the {sdist_sha256} the lock names for "
            f"{what}; the index serves other bytes than were locked — re-lock or check the index"
        )
    if failures is not None and not sdist_sha256:  # known only now
        _recall(failures, digest, target, options, name, version, passed_over)
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
        raise refuse(exc.why, digest, pins) from None
    return SdistWheel(wheel, digest, tuple(pins))


def _build_failed(output: str) -> bool:
    """Whether pip's output is a backend's failure (not a download's)."""
    return "subprocess-exited-with-error" in output or "metadata-generation-failed" in output


def _recall(
    failures: Failures,
    sdist_sha256: str,
    target: Target,
    options: Sequence[str],
    name: str,
    version: str,
    passed_over: str | None,
) -> None:
    """Refuse at once a build that failed before, in the same environment."""
    found = failures.recall(sdist_sha256, target, options)
    if found is None:
        return
    path, data = found
    when = data.get("when") if isinstance(data.get("when"), str) else "an earlier run"
    error = _not_pure(name, version, target, passed_over, str(data["why"]))
    raise DetzipError(
        error.template
        + literal(
            f" (remembered: this sdist failed to build on {when} in the same environment; "
            f"to build it again, delete {path})"
        ),
        settings=error.settings,
    )


def _not_pure(
    name: str, version: str, target: Target, passed_over: str | None, why: str
) -> DetzipError:
    wheels = f" — {passed_over} —" if passed_over else ""
    return DetzipError(
        f"{name} {version} has no wheel for {target.runtime} {target.arch}{literal(wheels)} and "
        f"its sdist does not build as pure Python without a compiler ({literal(why)}); pin a "
        "version that publishes a wheel for the target, or leave it out with {0}",
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
