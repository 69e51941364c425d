"""detzip: deterministic AWS Lambda zips — same inputs, same bytes.

The public API::

    from detzip import build_function, build_layer
    artifact = build_function("src/", "build/function.zip")
    artifact.base64sha256   # == Terraform's filebase64sha256("build/function.zip")
    layer = build_layer("poetry.lock", "build/layer.zip", runtime="python3.12", arch="arm64")

Lower level: :class:`Entry` and :func:`write_zip` write any set of entries canonically;
:func:`diff_zips` explains why two zips differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "Cache",
    "Dependencies",
    "DetzipError",
    "Difference",
    "Entry",
    "LimitsReport",
    "Target",
    "TreeSpec",
    "WrittenZip",
    "ZipOptions",
    "__version__",
    "build_function",
    "build_layer",
    "check_limits",
    "collect",
    "diff_zips",
    "write_zip",
]

if TYPE_CHECKING:
    from detzip.artifact import Artifact
    from detzip.cache import Cache
    from detzip.dependencies import Dependencies
    from detzip.entries import Entry
    from detzip.errors import DetzipError
    from detzip.function import build_function
    from detzip.layer import build_layer
    from detzip.limits import LimitsReport, check_limits
    from detzip.options import ZipOptions
    from detzip.targets import Target
    from detzip.tree import TreeSpec, collect
    from detzip.zipdiff import Difference, diff_zips
    from detzip.zipwriter import WrittenZip, write_zip

# Imported on first use, so that `import detzip` (and the CLI's start-up) stays cheap.
_LAZY = {
    "Artifact": "detzip.artifact",
    "Cache": "detzip.cache",
    "Dependencies": "detzip.dependencies",
    "Target": "detzip.targets",
    "build_layer": "detzip.layer",
    "check_limits": "detzip.limits",
    "LimitsReport": "detzip.limits",
    "DetzipError": "detzip.errors",
    "Difference": "detzip.zipdiff",
    "Entry": "detzip.entries",
    "TreeSpec": "detzip.tree",
    "WrittenZip": "detzip.zipwriter",
    "ZipOptions": "detzip.options",
    "build_function": "detzip.function",
    "collect": "detzip.tree",
    "diff_zips": "detzip.zipdiff",
    "write_zip": "detzip.zipwriter",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'detzip' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
