"""The Python API's front door: ``build_function`` and ``build_layer`` take exactly the option
table's options for their kind, by name, and end in the same spec as every other door."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from detzip import build_function, build_layer, builder
from detzip.artifact import Artifact
from detzip.cache.local import Cache
from detzip.optiontable import for_kind
from detzip.spec import ArtifactSpec

from .conftest import make_tree


@pytest.mark.parametrize(
    ("kind", "function"), [("function", build_function), ("layer", build_layer)]
)
def test_each_signature_is_the_option_table_for_its_kind(
    kind: str, function: Callable[..., Artifact]
) -> None:
    parameters = inspect.signature(function).parameters
    table = [opt for opt in for_kind(kind) if "python" in opt.doors]  # type: ignore[arg-type]
    assert set(parameters) == {opt.name for opt in table}
    # what the kind requires is positional, in that order; everything else is a keyword
    positional = [n for n, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert set(positional) == {opt.name for opt in table if kind in opt.required} | {
        "requirements" if kind == "layer" else "source"
    }
    for name, parameter in parameters.items():
        if name not in positional:
            assert parameter.kind is parameter.KEYWORD_ONLY, name
            assert parameter.default is None, name  # None: the table's default


def _spec_of(
    monkeypatch: pytest.MonkeyPatch, call: Callable[[], object]
) -> tuple[ArtifactSpec, Any]:
    seen: list[tuple[ArtifactSpec, Any]] = []

    def capture(spec: ArtifactSpec, cache: Any = None, **_: Any) -> Any:
        seen.append((spec, cache))
        return None

    monkeypatch.setattr(builder, "build", capture)
    call()
    [found] = seen
    return found


def test_every_dependency_option_reaches_a_function_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A function bundles its dependencies with the same options a layer takes (no round trip
    through another object)."""
    make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    values: dict[str, Any] = {
        "requirements": tmp_path / "requirements.txt",
        "format": "requirements",
        "groups": ["dev"],
        "extras": ["fast"],
        "package": "member",
        "include_project": True,
        "exclude_packages": ["boto3"],
        "index_url": "https://index.invalid/simple",
        "extra_index_urls": ["https://more.invalid/simple"],
        "find_links": [str(tmp_path / "wheels")],
        "no_index": True,
    }
    spec, _ = _spec_of(
        monkeypatch, lambda: build_function(tmp_path / "src", tmp_path / "out.zip", **values)
    )
    expected = ArtifactSpec.create(
        "function", {**values, "source": tmp_path / "src", "output": tmp_path / "out.zip"}
    )
    assert spec == expected
    deps = spec.dependencies()
    assert deps is not None
    assert deps.index_url == "https://index.invalid/simple" and deps.no_index
    assert "--index-url" in deps.pip_options and "--no-index" in deps.pip_options


def test_cache_takes_the_tables_value_a_switch_or_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    src, out = tmp_path / "src", tmp_path / "out.zip"
    spec, cache = _spec_of(monkeypatch, lambda: build_function(src, out, cache="off"))
    assert spec.cache.url == "off" and cache is None
    spec, cache = _spec_of(monkeypatch, lambda: build_function(src, out, cache=False))
    assert not spec.cache.enabled and cache is None
    spec, cache = _spec_of(monkeypatch, lambda: build_function(src, out, no_cache=True))
    assert not spec.cache.enabled
    shared = Cache(tmp_path / "c")
    spec, cache = _spec_of(monkeypatch, lambda: build_function(src, out, cache=shared))
    assert cache is shared and spec.cache.enabled
    spec, _ = _spec_of(monkeypatch, lambda: build_layer("uv.lock", out, cache_dir=tmp_path / "d"))
    assert spec.cache.dir == tmp_path / "d"
