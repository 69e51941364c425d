"""Data types: classes of named fields with an ``__init__``, equality, a repr, a hash when frozen,
and :func:`replace` — the part of :mod:`dataclasses` detzip uses, without its start-up cost.

``dataclasses`` compiles each class's methods from source text when the class is defined (six
``exec`` calls for a frozen class) and imports :mod:`inspect` (with ast, dis and tokenize): on
this project's 13 classes a cache hit defines, that was 11 ms plus ~6 ms of a 75 ms run, paid
by every run before any work. A data type's methods are the shared functions below, which read
the class's field list; defining one costs a few microseconds. mypy checks data types as it
checks dataclasses (:pep:`681`, ``dataclass_transform``).

What a data type supports is what dataclasses does for the same declarations: fields in
annotation order, defaults, ``field(default_factory=…)``, ``field(init=False)``,
``field(compare=False)``, ``field(repr=False)``, ``__post_init__``, frozen instances (the
default; assigning raises :class:`FrozenInstanceError`, an ``AttributeError``) and their hash.
Refused when declared: inheritance between data types, ``ClassVar`` fields, a class defining a
method a data type makes, a default a factory should make. Code written for dataclasses keeps
working: :func:`dataclasses.fields`, ``replace`` and ``asdict`` see a data type as the
dataclass it declares (dataclasses itself describes it, on first use).

The price is per instance: a shared ``__init__`` takes a few µs more than a compiled one. So
a type's :data:`COMPILE_AFTER`-th instance compiles its own (one ``exec``, as dataclasses
would): a tree of 200,000 files or a layer of 70,000 members makes its entries at a compiled
``__init__``'s cost (Entry.file: 8 µs → 2.7 µs), a cache hit pays nothing.
"""

from __future__ import annotations

import itertools
import operator
import reprlib
from typing import TYPE_CHECKING, Any, TypeVar, dataclass_transform

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

__all__ = ["FrozenInstanceError", "datatype", "field", "replace"]


class FrozenInstanceError(AttributeError):
    """A field of a frozen data type was assigned or deleted."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


_MISSING: Any = _Missing()


class Field:
    """How one field is made: its default (or a factory for one), and whether it is an
    ``__init__`` parameter, compared (and hashed) and shown in the repr."""

    __slots__ = ("compare", "default", "default_factory", "init", "name", "repr")

    def __init__(
        self,
        default: Any = _MISSING,
        default_factory: Callable[[], Any] | None = None,
        init: bool = True,
        compare: bool = True,
        repr: bool = True,
    ) -> None:
        if default is not _MISSING and default_factory is not None:
            raise ValueError("give a default or a default_factory, not both")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.compare = compare
        self.repr = repr

    @property
    def required(self) -> bool:
        """Whether ``__init__`` must be given it (it has no default)."""
        return self.default is _MISSING and self.default_factory is None


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    init: bool = True,
    compare: bool = True,
    repr: bool = True,
) -> Any:
    """A field with a default (or ``default_factory``), left out of ``__init__``
    (``init=False``: it takes its default), of comparison and hash, or of the repr."""
    return Field(default, default_factory, init, compare, repr)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def datatype(cls: type[T] | None = None, /, *, frozen: bool = True, slots: bool = True) -> Any:
    """Make ``cls`` a data type of its annotated fields: frozen unless ``frozen=False``, its
    instances without a ``__dict__`` (``__slots__``) unless ``slots=False`` (e.g. for a
    :func:`functools.cached_property`)."""

    def make(cls: type[T]) -> type[T]:
        return _make(cls, frozen, slots)

    return make if cls is None else make(cls)


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the data type ``obj`` with ``changes`` (by field name), made by its ``__init__``
    (so ``__post_init__`` runs again, and ``init=False`` fields take their default)."""
    fields: tuple[Field, ...] | None = getattr(type(obj), "__datatype_fields__", None)
    if fields is None:
        raise TypeError(f"replace() takes a data type, not {type(obj).__name__}")
    for spec in fields:
        if not spec.init:
            if spec.name in changes:
                raise ValueError(f"field {spec.name!r} is not an __init__ parameter")
        elif spec.name not in changes:
            changes[spec.name] = getattr(obj, spec.name)
    return type(obj)(**changes)


#: what a data type defines; a class defining one itself is refused (not silently overridden)
_MADE = ("__init__", "__repr__", "__eq__", "__hash__", "__match_args__", "__setattr__",
         "__delattr__", "__dataclass_fields__")  # fmt: skip


def _make(cls: type[T], frozen: bool, slots: bool) -> type[T]:
    for base in cls.__mro__[1:-1]:
        if "__datatype_fields__" in base.__dict__:
            raise TypeError(f"{cls.__name__}: a data type cannot inherit from a data type")
    own = [name for name in _MADE if name in cls.__dict__]
    if own:
        raise TypeError(f"{cls.__name__}: a data type makes {', '.join(own)} itself")
    fields: list[Field] = []
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 (inspect: 3 ms)
    for name, annotation in annotations.items():
        if "ClassVar" in str(annotation):
            raise TypeError(f"{cls.__name__}.{name}: ClassVar is not supported in a data type")
        value = cls.__dict__.get(name, _MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        spec.name = name
        if spec.default is not _MISSING and type(spec.default).__hash__ is None:
            raise ValueError(
                f"{cls.__name__}.{name}: a mutable default would be shared; use default_factory"
            )
        if not spec.init and spec.required:
            raise TypeError(f"{cls.__name__}.{name}: a field left out of __init__ needs a default")
        if isinstance(value, Field):  # the class attribute is the default, as in dataclasses
            if spec.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
        fields.append(spec)
    params = [spec for spec in fields if spec.init]
    for before, after in itertools.pairwise(params):
        if after.required and not before.required:
            raise TypeError(f"{cls.__name__}: non-default field {after.name!r} follows a default")
    if slots:  # a new class, as dataclasses makes: __slots__ only work from the start
        namespace = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
        for spec in fields:
            namespace.pop(spec.name, None)  # (a default would clash with its slot)
        namespace["__slots__"] = tuple(spec.name for spec in fields)
        metaclass: Any = type(cls)
        qualname = cls.__qualname__
        cls = metaclass(cls.__name__, cls.__bases__, namespace)
        cls.__qualname__ = qualname
    compared = [spec.name for spec in fields if spec.compare]
    attributes: dict[str, Any] = {
        "__datatype_fields__": tuple(fields),
        "__datatype_owner__": cls,
        "__datatype_names__": frozenset(spec.name for spec in fields),
        "__datatype_params__": tuple(spec.name for spec in params),
        "__datatype_accepts__": frozenset(spec.name for spec in params),
        "__datatype_optional__": tuple(spec for spec in params if not spec.required),
        "__datatype_rest__": tuple(spec for spec in fields if not spec.init),
        "__datatype_post_init__": hasattr(cls, "__post_init__"),
        "__datatype_slots__": slots,
        "__datatype_values__": staticmethod(_getter(compared)),
        "__match_args__": tuple(spec.name for spec in params),
        "__init__": _init,
        "__repr__": _repr,
        "__eq__": _eq,
        "__hash__": _hash if frozen else None,
        "__dataclass_fields__": _DataclassView(),
    }
    if frozen:
        attributes["__setattr__"] = _frozen_setattr
        attributes["__delattr__"] = _frozen_delattr
    for name, value in attributes.items():
        setattr(cls, name, value)
    return cls


def _getter(names: list[str]) -> Callable[[object], tuple[Any, ...]]:
    """The compared fields' values of an instance, as a tuple (attrgetter: in C)."""
    if len(names) > 1:
        get: Callable[[object], tuple[Any, ...]] = operator.attrgetter(*names)
        return get
    if names:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


_set = object.__setattr__


#: instances a data type's shared ``__init__`` makes before the type gets a compiled one
COMPILE_AFTER = 256


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    owner = self.__datatype_owner__
    made = owner.__dict__.get("__datatype_made__", 0) + 1
    type.__setattr__(owner, "__datatype_made__", made)
    if made >= COMPILE_AFTER and owner.__init__ is _init:
        type.__setattr__(owner, "__init__", _compiled_init(owner))
    params: tuple[str, ...] = self.__datatype_params__
    if len(args) > len(params):
        raise TypeError(
            f"{type(self).__name__}() takes {len(params)} positional arguments "
            f"but {len(args)} were given"
        )
    values = dict(zip(params, args, strict=False))
    if kwargs:
        accepts: frozenset[str] = self.__datatype_accepts__
        for name in kwargs:
            if name in values:
                raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
            if name not in accepts:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword {name!r}")
        values.update(kwargs)
    if len(values) < len(params):
        spec: Field
        for spec in self.__datatype_optional__:
            if spec.name not in values:
                factory = spec.default_factory
                values[spec.name] = spec.default if factory is None else factory()
        if len(values) < len(params):
            missing = [name for name in params if name not in values]
            raise TypeError(f"{type(self).__name__}() missing required argument {missing[0]!r}")
    for spec in self.__datatype_rest__:  # left out of __init__: always their default
        factory = spec.default_factory
        values[spec.name] = spec.default if factory is None else factory()
    if self.__datatype_slots__:
        for name, value in values.items():
            _set(self, name, value)
    else:
        self.__dict__.update(values)
    if self.__datatype_post_init__:
        self.__post_init__()


def _compiled_init(owner: Any) -> Callable[..., None]:
    """``owner``'s own ``__init__``, compiled as dataclasses compiles one (one ``exec``): what
    the shared one does, without its per-call work. Made only for a type with many instances
    (a tree's or a wheel's entries), so that a run making few pays nothing for it."""
    fields: tuple[Field, ...] = owner.__datatype_fields__
    scope: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": _MISSING}
    params: list[str] = []
    body: list[str] = []
    for index, spec in enumerate(fields):
        if spec.default is not _MISSING:
            scope[f"_default{index}"] = spec.default
        if spec.default_factory is not None:
            scope[f"_factory{index}"] = spec.default_factory
        if spec.init:
            if spec.required:
                params.append(spec.name)
            elif spec.default_factory is not None:
                params.append(f"{spec.name}=_MISSING")
                body.append(f"if {spec.name} is _MISSING: {spec.name} = _factory{index}()")
            else:
                params.append(f"{spec.name}=_default{index}")
            body.append(f"_set(self, {spec.name!r}, {spec.name})")
        elif spec.default_factory is not None:
            body.append(f"_set(self, {spec.name!r}, _factory{index}())")
        else:
            body.append(f"_set(self, {spec.name!r}, _default{index})")
    if owner.__datatype_post_init__:
        body.append("self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n    " + "\n    ".join(body or ["pass"])
    exec(source, scope)  # (our own text, made of the class's field names)
    made: Callable[..., None] = scope["__init__"]
    made.__qualname__ = f"{owner.__qualname__}.__init__"
    return made


def _eq(self: Any, other: object) -> Any:  # a bool, or NotImplemented for another type
    values = self.__datatype_values__  # (a staticmethod: the same for both)
    if other.__class__ is not self.__class__:
        return NotImplemented
    return values(self) == values(other)


def _hash(self: Any) -> int:
    return hash(self.__datatype_values__(self))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    fields: tuple[Field, ...] = self.__datatype_fields__
    shown = ", ".join(f"{spec.name}={getattr(self, spec.name)!r}" for spec in fields if spec.repr)
    return f"{type(self).__qualname__}({shown})"


def _frozen_setattr(self: Any, name: str, value: object) -> None:
    if type(self) is not self.__datatype_owner__ and name not in self.__datatype_names__:
        object.__setattr__(self, name, value)  # a plain subclass's own attribute
        return
    raise FrozenInstanceError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def _frozen_delattr(self: Any, name: str) -> None:
    if type(self) is not self.__datatype_owner__ and name not in self.__datatype_names__:
        object.__delattr__(self, name)
        return
    raise FrozenInstanceError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")


class _DataclassView:
    """A data type's ``__dataclass_fields__``: what :mod:`dataclasses` reads to treat a class
    as a dataclass (``is_dataclass``, ``fields``, ``replace``, ``asdict``), made by dataclasses
    itself on first use. Code written for dataclasses keeps working on detzip's types, and a
    run that never asks never imports dataclasses."""

    def __get__(self, obj: object, owner: type) -> dict[str, Any]:
        import dataclasses

        shadow = dataclasses.make_dataclass(
            owner.__name__,
            [
                (
                    spec.name,
                    owner.__annotations__[spec.name],
                    dataclasses.field(
                        init=spec.init,
                        repr=spec.repr,
                        compare=spec.compare,
                        **(
                            {"default_factory": spec.default_factory}
                            if spec.default_factory is not None
                            else {}
                            if spec.required
                            else {"default": spec.default}
                        ),
                    ),
                )
                for spec in owner.__datatype_fields__  # type: ignore[attr-defined]
            ],
        )
        found: dict[str, Any] = shadow.__dataclass_fields__  # type: ignore[attr-defined]
        type.__setattr__(owner, "__dataclass_fields__", found)  # made once per class
        return found
