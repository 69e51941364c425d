"""Fleets: the one-shot Terraform query (``artifacts``), a project read only as far as a query
needs, and shards of a project's artifacts by name."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detzip import project
from detzip.errors import DetzipError

from .conftest import assert_one_line_error, make_tree, run_cli
from .test_project import service
from .test_terraform import external
from .wheelfactory import Repo

#: the service of test_project, with a second layer only ``worker`` uses and a function with
#: no layer and a handler
FLEET = """
output_dir = "dist"
find_links = ["{wheels}"]
no_index = true

[layers.deps]
requirements = "uv.lock"
exclude_packages = ["native"]

[layers.tools]
requirements = "uv.lock"
exclude_packages = ["native", "beta"]

[functions.api]
source = "functions/api"
exclude = ["*.md"]
layers = ["deps"]

[functions.worker]
source = "functions/worker"
layers = ["deps", "tools"]

[functions.plain]
source = "functions/plain"
handler = "app.handler"
"""
NAMES = {"deps", "tools", "api", "worker", "plain"}


def fleet(root: Path, repo: Repo) -> Path:
    service(root, repo, FLEET.format(wheels=repo.folder), standalone=True)
    make_tree(root / "functions" / "plain", {"app.py": "def handler(e, c):\n    return 3\n"})
    return root


def _flat(results: dict[str, dict[str, str]]) -> dict[str, str]:
    return {f"{name}.{key}": value for name, got in results.items() for key, value in got.items()}


def _without_cache(flat: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in flat.items() if not key.endswith(".cache")}


def _query(root: Path, env: dict[str, str], **keys: str) -> dict[str, str]:
    outcome = external({"config": "..", **keys}, root / "stack", env)
    assert outcome.result is not None, outcome.error
    return outcome.result


@pytest.mark.slow
def test_the_one_shot_query_is_the_per_artifact_queries_flat(repo: Repo, tmp_path: Path) -> None:
    root = fleet(tmp_path / "svc", repo)
    (root / "stack").mkdir()
    env = {"DETZIP_CACHE_DIR": str(tmp_path / "cache")}
    each = {name: _query(root, env, artifact=name) for name in sorted(NAMES)}
    assert each["worker"]["layers"] == "deps\ntools" and each["plain"]["layers"] == ""
    everything = _query(root, env, artifacts="*")
    # the same keys with the same strings: every artifact's result under NAME.KEY
    assert _without_cache(everything) == _without_cache(_flat(each))
    assert {key.split(".")[0] for key in everything} == NAMES
    assert {key for key in everything if key.startswith("plain.")} == {
        f"plain.{key}" for key in each["plain"]
    } and everything["plain.handler"] == "app.handler"
    assert all(everything[f"{name}.cache"] == "hit" for name in NAMES)
    for name in NAMES:  # the paths are the zips, relative to where Terraform runs
        zipped = (root / "stack" / everything[f"{name}.path"]).read_bytes()
        assert everything[f"{name}.sha256"] == hashlib.sha256(zipped).hexdigest()
        assert everything[f"{name}.path"] == f"../dist/{name}.zip"

    # a list of names, one per line: those and the layers they use, nothing else
    some = _query(root, env, artifacts="worker\n\n  api \nworker\n")
    assert {key.split(".")[0] for key in some} == {"worker", "api", "deps", "tools"}
    assert some == {key: value for key, value in everything.items() if key in some}
    layer = _query(root, env, artifacts="tools")
    assert {key.split(".")[0] for key in layer} == {"tools"}
    assert "tools.layers" not in layer and "tools.handler" not in layer

    # the cache keys are taken as in the per-artifact form
    off = _query(root, env, artifacts="api", cache="off")
    assert off["api.cache"] == "miss" and off["deps.cache"] == "miss"
    assert _without_cache(off) == _without_cache(
        {key: value for key, value in everything.items() if key.split(".")[0] in {"api", "deps"}}
    )
    elsewhere = _query(root, env, artifacts="plain", cache_dir=str(tmp_path / "other"))
    assert elsewhere["plain.cache"] == "miss"
    assert elsewhere["plain.key"] == everything["plain.key"]


def test_a_function_over_the_limits_fails_the_one_shot_query(tmp_path: Path) -> None:
    """Six layers are over Lambda's five: the whole query fails (exit 1), as the function's
    own query would, and stdout stays empty."""
    layers = "".join(f'[layers.l{i}]\nrequirements = "r.txt"\n\n' for i in range(6))  # empty
    names = ", ".join(f'"l{i}"' for i in range(6))
    make_tree(tmp_path, {"fn/app.py": "x = 1\n", "r.txt": ""})
    (tmp_path / "detzip.toml").write_text(
        f'[functions.f]\nsource = "fn"\nlayers = [{names}]\n\n{layers}'
    )
    one = external({"config": ".", "artifact": "f"}, tmp_path)
    many = external({"config": ".", "artifacts": "f"}, tmp_path)
    assert one.returncode == many.returncode == 1, (one.error, many.error)
    assert many.stdout == "" and many.error is not None and "uses 6 layers" in many.error


def _terraform(query: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("terraform", input=json.dumps(query), cwd=cwd)


SMALL = """
[functions.api]
source = "a"

[functions.worker]
source = "w"
"""


@pytest.mark.parametrize(
    ("query", "needles"),
    [
        (
            {"artifacts": "api\nnope\nzilch"},
            ("no artifact named nope, zilch", "declared: api, worker"),
        ),
        ({"artifacts": "nope"}, ("no artifact named nope; declared: api, worker",)),
        ({"artifact": "nope"}, ("no artifact named nope; declared: api, worker",)),
        ({"artifacts": "*", "artifact": "api"}, ("both 'artifact'", "'artifacts'")),
        ({"artifacts": "", "artifact": "api"}, ("both 'artifact'",)),
        ({"artifacts": " \n "}, ("'artifacts' is empty",)),
        ({"artifacts": "*\napi"}, ("* (all) or names",)),
        (
            {"artifacts": "api, worker"},
            ("'api, worker'", "one name per line", 'join("\\n", names)'),
        ),
        ({"artifacts": "api\tworker"}, ("one name per line",)),
        ({"artifact": "api\nworker"}, ("'artifact' is one name", "ask for 'artifacts'")),
        ({"artifact": "api, worker"}, ("'artifact' is one name",)),
        ({"artifacts": "*,api"}, ("one name per line",)),
        ({"artifacts": "*", "source": "a"}, ("with 'artifacts'", "remove source")),
        ({"artifacts": "*", "cache": "maybe"}, ("cache",)),
    ],
)
def test_bad_one_shot_queries_are_one_line(
    tmp_path: Path, query: dict[str, str], needles: tuple[str, ...]
) -> None:
    make_tree(tmp_path, {"a/app.py": "x = 1\n", "w/app.py": "x = 2\n"})
    (tmp_path / "detzip.toml").write_text(SMALL)
    result = _terraform({"config": ".", **query}, tmp_path)
    assert_one_line_error(result, *needles)
    assert not (tmp_path / ".build").exists()


# -- a project read only as far as the query needs ------------------------------------------------


def _many(root: Path, count: int, *, broken: str | None = None) -> Path:
    lines = ['output_dir = "out"', "", "[layers.shared]", 'requirements = "r.txt"', ""]
    for i in range(count):
        lines += [f"[functions.fn{i:03d}]", f'source = "src/fn{i:03d}"', 'layers = ["shared"]', ""]
    if broken is not None:
        lines += ["[functions.broken]", broken, ""]
    root.mkdir(parents=True, exist_ok=True)
    (root / "detzip.toml").write_text("\n".join(lines))
    return root


@pytest.mark.parametrize(
    "broken",
    ['source = "src/x"\nsorce = "typo"', 'source = "src/x"\nlevel = "high"',
     'source = "src/x"\nlayers = ["missing"]', 'layers = "shared"'],
)  # fmt: skip
def test_only_the_named_tables_are_read(tmp_path: Path, broken: str) -> None:
    root = _many(tmp_path, 3, broken=broken)
    with pytest.raises(DetzipError, match=r"\[functions\.broken\]"):
        project.load(root)  # the whole project: every table read, the broken one refused
    with pytest.raises(DetzipError, match=r"\[functions\.broken\]"):
        project.load(root, only=["broken"])  # the same words when it is the one asked for
    loaded = project.load(root, only=["fn001"])
    assert set(loaded.artifacts) == {"fn001", "shared"}
    assert sorted(loaded.names) == ["broken", "fn000", "fn001", "fn002", "shared"]
    whole = project.load(_many(tmp_path / "fine", 3))
    assert loaded.artifacts["fn001"].layers == whole.artifacts["fn001"].layers == ("shared",)
    assert loaded.artifacts["fn001"].spec.source == root / "src" / "fn001"
    with pytest.raises(DetzipError, match="no artifact named nope; declared: broken, fn000"):
        project.load(root, only=["nope"])
    with pytest.raises(DetzipError, match="was not read"):
        loaded.select(["fn002"])


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ("[functions.CON]\nsource = 'x'", "device on Windows"),
        ("[functions.FN001]\nsource = 'x'", "only in case"),
        ("[functions.shared]\nsource = 'x'", "also a layer"),
        ("[functions.'a b']\nsource = 'x'", "not a plain name"),
    ],
)
def test_every_name_is_checked_even_when_one_is_asked_for(
    tmp_path: Path, table: str, needle: str
) -> None:
    root = _many(tmp_path, 3)
    (root / "detzip.toml").write_text((root / "detzip.toml").read_text() + "\n" + table + "\n")
    for only in (None, ["fn000"]):
        with pytest.raises(DetzipError, match=needle):
            project.load(root, only=only)


def test_the_same_spec_read_whole_or_alone(tmp_path: Path) -> None:
    root = _many(tmp_path, 5)
    whole = project.load(root, door="terraform")
    for name in whole.names:
        alone = project.load(root, door="terraform", only=[name])
        assert alone.artifacts[name] == whole.artifacts[name]
        assert alone.names == whole.names and alone.cache == whole.cache


#: how a table header may be written in valid TOML, and a table split in two parts
_HEADER_STYLES = st.fixed_dictionaries(
    {
        "indent": st.sampled_from(["", "  ", "\t", "    "]),
        "inner": st.sampled_from(["", " "]),  # [ tool.detzip ]
        "comment": st.sampled_from(["", "  # note", "\t#"]),
        "quoted": st.booleans(),  # functions."fn1"
    }
)


def _header(keys: list[str], style: dict[str, Any]) -> str:
    parts = [f'"{k}"' if style["quoted"] and i == len(keys) - 1 else k for i, k in enumerate(keys)]
    pad = style["inner"]
    return f"{style['indent']}[{pad}{'.'.join(parts)}{pad}]{style['comment']}"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order=st.permutations(range(6)),
    styles=st.lists(_HEADER_STYLES, min_size=6, max_size=6),
    crlf=st.booleans(),
    indent_body=st.booleans(),
)
def test_any_valid_layout_reads_the_same_alone_as_whole(
    tmp_path: Path, order: list[int], styles: list[dict[str, Any]], crlf: bool, indent_body: bool
) -> None:
    """Headers indented, spaced, quoted or commented, tables in any order ([tool.detzip] after
    the functions included), CRLF: each artifact read alone is what the whole file declares
    (an indented header once went unseen, and a function's table swallowed the top table's
    arch)."""
    body = "  " if indent_body else ""
    tables = [
        (["tool", "detzip"], ['arch = "arm64"', 'output_dir = "out"']),
        (["tool", "detzip", "layers", "deps"], ['requirements = "r.txt"']),
        (["tool", "detzip", "functions", "fn1"], ['source = "s"', 'layers = ["deps"]']),
        (["tool", "detzip", "functions", "fn2"], ['source = "s"', 'handler = "app.main"']),
        (["tool", "detzip", "functions", "fn3"], ['source = "s"', "level = 9"]),
        (["tool", "other"], ["x = [", '  ["a"],', "]"]),
    ]
    lines = ["[project]", 'name = "p"', 'version = "0"', ""]
    for index in order:
        keys, options = tables[index]
        lines += [_header(keys, styles[index]), *(body + o for o in options), ""]
    folder = tmp_path / f"p{abs(hash((tuple(order), crlf, indent_body, str(styles))))}"
    folder.mkdir()
    (folder / "s").mkdir()
    (folder / "r.txt").write_text("")
    (folder / "pyproject.toml").write_bytes(("\r\n" if crlf else "\n").join(lines).encode())
    whole = project.load(folder, door="terraform")
    assert whole.artifacts["fn1"].spec.arch == "arm64"
    for name in ("fn1", "fn2", "fn3", "deps"):
        alone = project.load(folder, door="terraform", only=[name])
        assert alone.artifacts[name] == whole.artifacts[name], name
        assert set(alone.artifacts) == {name} | set(whole.artifacts[name].layers)
        assert alone.names == whole.names


@pytest.mark.parametrize("named", ["a", "a\nc"])
def test_a_function_named_as_a_layer_is_refused_alike_alone(tmp_path: Path, named: str) -> None:
    """A function listed in another's layers: the same words whether the file is read whole or
    for that one function (its body, unread, once made a false 'needs source')."""
    (tmp_path / "s").mkdir()
    (tmp_path / "detzip.toml").write_text(
        '[functions.b]\nsource = "s"\n[functions.a]\nsource = "s"\nlayers = ["b"]\n'
        '[functions.c]\nsource = "s"\n'
    )
    words = r"\[functions\.a\] layers: 'b' is not a declared layer"
    with pytest.raises(DetzipError, match=words):
        project.load(tmp_path)
    with pytest.raises(DetzipError, match=words):
        project.load(tmp_path, only=named.split("\n"))
    result = _terraform({"config": ".", "artifacts": named}, tmp_path)
    assert_one_line_error(result, "'b' is not a declared layer")


# -- shards ------------------------------------------------------------------------------------


def test_every_artifact_is_in_exactly_one_shard(tmp_path: Path) -> None:
    loaded = project.load(_many(tmp_path, 60))
    for n in (1, 2, 3, 4, 7, 10, 64):
        shards = [loaded.shard(k, n) for k in range(1, n + 1)]
        together = [name for shard in shards for name in shard]
        assert sorted(together) == sorted(loaded.names), n
        assert len(together) == len(set(together)) == 61
        assert all(shard == sorted(shard) for shard in shards)
    sizes = [len(loaded.shard(k, 4)) for k in range(1, 5)]
    assert min(sizes) >= 5, sizes  # by hash: spread, not all in one


def test_a_shard_is_stable_when_an_artifact_is_added_or_moved(tmp_path: Path) -> None:
    before = project.load(_many(tmp_path / "a", 40))
    after = project.load(_many(tmp_path / "b", 41))  # fn040 added
    text = (tmp_path / "a" / "detzip.toml").read_text()
    blocks = text.split("\n\n")
    (tmp_path / "a" / "detzip.toml").write_text("\n\n".join([blocks[0], *reversed(blocks[1:])]))
    reordered = project.load(tmp_path / "a")
    assert reordered.names != before.names
    for n in (2, 3, 5):
        for k in range(1, n + 1):
            old, new = before.shard(k, n), after.shard(k, n)
            assert set(old) <= set(new) and set(new) - set(old) <= {"fn040"}
            assert reordered.shard(k, n) == old
    assert project.shard_of("fn040", 5) == next(
        k for k in range(1, 6) if "fn040" in after.shard(k, 5)
    )
    # by hash, not position: the shard of a name is its sha256, as a number, modulo N
    for n in (2, 3, 7, 10):
        for name in after.names:
            digest = int(hashlib.sha256(name.encode()).hexdigest(), 16)
            assert project.shard_of(name, n) == digest % n + 1
            assert name in after.shard(digest % n + 1, n)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1/1", (1, 1)),
        ("2/4", (2, 4)),
        (" 4 / 4 ", (4, 4)),
        ("10/12", (10, 12)),
        ("1/1000000000000", (1, 10**12)),
    ],
)
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert project.parse_shard(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("3/2", "--shard 3/2: K must be 1..N (1 to 2)"),
        ("0/4", "--shard 0/4: K must be 1..N"),
        ("1/0", "--shard 1/0: N must be at least 1"),
        ("7/00005", "--shard 7/5: K must be 1..N (1 to 5)"),
        ("2", "--shard '2' is not K/N"),
        ("a/b", "--shard 'a/b' is not K/N"),
        ("-1/3", "--shard '-1/3' is not K/N"),
        ("1/2/3", "--shard '1/2/3' is not K/N"),
        ("", "--shard '' is not K/N"),
    ],
)
def test_bad_shards_are_refused(text: str, needle: str) -> None:
    with pytest.raises(DetzipError, match="^" + re.escape(needle)):
        project.parse_shard(text)
    with pytest.raises(DetzipError) as raised:
        project.parse_shard(text)
    assert "\n" not in str(raised.value)


def test_a_shard_builds_its_functions_and_their_layers(tmp_path: Path) -> None:
    """Three functions, two layers (r.txt empty: an empty layer), no cache: each shard of 3
    builds its own artifacts and the layers they use; an empty shard builds nothing."""
    make_tree(tmp_path, {f"src/f{i}/app.py": f"x = {i}\n" for i in range(6)} | {"r.txt": ""})
    body = ['output_dir = "out"', "[layers.la]", 'requirements = "r.txt"']
    body += ["[layers.lb]", 'requirements = "r.txt"', 'exclude = ["*.txt"]']
    for i in range(6):
        body += [
            f"[functions.f{i}]",
            f'source = "src/f{i}"',
            f'layers = ["{"la" if i % 2 else "lb"}"]',
        ]
    (tmp_path / "detzip.toml").write_text("\n".join(body) + "\n")
    loaded = project.load(tmp_path)
    for n in (2, 3, 9):
        built_names: list[str] = []
        for k in range(1, n + 1):
            mine = loaded.shard(k, n)
            results = loaded.build(shard=(k, n))
            names = [result.declared.name for result in results]
            expected = {name for name in mine}
            for name in mine:
                expected.update(loaded.artifacts[name].layers)
            assert set(names) == expected, (k, n)
            assert not mine or names  # an empty shard: nothing, never everything
            built_names += mine
        assert sorted(built_names) == sorted(loaded.names)
    assert loaded.build(["f1"], shard=(1, 1))[-1].declared.name == "f1"
    for k in range(1, 4):  # names and a shard: the named ones in the shard, with their layers
        named = [result.declared.name for result in loaded.build(["f1", "f2"], shard=(k, 3))]
        mine = [name for name in ("f1", "f2") if project.shard_of(name, 3) == k]
        layers = {layer for name in mine for layer in loaded.artifacts[name].layers}
        assert set(named) == set(mine) | layers, k
    with pytest.raises(DetzipError, match="no artifact named nope"):
        loaded.build(["nope"], shard=(1, 2))


# -- the file's text: only the named functions' tables are parsed -------------------------------

TEXTS = {
    "plain": "[functions.a]\nsource = 's'\n\n[functions.b]\nsource = 's'\nlevel = 9\n",
    "crlf, bom, comments": "\ufeff# top\r\nlevel = 3 # three\r\n[functions.a]  # the api\r\n"
    "source = 's'\r\nexclude = [\r\n  '*.md',\r\n]\r\n[functions.b]\r\nsource = 's'\r\n",
    "column-0 arrays": "[functions.a]\nsource = 's'\nexclude = [\n'*.md',\n'x/'\n]\n"
    "[functions.b]\nsource = 's'\nextra_sources = [\n{path = 't', prefix = 'p'},\n]\n",
    "quoted header": '[functions."a"]\nsource = "s"\n[functions.b]\nsource = "s"\n',
    "multi-line strings": "[functions.a]\nsource = '''s'''\n[functions.b]\nsource = \"\"\"\n"
    '[functions.c]\n"""\n',
    "dotted keys": "functions.a.source = 's'\n[functions.b]\nsource = 's'\n",
}


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
@pytest.mark.parametrize("where", ["detzip.toml", "pyproject.toml"])
def test_a_named_artifact_reads_as_in_the_whole_file(tmp_path: Path, text: str, where: str) -> None:
    """The text with other functions' bodies left out parses to what the whole file says of
    the named one; where that could differ (multi-line strings), it is read whole."""
    if where == "pyproject.toml":
        text = text.replace("\ufeff# top", "[tool.detzip]")
        text = text.replace("[functions", "[tool.detzip.functions")
        if text.startswith("functions."):
            text = "[tool.detzip]\n" + text
        text = '\ufeff[project]\nname = "x"\n\n' + text
    (tmp_path / where).write_text(text, newline="")
    make_tree(tmp_path, {"s/app.py": "x = 1\n", "t/m.py": ""})
    whole = project.load(tmp_path)
    assert set(whole.names) == {"a", "b"}
    for name in whole.names:
        alone = project.load(tmp_path, only=[name])
        assert alone.artifacts == {name: whole.artifacts[name]}
        assert alone.names == whole.names


BROKEN = {
    "a header": "[functions.a]\nsource = 's'\n[functions.b\nsource = 's'\n",
    "the same table twice": "[functions.a]\nsource = 's'\n[functions.b]\n[functions.b]\n",
    "the named table": "[functions.a]\nsource = 's\n[functions.b]\nsource = 's'\n",
    "a key set twice": "[functions.a]\nsource = 's'\nsource = 't'\n[functions.b]\nsource = 's'\n",
    "a sub-table": "[functions.b]\nsource = 's'\n[functions.a]\nx.y = 1\n[functions.a.x]\n",
}


@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_text_that_is_not_toml_is_refused_in_the_same_words(tmp_path: Path, text: str) -> None:
    """Whatever is parsed of a file that is not TOML: the whole file's verdict (line numbers
    included)."""
    (tmp_path / "detzip.toml").write_text(text)
    with pytest.raises(DetzipError, match="not valid TOML") as whole:
        project.load(tmp_path)
    with pytest.raises(DetzipError, match="not valid TOML") as alone:
        project.load(tmp_path, only=["a"])
    assert str(alone.value) == str(whole.value)


def test_another_functions_body_is_not_parsed(tmp_path: Path) -> None:
    """What the per-artifact form does not read, it does not refuse: a value that is not TOML
    inside another function's table (the whole project is still refused)."""
    (tmp_path / "detzip.toml").write_text(
        "[functions.a]\nsource = 's'\n[functions.b]\nsource = s\n"
    )
    with pytest.raises(DetzipError, match="not valid TOML"):
        project.load(tmp_path)
    assert set(project.load(tmp_path, only=["a"]).artifacts) == {"a"}
    with pytest.raises(DetzipError, match="not valid TOML"):
        project.load(tmp_path, only=["b"])


class Workflow:
    """The README's GitHub Actions workflow for shards, read as text (no YAML parser is a
    dependency): the build job's matrix, its shared cache and its ``detzip`` command, and the
    deploy job's."""

    def __init__(self) -> None:
        from .test_readme import blocks

        (self.text,) = [b for b in blocks("yaml") if "--shard" in b]
        build, deploy = self.text.split("\n  deploy:\n")
        self.shards = [int(k) for k in re.findall(r"shard: \[([\d, ]+)\]", build)[0].split(",")]
        self.caches = re.findall(r"DETZIP_CACHE: (\S+)", self.text)
        self.build = self._detzip(build)
        self.deploy = self._detzip(deploy)

    @staticmethod
    def _detzip(job: str) -> str:
        (command,) = re.findall(r"- run: detzip (.*)", job)
        return str(command)

    def build_args(self, shard: int) -> list[str]:
        """The build job's command as the runner of matrix entry ``shard`` runs it."""
        return self.build.replace("${{ matrix.shard }}", str(shard)).split()


def test_the_readme_workflow_covers_every_shard_and_shares_one_cache() -> None:
    """Offline: the matrix is 1..N for the N the command names, both jobs use the one bucket,
    each installs the extra that reads it, and neither builds for nobody (--require-cache)."""
    flow = Workflow()
    assert flow.shards == list(range(1, len(flow.shards) + 1))
    for k in flow.shards:
        args = flow.build_args(k)
        assert args[0] == "build"
        assert project.parse_shard(args[args.index("--shard") + 1]) == (k, len(flow.shards))
    assert len(flow.caches) == 2 and len(set(flow.caches)) == 1
    assert flow.caches[0].startswith("s3://")
    assert flow.text.count('pip install "detzip[s3]"') == 2
    assert "--require-cache" in flow.build and "--require-cache" in flow.deploy
    assert "--shard" not in flow.deploy
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert re.search(r"^s3 = \[.*boto3", pyproject, flags=re.M)


@pytest.mark.e2e
@pytest.mark.network
@pytest.mark.slow
def test_three_concurrent_shards_on_one_bucket_leave_every_artifact_a_hit(
    tmp_path: Path,
) -> None:
    """The README's workflow on the example service: its shard jobs at once (each with its own
    empty local cache, one moto bucket), then its deploy job's command, which finds every
    artifact a hit with the README's sha256s; a layer two shards need is built by both,
    harmlessly."""
    import os
    import shutil
    import sys

    from .motoserver import MotoServer
    from .test_readme import ROOT, blocks

    shown = {
        line.split()[0]: line.split()[4] for line in blocks("text")[0].strip().splitlines()[1:]
    }
    flow = Workflow()
    assert len(flow.shards) == 3
    service_copy = tmp_path / "service"
    shutil.copytree(ROOT / "examples" / "service", service_copy,
                    ignore=shutil.ignore_patterns(".build", ".terraform*"))  # fmt: skip
    server = MotoServer()
    try:
        server.client().create_bucket(Bucket="fleet")
        env = {**os.environ, **server.env(), "DETZIP_CACHE": "s3://fleet/ci"}
        jobs = [subprocess.Popen([sys.executable, "-m", "detzip", *flow.build_args(k), "--json"],
                                 cwd=service_copy,
                                 env={**env, "DETZIP_CACHE_DIR": str(tmp_path / f"job{k}")},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for k in flow.shards]  # fmt: skip
        built: dict[str, str] = {}
        for job in jobs:
            out, err = job.communicate(timeout=600)
            assert job.returncode == 0, err
            for artifact in json.loads(out)["artifacts"]:
                assert built.setdefault(artifact["name"], artifact["sha256"]) == artifact["sha256"]
        functions = {n for n in shown if n != "deps"}
        assert functions <= set(built)
        owners = [k for k in flow.shards
                  for n in functions if project.shard_of(n, 3) == k]  # fmt: skip
        assert len(owners) == len(functions)  # each function in exactly one shard
        last = run_cli(*flow.deploy.split(), "--json", cwd=service_copy,
                       env={**env, "DETZIP_CACHE_DIR": str(tmp_path / "last")})  # fmt: skip
        assert last.returncode == 0, last.stderr
        for artifact in json.loads(last.stdout)["artifacts"]:
            assert artifact["cache_hit"] is True, artifact["name"]
            assert artifact["sha256"].startswith(shown[artifact["name"]]), artifact["name"]
            assert artifact["sha256"] == built[artifact["name"]]
    finally:
        server.stop()
