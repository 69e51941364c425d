"""One artifact, fully described: :class:`ArtifactSpec`, what every front door parses into.

The command line, a Terraform query, a ``[tool.detzip]`` table and the Python API all end in
:meth:`ArtifactSpec.create`, which checks each value against the option table
(:mod:`detzip.optiontable`), fills in the table's defaults, and refuses options that do not
apply to the kind or that lack what they need. :func:`detzip.builder.build` takes it from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detzip import optiontable as table
from detzip._datatype import datatype
from detzip.cache.settings import CacheSettings
from detzip.errors import Setting
from detzip.limits import refuse_repeated_layers
from detzip.optiontable import Door, Kind
from detzip.optionvalues import OptionError, read_values

if TYPE_CHECKING:
    from detzip.deps.request import Dependencies
    from detzip.zip.options import ZipOptions

__all__ = ["CACHE_FIELDS", "ArtifactSpec", "MTime", "cache_fields"]

_DEPS = "dependencies"  # the option table's group of what a Dependencies request holds

MTime = str | int | float | datetime | None
"""A timestamp as the API takes it; the other front doors give strings."""


@datatype
class ArtifactSpec:
    """Everything that decides one artifact: what goes in, how it is written, where it goes.

    Make one with :meth:`create` (which applies the option table's defaults and checks); the
    fields are the options of :data:`detzip.optiontable.OPTIONS`, by name, with cache options
    gathered in ``cache``. Paths are as given (relative ones against the working directory).
    """

    kind: Kind
    output: Path
    source: Path | None
    extra_sources: tuple[table.SourceFolder, ...]
    requirements: Path | None
    exclude: tuple[str, ...]
    include: tuple[str, ...]
    default_excludes: bool
    ignore_file: bool
    allow_outside_links: bool
    from_git: str | None
    prefix: str
    format: str | None
    runtime: str
    arch: str
    groups: tuple[str, ...]
    extras: tuple[str, ...]
    package: str | None
    include_project: bool
    exclude_packages: tuple[str, ...]
    index_url: str | None
    extra_index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    no_index: bool
    compile: bool
    invalidation: str
    python: str | None
    mtime: MTime
    compressor: str
    level: int | None
    recompress: bool
    upload: str | None
    upload_to: str | None
    handler: str | None
    layers: tuple[Path, ...]
    external_layers: tuple[tuple[str, int], ...]
    name: str | None
    cache: CacheSettings

    @classmethod
    def create(
        cls,
        kind: str,
        values: Mapping[str, Any] | None = None,
        door: Door = "python",
        *,
        defaults: Mapping[str, Any] | None = None,
        **more: Any,
    ) -> ArtifactSpec:
        """The spec for ``kind`` from option values by name (``values`` and keywords), as
        ``door`` gives them: each is read by :func:`detzip.optionvalues.read_values`, then
        :meth:`from_values` checks and completes them.

        ``defaults`` are values a front door inherits (a project's top-level keys): they are
        used where ``values`` say nothing, and only if the option applies to the artifact.
        Raises :class:`~detzip.optionvalues.OptionError` for an unknown option, one that does
        not apply to the kind, a value of the wrong type or outside the choices, and a missing
        required option; its settings render in ``door``'s spelling.
        """
        checked = _kind(kind)
        given = read_values({**(values or {}), **more}, door, checked)
        inherited = read_values(defaults or {}, door, checked)
        return cls.from_values(checked, given, inherited, door)

    @classmethod
    def from_values(
        cls,
        kind: Kind,
        given: Mapping[str, Any],
        inherited: Mapping[str, Any] | None = None,
        door: Door = "python",
        *,
        cache: CacheSettings | None = None,
    ) -> ArtifactSpec:
        """The spec for ``kind`` from values already read (:mod:`detzip.optionvalues`): refuses
        an option that does not apply to the kind or lacks what it needs, and a missing
        required one; fills in ``inherited`` values where ``given`` says nothing, then the
        table's defaults (``door``'s own where it documents one). ``cache``: the spec's cache
        settings, whatever its cache options say (a project's artifacts share the project's
        cache)."""
        _kind(kind)
        inherited = inherited or {}
        for name in given:
            opt = table.BY_NAME[name]
            if kind not in opt.kinds:
                only = " and ".join(sorted(opt.kinds))
                raise OptionError(
                    f"{{0}} applies to a {only} only; remove it", settings=[Setting(name)]
                )
            bundles = "requirements" in given or "requirements" in inherited
            if opt.needs_requirements and kind == "function" and not bundles:
                raise OptionError(
                    "{0} applies to bundled dependencies; set {1} too, or remove it",
                    settings=[Setting(name), Setting("requirements")],
                )
        chosen = dict(_defaults(kind, door))  # (the other kind's options: their defaults)
        own = _OWN[kind]
        for values in (inherited, given):
            chosen.update((name, value) for name, value in values.items() if name in own)
        for name in _REQUIRED[kind]:
            if chosen[name] in (None, ""):
                opt = table.BY_NAME[name]
                raise OptionError(f"needs {{0}} ({opt.help})", settings=[Setting(opt.name)])
        refuse_repeated_layers(chosen.get("layers", ()), chosen.get("external_layers", ()))
        settings = CacheSettings(**cache_fields(chosen)) if cache is None else cache
        for name in CACHE_FIELDS:
            chosen.pop(name)
        return cls(kind=kind, cache=settings, **chosen)

    def check_inputs(self) -> None:
        """Refuse a source folder (its own or an extra one) or a requirements file that is not
        there: a project checks every artifact's before it builds any, so such an error leaves
        nothing half-built. (A function built from a commit is read from git: not checked.)"""
        from detzip.errors import DetzipError
        from detzip.inputs.tree import check_source

        if self.source is not None and self.from_git is None:
            check_source(Path(self.source))
            for extra, *_ in self.extra_sources:
                check_source(Path(extra))
        if self.requirements is not None and not Path(self.requirements).is_file():
            raise DetzipError(
                "no such lock or requirements file; check the path",
                self.requirements,
                settings=[Setting("requirements")],
            )

    @property
    def artifact_name(self) -> str:
        """The name in caches: ``name``, else the output's file name without ``.zip``."""
        if self.name:
            return self.name
        return self.output.stem if self.output.suffix == ".zip" else self.output.name

    def zip_options(self) -> ZipOptions:
        """The zip format options (``mtime``, ``compressor``, ``level``, ``recompress``),
        checked; no ``mtime`` means 1980-01-01 (``source-date-epoch``: ``$SOURCE_DATE_EPOCH``)."""
        from detzip.zip.options import ZipOptions

        return ZipOptions.create(
            mtime=self.mtime,
            compressor=self.compressor,
            level=self.level,
            recompress=self.recompress,
        )

    def dependencies(self) -> Dependencies | None:
        """What to install: a layer's packages, or the ones a function bundles (None: none).

        A layer's ``exclude``/``default_excludes`` apply to its installed files; a function's
        apply to its source tree, and its bundled packages get the layer defaults.
        """
        if self.requirements is None:
            return None
        from detzip.deps.request import Dependencies

        layer = self.kind == "layer"
        return Dependencies(
            **{opt.name: getattr(self, opt.name) for opt in table.OPTIONS if opt.group == _DEPS},
            exclude=self.exclude if layer else (),
            default_excludes=self.default_excludes if layer else True,
            cache_dir=self.cache.dir,
        )


#: the cache options, and the :class:`~detzip.cache.settings.CacheSettings` field each one sets
CACHE_FIELDS = {
    "cache": "url",
    "cache_dir": "dir",
    "require_cache": "require",
    "no_cache": "enabled",
    "cache_write": "write",
    "verify": "verify",
}


def cache_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The cache options among ``values`` as
    :class:`~detzip.cache.settings.CacheSettings` fields."""
    fields_ = {}
    for name, field_name in CACHE_FIELDS.items():
        if name in values:
            value = values[name]
            if name == "no_cache":
                value = not value
            fields_[field_name] = value
    return fields_


def _kind(kind: str) -> Kind:
    if kind not in table.KINDS:
        raise OptionError(f"kind must be {' or '.join(table.KINDS)}, not {kind!r}", settings=[])
    return kind


def _defaults(kind: Kind, door: Door) -> dict[str, Any]:
    """Every artifact option's value when nothing is given for a ``kind`` at ``door``: the
    table's default (``door``'s own where it documents one; the other kind's options keep
    the plain default), in the table's order. Worked out once per kind and door."""
    found = _DEFAULTS.get((kind, door))
    if found is None:
        found = _DEFAULTS[(kind, door)] = {
            opt.name: _default(opt, kind, door) if kind in opt.kinds else opt.default
            for opt in table.OPTIONS
            if opt.kinds  # (not an artifact's option: where a project is)
        }
    return found


_DEFAULTS: dict[tuple[Kind, Door], dict[str, Any]] = {}
#: the options of a kind
_OWN: dict[str, frozenset[str]] = {
    kind: frozenset(opt.name for opt in table.OPTIONS if kind in opt.kinds) for kind in table.KINDS
}
#: the options a kind requires, in the table's order
_REQUIRED: dict[str, tuple[str, ...]] = {
    kind: tuple(opt.name for opt in table.OPTIONS if opt.kinds and kind in opt.required)
    for kind in table.KINDS
}


def _default(opt: table.Option, kind: Kind, door: Door) -> Any:
    value = opt.default_for(kind, door)
    if opt.type == "path" and value is not None:
        return Path(value)
    return tuple(value) if isinstance(value, list) else value
