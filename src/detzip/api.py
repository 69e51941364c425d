"""The Python API's front door: ``build_function`` and ``build_layer`` (thin wrappers).

Each takes exactly the option table's options for its kind (:mod:`detzip.optiontable`; a test
holds the signatures to it) as keyword arguments by their names, turns them into an
:class:`~detzip.spec.ArtifactSpec` and calls :func:`detzip.builder.build`, like every other
front door. An argument left at None takes the option table's default. Besides the table's
values (an ``s3://`` URL or ``off``), ``cache`` takes ``False`` (always build), ``True`` (the
default) or a :class:`~detzip.cache.local.Cache` to share across builds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detzip.artifact import Artifact
    from detzip.cache.local import Cache
    from detzip.optiontable import Kind
    from detzip.spec import ArtifactSpec, MTime

__all__ = ["build_function", "build_layer"]

Paths = Sequence[str | os.PathLike[str]]


def build_function(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    extra_sources: Sequence[str | os.PathLike[str] | Mapping[str, Any]] | None = None,
    exclude: Sequence[str] | None = None,
    include: Sequence[str] | None = None,
    default_excludes: bool | None = None,
    ignore_file: bool | None = None,
    allow_outside_links: bool | None = None,
    from_git: str | None = None,
    prefix: str | None = None,
    requirements: str | os.PathLike[str] | None = None,
    format: str | None = None,
    runtime: str | None = None,
    arch: str | None = None,
    groups: Sequence[str] | None = None,
    extras: Sequence[str] | None = None,
    package: str | None = None,
    include_project: bool | None = None,
    exclude_packages: Sequence[str] | None = None,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] | None = None,
    find_links: Sequence[str] | None = None,
    no_index: bool | None = None,
    compile: bool | None = None,
    invalidation: str | None = None,
    python: str | None = None,
    mtime: MTime = None,
    compressor: str | None = None,
    level: int | None = None,
    recompress: bool | None = None,
    cache: Cache | str | bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    no_cache: bool | None = None,
    require_cache: bool | None = None,
    cache_write: str | None = None,
    verify: bool | None = None,
    name: str | None = None,
    upload: str | None = None,
    external_layers: Sequence[Mapping[str, Any] | str | tuple[str, int]] | None = None,
    handler: str | None = None,
    upload_to: str | None = None,
    layers: Paths | None = None,
) -> Artifact:
    """Zip the code under ``source`` into ``output``; the bytes depend only on what is packed.

    ``exclude``/``include`` are gitignore-style patterns relative to ``source``; a
    ``.detzipignore`` file there is read too. ``extra_sources`` packs more folders beside it
    (shared code): each a path, ``"PATH=PREFIX"``, or ``{"path", "prefix", "exclude",
    "include"}``; unset keys take the function's own, and each folder reads its own
    ``.detzipignore``. ``from_git="HEAD"`` packs that commit's tree instead of the working
    tree. ``mtime=None`` is 1980-01-01 whatever the environment
    says (detzip 0.1 followed ``SOURCE_DATE_EPOCH``); ``mtime="source-date-epoch"``
    takes ``$SOURCE_DATE_EPOCH``. An argument left at None takes the option table's default (see
    :mod:`detzip.optiontable`, or ``detzip function --help``).

    With ``requirements`` (a lock or requirements file, and the other dependency options as
    for :func:`build_layer`), its packages are installed at the root of the same zip, beside
    the code.

    ``cache``: True (the default) uses the local cache (and ``$DETZIP_CACHE`` if set); False
    always builds; ``"s3://BUCKET/PREFIX"`` or ``"off"`` as on the command line; or pass a
    :class:`detzip.cache.local.Cache`. ``name`` names the artifact in caches (default: the
    output's file name without ``.zip``). ``cache_write`` ``"local"`` only reads the shared
    cache, ``"none"`` no cache folder either; ``verify`` rebuilds a served zip and compares
    (:class:`detzip.cache.verification.NotWhatItsKeyBuilds` if the bytes differ).

    The zip must unzip to less than Lambda's 262,144,000 bytes (else
    :class:`detzip.limits.LimitExceeded`). Over the 52,428,800-byte direct-upload size it warns;
    ``upload="direct"`` makes that an error too, ``upload="s3"`` silences it. With ``layers``
    (layer zips), the result's ``problems`` say whether function and layers fit together.
    ``handler`` is checked in the zip and its layers; ``external_layers`` (``{arn,
    unzipped_size}``) count in the limits. ``compile=True`` adds bytecode for ``runtime``
    (compiled by ``python``, else that Python found on PATH or by uv).
    """
    return _build("function", locals())


def build_layer(
    requirements: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    exclude: Sequence[str] | None = None,
    default_excludes: bool | None = None,
    prefix: str | None = None,
    format: str | None = None,
    runtime: str | None = None,
    arch: str | None = None,
    groups: Sequence[str] | None = None,
    extras: Sequence[str] | None = None,
    package: str | None = None,
    include_project: bool | None = None,
    exclude_packages: Sequence[str] | None = None,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] | None = None,
    find_links: Sequence[str] | None = None,
    no_index: bool | None = None,
    compile: bool | None = None,
    invalidation: str | None = None,
    python: str | None = None,
    mtime: MTime = None,
    compressor: str | None = None,
    level: int | None = None,
    recompress: bool | None = None,
    cache: Cache | str | bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    no_cache: bool | None = None,
    require_cache: bool | None = None,
    cache_write: str | None = None,
    verify: bool | None = None,
    name: str | None = None,
    upload: str | None = None,
    upload_to: str | None = None,
) -> Artifact:
    """Build a Lambda layer zip from a requirements.txt, poetry.lock, pylock.toml or uv.lock.

    The bytes depend on the resolved set of wheels and the target only, not on which lock
    format carried it. ``prefix`` is ``python`` (where Lambda looks in a layer); pass ``''`` to
    put the packages at the root. ``exclude`` patterns apply to paths inside the layer (e.g.
    ``*/tests/``); ``exclude_packages`` drops whole distributions (e.g. boto3, which the
    runtime provides). ``__pycache__/`` and ``*.pyc`` are dropped unless ``default_excludes``
    is false. An argument left at None takes the option table's default (``runtime``
    python3.12, ``arch`` x86_64; see :mod:`detzip.optiontable`, or ``detzip layer --help``).

    ``cache``: True (the default) uses the local cache under ``cache_dir`` (and
    ``$DETZIP_CACHE`` if set, e.g. ``s3://bucket/prefix``); False always builds; or pass a
    :class:`detzip.cache.local.Cache`. ``name`` names the artifact in caches (default: the
    output's file name without ``.zip``). ``cache_write`` ``"local"`` only reads the shared
    cache, ``"none"`` no cache folder either; ``verify`` rebuilds a served zip and compares
    (:class:`detzip.cache.verification.NotWhatItsKeyBuilds` if the bytes differ).

    The layer must unzip to less than Lambda's 262,144,000 bytes (else
    :class:`detzip.limits.LimitExceeded`). Over the 52,428,800-byte direct-upload size it warns;
    ``upload="direct"`` makes that an error too, ``upload="s3"`` silences it.
    """
    return _build("layer", locals())


def _build(kind: Kind, arguments: Mapping[str, Any]) -> Artifact:
    """The spec the arguments describe, built through the cache they choose."""
    from detzip.builder import build
    from detzip.spec import ArtifactSpec

    values = dict(arguments)
    store = values.pop("cache")
    if isinstance(store, str):  # the option table's value: a shared cache's URL, or off
        values["cache"], store = store, None
    elif store is False:
        values["no_cache"], store = True, None
    spec = ArtifactSpec.create(kind, values)
    return build(spec, None if store is None or store is True else _shared(store, spec))


def _shared(cache: Cache, spec: ArtifactSpec) -> Cache:
    """A :class:`Cache` passed to share across builds, if ``spec``'s ``cache_dir`` agrees."""
    from detzip.errors import DetzipError

    if spec.cache.dir is not None and spec.cache.dir != cache.root:
        raise DetzipError(
            f"cache_dir {str(spec.cache.dir)!r} is not the folder of the Cache passed "
            f"({cache.root}); give one or the other"
        )
    from detzip.cache.writes import resolve_write

    if spec.cache.write is not None and resolve_write(spec.cache.write) != cache.write:
        raise DetzipError(
            f"cache_write {spec.cache.write!r} is not the Cache passed's ({cache.write!r}); "
            "give it to the Cache (Cache(write=...)) or pass none"
        )
    if spec.cache.verify and not cache.verify:
        raise DetzipError(
            "verify=True with a Cache passed that does not verify; give it to the Cache "
            "(Cache(verify=True)) or pass none"
        )
    return cache
