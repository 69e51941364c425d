"""detzip: deterministic AWS Lambda zips — same inputs, same bytes.

The public API::

    from detzip import build_function, build_layer
    artifact = build_function("src/", "build/function.zip")
    artifact.base64sha256   # == Terraform's filebase64sha256("build/function.zip")
    layer = build_layer("poetry.lock", "build/layer.zip", runtime="python3.12", arch="arm64")

Every front door — the functions above, the CLI, Terraform and ``[tool.detzip]`` — turns its
options into one :class:`ArtifactSpec` and calls :func:`build`::

    spec = ArtifactSpec.create("layer", requirements="uv.lock", output="build/layer.zip")
    artifact = build(spec)
    project = load_project("examples/service")   # [tool.detzip] / detzip.toml
    results = project.build()                    # layers first, each function with its layers

Lower level: :class:`Entry` and :func:`write_zip` write any set of entries canonically;
:func:`diff_zips` explains why two zips differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from detzip._version import __version__

__all__ = [
    "Artifact",
    "ArtifactSpec",
    "Cache",
    "CacheSettings",
    "Dependencies",
    "DetzipError",
    "Difference",
    "Entry",
    "LimitsReport",
    "Project",
    "Target",
    "TreeSpec",
    "WrittenZip",
    "ZipOptions",
    "__version__",
    "build",
    "build_function",
    "build_layer",
    "check_limits",
    "collect",
    "diff_zips",
    "load_project",
    "write_zip",
]

if TYPE_CHECKING:
    from detzip.api import build_function, build_layer
    from detzip.artifact import Artifact
    from detzip.builder import build
    from detzip.cache.local import Cache
    from detzip.cache.settings import CacheSettings
    from detzip.deps.request import Dependencies
    from detzip.deps.targets import Target
    from detzip.errors import DetzipError
    from detzip.inputs.tree import TreeSpec, collect
    from detzip.limits import LimitsReport, check_limits
    from detzip.project import Project
    from detzip.project import load as load_project
    from detzip.spec import ArtifactSpec
    from detzip.zip.diff import Difference, diff_zips
    from detzip.zip.entries import Entry
    from detzip.zip.options import ZipOptions
    from detzip.zip.writer import WrittenZip, write_zip

# Imported on first use, so that `import detzip` (and the CLI's start-up) stays cheap.
_LAZY = {
    "Artifact": "detzip.artifact",
    "ArtifactSpec": "detzip.spec",
    "build": "detzip.builder",
    "Cache": "detzip.cache.local",
    "CacheSettings": "detzip.cache.settings",
    "Project": "detzip.project",
    "load_project": "detzip.project:load",
    "Dependencies": "detzip.deps.request",
    "Target": "detzip.deps.targets",
    "build_layer": "detzip.api",
    "check_limits": "detzip.limits",
    "LimitsReport": "detzip.limits",
    "DetzipError": "detzip.errors",
    "Difference": "detzip.zip.diff",
    "Entry": "detzip.zip.entries",
    "TreeSpec": "detzip.inputs.tree",
    "WrittenZip": "detzip.zip.writer",
    "ZipOptions": "detzip.zip.options",
    "build_function": "detzip.api",
    "collect": "detzip.inputs.tree",
    "diff_zips": "detzip.zip.diff",
    "write_zip": "detzip.zip.writer",
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'detzip' has no attribute {name!r}")
    import importlib

    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
