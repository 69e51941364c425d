"""The front doors agree (the command line, Terraform, [tool.detzip] and the Python API): the
same options give the same spec, and the same over-limit artifact the same verdict and exit
code, with the fix in each door's words (how each door spells a setting: test_optiontable)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detzip import cli, optiontable, project, terraform
from detzip._datatype import replace
from detzip.cache.settings import CacheSettings
from detzip.optiontable import Option
from detzip.spec import ArtifactSpec

from .conftest import make_tree
from .wheelfactory import Repo

ROOT = Path("/srv/app")  # absolute paths resolve the same at every door
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_*/.", min_size=1, max_size=8).filter(
    lambda s: not s.startswith(("-", "/")) and s.strip() == s
)
FRONT_DOOR_ONLY = {"output", "name", "cache", "cache_dir", "require_cache", "no_cache", "layers",
                   "cache_write", "verify"}  # fmt: skip


def _value(opt: Option) -> st.SearchStrategy[Any]:
    if opt.choices:
        return st.sampled_from(opt.choices)
    if opt.type == "bool":
        return st.booleans()
    if opt.type == "int":
        return st.integers(1, 9)
    if opt.name == "find_links":  # folders: absolute, so every door resolves them alike
        return st.lists(WORDS.map(lambda word: str(ROOT / word)), max_size=2).map(tuple)
    if opt.type == "list":
        return st.lists(WORDS, max_size=3).map(tuple)
    if opt.type == "path":
        return WORDS.map(lambda word: str(ROOT / word))
    if opt.type == "sources":  # PATH or PATH=PREFIX (checked as it is read: a valid one)
        prefix = st.from_regex(r"[a-z_]{1,6}(/[a-z_]{1,6})?", fullmatch=True)
        folder = st.tuples(WORDS, st.one_of(st.none(), prefix)).map(
            lambda pair: str(ROOT / pair[0]) + ("" if pair[1] is None else f"={pair[1]}")
        )
        return st.lists(folder, max_size=2).map(tuple)
    if opt.name == "mtime":
        return st.sampled_from(["1700000000", "2024-01-31T12:00:00Z"])
    if opt.name == "index_url":
        return st.just("https://index.invalid/simple")
    if opt.type == "layers":  # (arn, unzipped_size) pairs
        arns = st.integers(1, 99).map(
            lambda v: f"arn:aws:lambda:us-east-1:123456789012:layer:x:{v}"
        )
        return st.lists(
            st.tuples(arns, st.integers(0, 10**9)), max_size=2, unique_by=lambda p: p[0]
        ).map(tuple)
    return WORDS  # prefix


@st.composite
def option_sets(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(optiontable.KINDS))
    values: dict[str, Any] = {"upload": draw(st.sampled_from(optiontable.UPLOADS))}
    bundles = kind == "layer" or draw(st.booleans())
    for opt in optiontable.for_kind(kind):
        if opt.name in FRONT_DOOR_ONLY or opt.name == "upload":
            continue
        if opt.needs_requirements and not bundles:
            continue
        required = kind in opt.required or (opt.name == "requirements" and bundles)
        if required or draw(st.booleans()):
            values[opt.name] = draw(_value(opt))
    return kind, values


def _cli_argv(kind: str, values: dict[str, Any], out: Path) -> list[str]:
    argv = [kind, "-o", str(out), "--name", out.stem]
    for name, value in values.items():
        opt = optiontable.option(name)
        if name == "source":
            argv.append(value)
        elif opt.type == "bool":
            if value != opt.default:
                argv.append(opt.cli or "")
        elif opt.type == "layers":
            argv += [f"{opt.cli}={arn}={size}" for arn, size in value]
        elif isinstance(value, tuple):
            for item in value:
                argv += [f"{opt.cli}={item}"]
        else:
            argv.append(f"{opt.cli}={value}")
    return argv


def _terraform_query(kind: str, values: dict[str, Any], out: Path) -> dict[str, str]:
    query = {"kind": kind, "output": str(out), "name": out.stem}
    for name, value in values.items():
        key = optiontable.option(name).terraform
        assert key is not None
        if isinstance(value, bool):
            query[key] = "true" if value else "false"
        elif optiontable.option(name).type == "layers":  # jsonencode([...])
            query[key] = json.dumps([{"arn": a, "unzipped_size": s} for a, s in value])
        elif isinstance(value, tuple):
            query[key] = "\n".join(value)
        else:
            query[key] = str(value)
    return query


def _toml(kind: str, values: dict[str, Any], folder: Path, name: str) -> Path:
    lines = ["[tool.detzip]", f"output_dir = {json.dumps(str(folder / 'out'))}", ""]
    lines.append(f"[tool.detzip.{'layers' if kind == 'layer' else 'functions'}.{name}]")
    for option_name, value in values.items():
        key = optiontable.option(option_name).toml
        assert key is not None
        literal = json.dumps(list(value) if isinstance(value, tuple) else value)
        if optiontable.option(option_name).type == "layers":  # inline tables
            literal = (
                "["
                + ", ".join(f'{{arn = "{arn}", unzipped_size = {size}}}' for arn, size in value)
                + "]"
            )
        lines.append(f"{key} = {literal}")
    path = folder / "pyproject.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def _through_the_api(kind: str, values: dict[str, Any]) -> ArtifactSpec:
    """The spec ``build_function``/``build_layer`` hands to the builder for ``values``."""
    from detzip import api, builder

    seen: list[ArtifactSpec] = []
    real = builder.build
    builder.build = lambda spec, *args, **kw: seen.append(spec)  # type: ignore[assignment]
    try:
        given = dict(values)
        first = given.pop("source" if kind == "function" else "requirements")
        door = api.build_function if kind == "function" else api.build_layer
        door(first, given.pop("output"), **given)
    finally:
        builder.build = real
    [spec] = seen
    return spec


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(option_sets())
def test_cli_terraform_and_project_give_the_same_spec(
    tmp_path: Path, generated: tuple[str, dict[str, Any]]
) -> None:
    kind, values = generated
    out = tmp_path / "out" / "thing.zip"
    from_cli = cli.parse_spec(_cli_argv(kind, values, out))
    from_terraform = terraform.spec_from_query(_terraform_query(kind, values, out))
    config = _toml(kind, values, tmp_path, "thing")
    from_project = project.load(config).artifacts["thing"].spec
    from_api = _through_the_api(kind, {**values, "output": out, "name": "thing"})
    assert from_cli == from_terraform == from_api
    # a project's cache is the project's (one for every artifact), not each artifact's
    assert replace(from_cli, cache=CacheSettings()) == from_project


# -- the same over-limit artifact: the same verdict and exit code through each door --------------


def _main(argv: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return cli.main(argv)


@pytest.fixture
def service(tmp_path: Path, repo: Repo) -> Path:
    """A function over 1,000 bytes zipped (stored) that uses a layer built from local wheels."""
    make_tree(tmp_path / "fn", {"app.py": "def handler(e, c):\n    return 1\n" + "#" * 3000})
    repo.write("uv", tmp_path)
    (tmp_path / "detzip.toml").write_text(
        f'output_dir = "dist"\ncompressor = "store"\nupload = "direct"\n'
        f'find_links = ["{repo.folder}"]\nno_index = true\n'
        '[layers.lib]\nrequirements = "uv.lock"\nexclude_packages = ["native"]\n'
        '[functions.fn]\nsource = "fn"\nlayers = ["lib"]\n'
    )
    return tmp_path


def test_a_zip_over_the_direct_upload_size_fails_at_every_door(
    service: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from detzip import limits

    monkeypatch.setenv("DETZIP_CACHE", "off")
    assert _main(["build", "--config", str(service), "lib"], monkeypatch) == 0
    monkeypatch.setattr(limits, "DIRECT_UPLOAD_LIMIT", 1000)
    src, out = str(service / "fn"), str(service / "cli.zip")
    flags = ["--compressor", "store"]
    codes = {
        "cli": _main(["function", src, "-o", out, "--upload", "direct", *flags], monkeypatch),
        "terraform kind": _main(
            ["terraform"],
            monkeypatch,
            json.dumps({"kind": "function", "source": src, "output": out, "compressor": "store"}),
        ),
        "build": _main(["build", "--config", str(service), "fn"], monkeypatch),
    }
    stderr = capsys.readouterr().err
    assert set(codes.values()) == {1}, codes
    assert "(--upload s3)" in stderr and '(upload = "s3")' in stderr
    assert not Path(out).exists()
    # Terraform's artifact form: the declared function, direct by default there
    (service / "detzip.toml").write_text(
        (service / "detzip.toml").read_text().replace('upload = "direct"\n', "")
    )
    query = json.dumps({"config": str(service), "artifact": "fn"})
    assert _main(["terraform"], monkeypatch, query) == 1
    assert '(upload = "s3")' in capsys.readouterr().err
    # without upload, the CLI and detzip build only warn
    assert _main(["function", src, "-o", out, *flags], monkeypatch) == 0
    assert _main(["build", "--config", str(service), "fn"], monkeypatch) == 0


def test_a_function_over_the_limit_with_its_layers_fails_at_every_door(
    service: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from detzip import limits

    monkeypatch.setenv("DETZIP_CACHE", "off")
    assert _main(["build", "--config", str(service), "--json"], monkeypatch) == 0
    built = {a["name"]: a for a in json.loads(capsys.readouterr().out)["artifacts"]}
    fn, lib = built["fn"], built["lib"]
    monkeypatch.setattr(limits, "UNZIPPED_LIMIT", fn["unzipped_size"] + lib["unzipped_size"] - 1)
    layer = str(service / "dist" / "lib.zip")
    src, out = str(service / "fn"), str(service / "cli.zip")
    codes = {
        "cli": _main(["function", src, "-o", out, "--layer", layer], monkeypatch),
        "terraform kind": _main(
            ["terraform"],
            monkeypatch,
            json.dumps({"kind": "function", "source": src, "output": out, "layers": layer}),
        ),
        "terraform artifact": _main(
            ["terraform"], monkeypatch, json.dumps({"config": str(service), "artifact": "fn"})
        ),
        "build": _main(["build", "--config", str(service), "fn"], monkeypatch),
    }
    assert set(codes.values()) == {1}, codes
    errors = [line for line in capsys.readouterr().err.splitlines() if "its layers unzip" in line]
    assert len(errors) == 4, errors
