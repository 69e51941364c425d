"""A Lambda runtime and architecture → Python version, wheel tags and marker environment.

The wheel tags come from ``packaging.tags`` in the same order pip uses for ``--platform`` values
given in that order, so detzip and pip choose the same wheel for a target: CPython tags for the
runtime's ABI, then abi3, then ``none``, each over the manylinux platforms the runtime's glibc
loads (newest first), then the pure-Python tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING

from detzip._datatype import datatype
from detzip.errors import DetzipError

if TYPE_CHECKING:
    from packaging.tags import Tag

__all__ = ["ARCHITECTURES", "DEFAULT_ARCH", "DEFAULT_RUNTIME", "RUNTIMES", "Target"]

# runtime → (Python version, newest glibc minor the runtime's OS loads: AL2 2.26, AL2023 2.34)
RUNTIMES: dict[str, tuple[tuple[int, int], int]] = {
    "python3.10": ((3, 10), 26),
    "python3.11": ((3, 11), 26),
    "python3.12": ((3, 12), 34),
    "python3.13": ((3, 13), 34),
    "python3.14": ((3, 14), 34),
}
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
DEFAULT_RUNTIME = "python3.12"
DEFAULT_ARCH = "x86_64"

# the oldest glibc minor with a manylinux tag for the machine, and the legacy aliases
_OLDEST = {"x86_64": 5, "aarch64": 17}
_LEGACY = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_(\w+)")
_ALIASES = {f"{alias}_": minor for minor, alias in _LEGACY.items()}


@datatype(slots=False)
class Target:
    """Where a layer runs: a Lambda Python runtime on an architecture."""

    runtime: str = DEFAULT_RUNTIME
    arch: str = DEFAULT_ARCH

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise DetzipError(f"unknown runtime {self.runtime!r}; use one of {', '.join(RUNTIMES)}")
        if self.arch not in ARCHITECTURES:
            raise DetzipError(
                f"unknown architecture {self.arch!r}; use one of {', '.join(ARCHITECTURES)}"
            )

    @property
    def python_version(self) -> tuple[int, int]:
        """The runtime's Python (major, minor): (3, 12) for python3.12."""
        return RUNTIMES[self.runtime][0]

    @property
    def python(self) -> str:
        """'3.12'"""
        return "{}.{}".format(*self.python_version)

    @property
    def machine(self) -> str:
        """The machine name Python reports there: x86_64 or aarch64."""
        return ARCHITECTURES[self.arch]

    @property
    def glibc(self) -> tuple[int, int]:
        """The newest glibc the runtime's OS loads: (2, 26) on Amazon Linux 2, (2, 34) on AL2023."""
        return (2, RUNTIMES[self.runtime][1])

    @property
    def abi(self) -> str:
        """The CPython ABI tag: 'cp312' for python3.12."""
        return "cp{}{}".format(*self.python_version)

    def platforms(self) -> list[str]:
        """manylinux platform tags the runtime loads, newest first (legacy aliases in place)."""
        found = []
        for minor in range(self.glibc[1], _OLDEST[self.machine] - 1, -1):
            found.append(f"manylinux_2_{minor}_{self.machine}")
            if minor in _LEGACY:
                found.append(f"{_LEGACY[minor]}_{self.machine}")
        return found

    @cached_property
    def tags(self) -> list[Tag]:
        """Every acceptable wheel tag, most preferred first."""
        from packaging.tags import compatible_tags, cpython_tags

        platforms = self.platforms()
        return [
            *cpython_tags(self.python_version, [self.abi], platforms),
            *compatible_tags(self.python_version, self.abi, platforms),
        ]

    @cached_property
    def tag_rank(self) -> dict[Tag, int]:
        """Each acceptable wheel tag → its place in :attr:`tags` (0: most preferred)."""
        return {tag: index for index, tag in enumerate(self.tags)}

    def marker_environment(self) -> dict[str, str]:
        """The values PEP 508 markers see on the runtime (patch version taken as .0)."""
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{self.python}.0",
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": f"{self.python}.0",
            "python_version": self.python,
            "sys_platform": "linux",
        }

    def pip_arguments(self) -> list[str]:
        """The pip options that make pip choose wheels for this target."""
        args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.python]
        for platform in self.platforms():
            args += ["--platform", platform]
        for abi in (self.abi, "abi3", "none"):
            args += ["--abi", abi]
        return args

    def why_not(self, filenames: Iterable[str]) -> str:
        """Why none of these wheels loads on the target, in a few words (the glibc they need,
        the Pythons or machines they were built for), and which other runtimes would take one:
        "its cp311 wheels need glibc 2.28 (manylinux_2_28) and python3.11 has glibc 2.26;
        python3.12+ (glibc 2.34) would take one"."""
        from packaging.tags import Tag
        from packaging.utils import InvalidWheelFilename, parse_wheel_filename

        newest = self.platforms()[0]
        glibc: dict[int, set[str]] = {}  # glibc minor a wheel for this Python needs → abis
        pythons: set[str] = set()
        machines: set[str] = set()
        systems: set[str] = set()
        wheels = []
        for filename in filenames:
            try:
                _, _, _, tags = parse_wheel_filename(filename)
            except InvalidWheelFilename:
                continue
            wheels.append(filename)
            for tag in tags:
                minor, machine = _glibc(tag.platform)
                here = Tag(tag.interpreter, tag.abi, newest) in self.tag_rank
                if machine is None:
                    if tag.platform == "any":
                        pythons.add(tag.interpreter)
                    else:
                        systems.add(_system(tag.platform))
                elif machine != self.machine:
                    machines.add(machine)
                elif not here:
                    pythons.add(tag.abi if tag.abi not in ("none", "abi3") else tag.interpreter)
                elif minor is not None and minor > self.glibc[1]:
                    glibc.setdefault(minor, set()).add(tag.abi)
        if glibc:
            need = min(glibc)
            abis = "/".join(sorted(glibc[need]))
            why = (
                f"its {abis} wheels need glibc 2.{need} (manylinux_2_{need}) and {self.runtime} "
                f"has glibc 2.{self.glibc[1]}"
            )
        elif pythons:
            why = f"its wheels are for {', '.join(sorted(pythons))}, not {self.abi}"
        elif machines:
            why = f"its wheels are for {', '.join(sorted(machines))}, not {self.machine}"
        elif systems:
            why = f"its wheels are for {', '.join(sorted(systems))} only"
        else:
            why = "it lists no wheels"
        takers = [
            runtime
            for runtime in RUNTIMES
            if runtime != self.runtime
            and any(Target(runtime, self.arch).fits(wheel) for wheel in wheels)
        ]
        if takers:
            later = list(RUNTIMES)[list(RUNTIMES).index(takers[0]) :]
            named = f"{takers[0]}+" if takers == later and len(takers) > 1 else "/".join(takers)
            needs = Target(takers[0], self.arch).glibc[1]
            extra = f" (glibc 2.{needs})" if glibc and needs != self.glibc[1] else ""
            why += f"; {named}{extra} would take one"
        return why

    def fits(self, filename: str) -> bool:
        """Whether the wheel file named ``filename`` loads on the target."""
        from packaging.utils import InvalidWheelFilename, parse_wheel_filename

        try:
            _, _, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return False
        return any(tag in self.tag_rank for tag in tags)

    def describe(self) -> dict[str, str]:
        """The target as JSON-ready values: ``runtime`` and ``arch``."""
        return {"runtime": self.runtime, "arch": self.arch}


def _glibc(platform: str) -> tuple[int | None, str | None]:
    """A manylinux platform tag's glibc minor and machine (None, None: not manylinux; a
    musllinux tag: None and its machine)."""
    found = _MANYLINUX.fullmatch(platform)
    if found:
        return int(found[2]), found[3]
    for alias, minor in _ALIASES.items():
        if platform.startswith(alias):
            return minor, platform[len(alias) :]
    if platform.startswith("musllinux_"):
        return None, "musllinux " + platform.split("_", 3)[-1]
    return None, None


def _system(platform: str) -> str:
    """A platform tag's operating system, in words."""
    if platform.startswith("macosx"):
        return "macOS"
    if platform.startswith("win"):
        return "Windows"
    if platform.startswith("linux_"):
        return f"{platform} (not manylinux)"
    return platform
