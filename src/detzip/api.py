"""The Python API's front door: ``build_function`` and ``build_layer`` (thin wrappers).

Each turns its keyword arguments into an :class:`~detzip.spec.ArtifactSpec` and calls
:func:`detzip.builder.build`, like every other front door. An argument left at None takes the
option table's default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detzip.artifact import Artifact
    from detzip.cache.local import Cache
    from detzip.deps.request import Dependencies

__all__ = ["api_cache", "build_function", "build_layer"]


def build_function(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    extra_sources: Sequence[Any] | None = None,
    exclude: Sequence[str] | None = None,
    include: Sequence[str] | None = None,
    default_excludes: bool | None = None,
    ignore_file: bool | None = None,
    prefix: str | None = None,
    allow_outside_links: bool | None = None,
    mtime: str | int | float | datetime | None = None,
    compressor: str | None = None,
    level: int | None = None,
    recompress: bool | None = None,
    dependencies: Dependencies | None = None,
    cache: Cache | bool = True,
    name: str | None = None,
    upload: str | None = None,
    upload_to: str | None = None,
    handler: str | None = None,
    external_layers: Sequence[Any] | None = None,
    layers: Sequence[str | os.PathLike[str]] | None = None,
    runtime: str | None = None,
    arch: str | None = None,
    compile: bool | None = None,
    invalidation: str | None = None,
    python: str | None = None,
) -> Artifact:
    """Zip the code under ``source`` into ``output``; the bytes depend only on what is packed.

    ``exclude``/``include`` are gitignore-style patterns relative to ``source``; a
    ``.detzipignore`` file there is read too. ``extra_sources`` packs more folders beside it
    (shared code): each a path, ``"PATH=PREFIX"``, or ``{"path", "prefix", "exclude",
    "include"}``; unset keys take the function's own, and each folder reads its own
    ``.detzipignore``. ``mtime=None`` is 1980-01-01 whatever the environment
    says (detzip 0.1 followed ``SOURCE_DATE_EPOCH``); ``mtime="source-date-epoch"``
    takes ``$SOURCE_DATE_EPOCH``. An argument left at None takes the option table's default (see
    :mod:`detzip.optiontable`, or ``detzip function --help``).

    With ``dependencies`` (see :class:`detzip.deps.request.Dependencies`), the wheels it
    resolves are installed at the root of the same zip, beside the code.

    ``cache``: True uses the local cache (and ``$DETZIP_CACHE`` if set); False always builds; or
    pass a :class:`detzip.cache.local.Cache`. ``name`` names the artifact in caches (default: the
    output's file name without ``.zip``).

    The zip must unzip to less than Lambda's 262,144,000 bytes (else
    :class:`detzip.limits.LimitExceeded`). Over the 52,428,800-byte direct-upload size it warns;
    ``upload="direct"`` makes that an error too, ``upload="s3"`` silences it. With ``layers``
    (layer zips), the result's ``problems`` say whether function and layers fit together.
    ``handler`` is checked in the zip and its layers; ``external_layers`` (``{arn,
    unzipped_size}``) count in the limits. ``compile=True`` adds bytecode for ``runtime``
    (compiled by ``python``, else that Python found on PATH or by uv).
    """
    from detzip.builder import build
    from detzip.errors import DetzipError
    from detzip.spec import ArtifactSpec

    values: dict[str, Any] = {
        "source": source,
        "extra_sources": extra_sources,
        "output": output,
        "exclude": exclude,
        "include": include,
        "default_excludes": default_excludes,
        "ignore_file": ignore_file,
        "prefix": prefix,
        "allow_outside_links": allow_outside_links,
        "mtime": mtime,
        "compressor": compressor,
        "level": level,
        "recompress": recompress,
        "name": name,
        "upload": upload,
        "upload_to": upload_to,
        "handler": handler,
        "external_layers": external_layers,
        "layers": layers,
        "runtime": runtime,
        "arch": arch,
        "compile": compile,
        "invalidation": invalidation,
        "python": python,
    }
    if dependencies is not None:
        bundled = dependencies.option_values()
        for key in ("runtime", "arch"):
            if values[key] is not None and values[key] != bundled[key]:
                raise DetzipError(
                    f"{key}={values[key]!r} differs from the dependencies' {bundled[key]!r}; "
                    "give it once"
                )
        values.update(bundled)
    spec = ArtifactSpec.create("function", values)
    return build(spec, api_cache(cache, spec))


def build_layer(
    requirements: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    runtime: str | None = None,
    arch: str | None = None,
    format: str | None = None,
    groups: Sequence[str] | None = None,
    extras: Sequence[str] | None = None,
    package: str | None = None,
    include_project: bool | None = None,
    prefix: str | None = None,
    exclude: Sequence[str] | None = None,
    exclude_packages: Sequence[str] | None = None,
    default_excludes: bool | None = None,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] | None = None,
    find_links: Sequence[str] | None = None,
    no_index: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    mtime: str | int | float | datetime | None = None,
    compressor: str | None = None,
    level: int | None = None,
    recompress: bool | None = None,
    cache: Cache | bool = True,
    name: str | None = None,
    upload: str | None = None,
    upload_to: str | None = None,
    compile: bool | None = None,
    invalidation: str | None = None,
    python: str | None = None,
) -> Artifact:
    """Build a Lambda layer zip from a requirements.txt, poetry.lock, pylock.toml or uv.lock.

    The bytes depend on the resolved set of wheels and the target only, not on which lock
    format carried it. ``prefix`` is ``python`` (where Lambda looks in a layer); pass ``''`` to
    put the packages at the root. ``exclude`` patterns apply to paths inside the layer (e.g.
    ``*/tests/``); ``exclude_packages`` drops whole distributions (e.g. boto3, which the
    runtime provides). ``__pycache__/`` and ``*.pyc`` are dropped unless ``default_excludes``
    is false. An argument left at None takes the option table's default (``runtime``
    python3.12, ``arch`` x86_64; see :mod:`detzip.optiontable`, or ``detzip layer --help``).

    ``cache``: True uses the local cache under ``cache_dir`` (and ``$DETZIP_CACHE`` if set, e.g.
    ``s3://bucket/prefix``); False always builds; or pass a :class:`detzip.cache.local.Cache`.
    ``name`` names the artifact in caches (default: the output's file name without ``.zip``).

    The layer must unzip to less than Lambda's 262,144,000 bytes (else
    :class:`detzip.limits.LimitExceeded`). Over the 52,428,800-byte direct-upload size it warns;
    ``upload="direct"`` makes that an error too, ``upload="s3"`` silences it.
    """
    from detzip.builder import build
    from detzip.spec import ArtifactSpec

    spec = ArtifactSpec.create(
        "layer",
        requirements=requirements,
        output=output,
        runtime=runtime,
        arch=arch,
        format=format,
        groups=groups,
        extras=extras,
        package=package,
        include_project=include_project,
        prefix=prefix,
        exclude=exclude,
        exclude_packages=exclude_packages,
        default_excludes=default_excludes,
        index_url=index_url,
        extra_index_urls=extra_index_urls,
        find_links=find_links,
        no_index=no_index,
        cache_dir=cache_dir,
        mtime=mtime,
        compressor=compressor,
        level=level,
        recompress=recompress,
        name=name,
        upload=upload,
        upload_to=upload_to,
        compile=compile,
        invalidation=invalidation,
        python=python,
    )
    return build(spec, api_cache(cache, spec))


def api_cache(cache: Cache | bool, spec: Any) -> Cache:
    """The API's ``cache`` argument as a :class:`Cache`: True → the one ``spec`` describes."""
    from detzip.cache.local import Cache
    from detzip.errors import DetzipError

    if isinstance(cache, Cache):
        if spec.cache.dir is not None and spec.cache.dir != cache.root:
            raise DetzipError(
                f"cache_dir {str(spec.cache.dir)!r} is not the folder of the Cache passed "
                f"({cache.root}); give one or the other"
            )
        return cache
    if cache:
        return spec.cache.open()  # type: ignore[no-any-return]
    return Cache(spec.cache.dir, enabled=False)
