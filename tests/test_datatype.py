"""detzip's data types behave as the stdlib dataclasses they replace (the oracle here).

For generated declarations — fields with or without defaults and factories, ``init``,
``compare`` and ``repr`` flags, frozen or not, with slots or not — the same class is made with
:func:`dataclasses.dataclass` and with :func:`detzip._datatype.datatype`, and both must
accept and refuse the same calls, hold the same values, compare, hash and print alike, and
``replace`` alike.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detzip import _datatype
from detzip._datatype import FrozenInstanceError, datatype, field, replace

NAMES = ["alpha", "beta", "gamma", "delta", "eps"]
VALUES = st.one_of(
    st.integers(-3, 3), st.text("ab", max_size=2), st.none(), st.tuples(st.integers(0, 2))
)


@st.composite
def declarations(draw: st.DrawFn) -> tuple[list[tuple[str, dict[str, Any]]], bool, bool]:
    """Fields (name, field() keywords) in an order dataclasses accepts, ``frozen``, ``slots``."""
    count = draw(st.integers(0, len(NAMES)))
    fields: list[tuple[str, dict[str, Any]]] = []
    defaulted = False
    for name in NAMES[:count]:
        options: dict[str, Any] = {}
        init = draw(st.booleans()) if defaulted else True
        kind = draw(st.sampled_from(["none", "default", "factory"]))
        if defaulted and init and kind == "none":
            kind = "default"  # a required parameter may not follow a defaulted one
        if not init and kind == "none":
            kind = "default"
        if kind == "default":
            options["default"] = draw(VALUES)
        elif kind == "factory":
            options["default_factory"] = draw(st.sampled_from([list, dict, tuple, int]))
        defaulted = defaulted or kind != "none"
        if not init:
            options["init"] = False
        if draw(st.booleans()):
            options["compare"] = False
        if draw(st.booleans()):
            options["repr"] = False
        fields.append((name, options))
    return fields, draw(st.booleans()), draw(st.booleans())


def _make_both(
    fields: list[tuple[str, dict[str, Any]]], frozen: bool, slots: bool
) -> tuple[type, type]:
    made = []
    for maker, make_field in (
        (lambda cls: dataclasses.dataclass(frozen=frozen, slots=slots)(cls), dataclasses.field),
        (lambda cls: datatype(frozen=frozen, slots=slots)(cls), field),
    ):
        namespace: dict[str, Any] = {
            "__module__": __name__,
            "__qualname__": "Point",
            "__annotations__": {name: "Any" for name, _ in fields},
        }
        for name, options in fields:
            namespace[name] = make_field(**options)
        made.append(maker(type("Point", (), namespace)))
    return made[0], made[1]


def _outcome(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return cls(*args, **kwargs)
    except TypeError:
        return TypeError


def _hashed(obj: Any) -> Any:
    try:
        return hash(obj)
    except TypeError:
        return TypeError


def _state(obj: Any, fields: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name, _ in fields}


@pytest.mark.slow
@given(declarations(), st.data())
def test_a_datatype_behaves_as_the_dataclass(
    declared: tuple[list[tuple[str, dict[str, Any]]], bool, bool], data: st.DataObject
) -> None:
    _behaves_as_the_dataclass(declared, data)


@pytest.mark.slow
@given(declarations(), st.data())
def test_a_datatype_with_a_compiled_init_behaves_as_the_dataclass(
    declared: tuple[list[tuple[str, dict[str, Any]]], bool, bool], data: st.DataObject
) -> None:
    """A type with many instances gets its own compiled ``__init__``: the same behaviour."""
    before = _datatype.COMPILE_AFTER
    _datatype.COMPILE_AFTER = 1  # compiled at the first instance
    try:
        _behaves_as_the_dataclass(declared, data, compiled=True)
    finally:
        _datatype.COMPILE_AFTER = before


def test_a_type_s_init_is_compiled_after_many_instances() -> None:
    @datatype
    class Many:
        name: str
        size: int = 0
        tags: list[str] = field(default_factory=list)

    first = Many("a")
    assert Many.__init__ is _datatype._init
    for index in range(_datatype.COMPILE_AFTER):
        Many("b", index)
    assert Many.__init__ is not _datatype._init
    later = Many("a")
    assert later == first and later.tags == [] and later.tags is not Many("c").tags
    with pytest.raises(TypeError):
        Many()  # type: ignore[call-arg]
    with pytest.raises(FrozenInstanceError):
        later.size = 2  # type: ignore[misc]


def _behaves_as_the_dataclass(
    declared: tuple[list[tuple[str, dict[str, Any]]], bool, bool],
    data: st.DataObject,
    compiled: bool = False,
) -> None:
    fields, frozen, slots = declared
    oracle, ours = _make_both(fields, frozen, slots)
    names = [name for name, _ in fields] + ["zeta"]  # zeta: no such field
    calls = []
    for _ in range(3):
        positional = tuple(data.draw(st.lists(VALUES, max_size=len(fields) + 1)))
        keywords = data.draw(st.dictionaries(st.sampled_from(names), VALUES, max_size=3))
        calls.append((positional, keywords))
    made = []
    for args, kwargs in calls:
        expected, got = _outcome(oracle, args, kwargs), _outcome(ours, args, kwargs)
        assert (expected is TypeError) == (got is TypeError), (args, kwargs)
        if expected is TypeError:
            continue
        assert _state(got, fields) == _state(expected, fields)
        assert repr(got) == repr(expected)
        assert hasattr(got, "__dict__") == hasattr(expected, "__dict__") == (not slots)
        made.append((expected, got))
        if compiled:
            assert type(got).__init__ is not _datatype._init
    for (expected_a, got_a), (expected_b, got_b) in itertools.pairwise(made):
        assert (got_a == got_b) == (expected_a == expected_b)
        assert (got_a != got_b) == (expected_a != expected_b)
    for expected, got in made:
        assert got == replace(got)
        if frozen:  # the hash of the compared fields (unhashable if one of them is)
            assert _hashed(got) == _hashed(expected) == _hashed(replace(got))
            with pytest.raises(FrozenInstanceError):
                got.alpha = 1
            # (3.11's frozen slotted dataclass fails with TypeError for a name that is no field)
            with pytest.raises((dataclasses.FrozenInstanceError, TypeError)):
                expected.alpha = 1
        else:
            assert type(got).__hash__ is None and type(expected).__hash__ is None
        assert got != expected  # another class: never equal
        changes = data.draw(st.dictionaries(st.sampled_from(names), VALUES, max_size=2))
        try:
            wanted: Any = dataclasses.replace(expected, **changes)
        except (TypeError, ValueError) as exc:
            wanted = type(exc)
        try:
            result: Any = replace(got, **changes)
        except (TypeError, ValueError) as exc:
            result = type(exc)
        if isinstance(wanted, type):
            assert result is wanted
        else:
            assert _state(result, fields) == _state(wanted, fields)


@datatype
class Spec:
    """A frozen data type with the features detzip's classes use."""

    name: str
    size: int = 0
    tags: dict[str, int] = field(default_factory=dict)
    derived: tuple[str, ...] = field(init=False, default=())
    ignored: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "derived", (self.name.upper(),))


def test_post_init_runs_on_construction_and_on_replace() -> None:
    spec = Spec("a", 2)
    assert spec.derived == ("A",)
    assert replace(spec, name="b").derived == ("B",)
    with pytest.raises(ValueError, match="derived"):
        replace(spec, derived=("x",))


def test_factories_give_each_instance_its_own_value() -> None:
    first, second = Spec("a"), Spec("a")
    first.tags["x"] = 1
    assert second.tags == {}


def test_compare_false_fields_do_not_count() -> None:
    assert Spec("a", ignored=("x",)) == Spec("a", ignored=("y",))


def test_cached_property_needs_no_slots() -> None:
    from detzip.deps.targets import Target

    target = Target("python3.12", "arm64")
    assert target.tags and "tags" in vars(target)  # (a cached_property keeps it there)
    assert not hasattr(Spec("a"), "__dict__")


def test_frozen_refuses_assignment_and_deletion() -> None:
    spec = Spec("a")
    with pytest.raises(AttributeError, match="frozen"):
        spec.name = "b"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del spec.name


def test_match_patterns_see_the_fields() -> None:
    match Spec("a", 3):
        case Spec("a", size=3):
            matched = True
        case _:
            matched = False
    assert matched


def test_declarations_dataclasses_refuse_are_refused() -> None:
    with pytest.raises(ValueError, match="mutable default"):

        @datatype
        class Shared:
            items: list[int] = []  # noqa: RUF012

    with pytest.raises(TypeError, match="follows a default"):

        @datatype
        class Order:
            first: int = 0
            second: int  # type: ignore[misc]

    with pytest.raises(TypeError, match="ClassVar"):

        @datatype
        class Counted:
            count: ClassVar[int] = 0

    with pytest.raises(TypeError, match="inherit"):

        @datatype
        class Child(Spec):
            more: int = 0

    with pytest.raises(ValueError, match="not both"):
        field(default=1, default_factory=int)

    with pytest.raises(ValueError, match="mutable default"):

        @datatype
        class Buffer:
            data: bytearray = bytearray()

    with pytest.raises(TypeError, match="needs a default"):

        @datatype
        class Unset:
            later: int = field(init=False)

    with pytest.raises(TypeError, match="makes __repr__"):

        @datatype
        class Shown:
            name: str

            def __repr__(self) -> str:
                return self.name


def test_a_plain_subclass_keeps_its_own_attributes_and_repr_survives_a_cycle() -> None:
    class Tagged(Spec):
        pass

    tagged = Tagged("a")
    tagged.note = "kept"  # type: ignore[attr-defined]
    assert tagged.note == "kept"  # type: ignore[attr-defined]
    with pytest.raises(FrozenInstanceError):
        tagged.name = "b"  # type: ignore[misc]

    @datatype(frozen=False)
    class Node:
        children: list[Any] = field(default_factory=list)

    node = Node()
    node.children.append(node)
    assert repr(node).endswith(".Node(children=[...])")


def test_code_written_for_dataclasses_works_on_detzips_types() -> None:
    """dataclasses.is_dataclass, fields, replace and asdict see detzip's public types as the
    dataclasses they were (the view is made on first use, by dataclasses itself)."""
    from detzip.deps.targets import Target
    from detzip.spec import ArtifactSpec
    from detzip.zip.options import ZipOptions

    spec = ArtifactSpec.create("function", source="src", output="out.zip")
    options = ZipOptions.create(level=9)
    target = Target("python3.12", "arm64")
    for value in (spec, options, target):
        assert dataclasses.is_dataclass(value) and dataclasses.is_dataclass(type(value))
        names = [f.name for f in vars(type(value))["__datatype_fields__"]]
        assert [f.name for f in dataclasses.fields(value)] == names
    assert dataclasses.replace(spec, name="api") == replace(spec, name="api")
    assert dataclasses.replace(options, level=3).level == 3
    assert dataclasses.asdict(target) == {"runtime": "python3.12", "arch": "arm64"}
    assert dataclasses.asdict(options)["level"] == 9


def test_defining_a_datatype_does_not_load_dataclasses() -> None:
    """The point of them: a cache hit's start-up does not load dataclasses (nor inspect)."""
    import subprocess

    code = (
        "import sys; from detzip._datatype import datatype\n"
        "@datatype\nclass P:\n    x: int\n"
        "assert P(1) == P(1) and hash(P(1)) == hash(P(1))\n"
        "print(sorted(m for m in ('dataclasses', 'inspect') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
