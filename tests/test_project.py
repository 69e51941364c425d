"""`detzip build`: projects declared in [tool.detzip] or detzip.toml; progress and verbosity."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from detzip import project
from detzip.errors import DetzipError

from .conftest import HANDLER, SRC, assert_one_line_error, make_tree, run_cli
from .wheelfactory import Repo

ON = {"DETZIP_CACHE": ""}


def service(root: Path, repo: Repo, config: str | None = None, *, standalone: bool = False) -> Path:
    """A small service: two functions sharing a layer from a uv.lock built from local wheels."""
    make_tree(
        root,
        {
            "functions/api/app.py": "import alpha\ndef handler(e, c):\n    return alpha.VERSION\n",
            "functions/api/notes.md": "not packed\n",
            "functions/worker/app.py": "def handler(e, c):\n    return 2\n",
        },
    )
    repo.write("uv", root)
    body = (
        config
        if config is not None
        else f"""
output_dir = "dist"
find_links = ["{repo.folder}"]
no_index = true

[layers.deps]
requirements = "uv.lock"
exclude_packages = ["native"]

[functions.api]
source = "functions/api"
exclude = ["*.md"]
layers = ["deps"]

[functions.worker]
source = "functions/worker"
layers = ["deps"]
"""
    )
    if standalone:
        (root / "detzip.toml").write_text(body)
    else:
        text = body.replace("\n[", "\n[tool.detzip.").replace(
            "\noutput_dir", "[tool.detzip]\noutput_dir", 1
        )
        (root / "pyproject.toml").write_text('[project]\nname = "svc"\nversion = "1"\n\n' + text)
    return root


def build_json(root: Path, *args: str) -> tuple[int, Any, str]:
    result = run_cli(
        "build", "--json", "--cache-dir", str(root / ".cache"), *args, cwd=root, env=ON
    )
    data = json.loads(result.stdout) if result.stdout else {}
    return result.returncode, data, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("standalone", [False, True], ids=["pyproject", "detzip.toml"])
def test_build_everything_then_hit(repo: Repo, tmp_path: Path, standalone: bool) -> None:
    root = service(tmp_path / "svc", repo, standalone=standalone)
    code, data, err = build_json(root)
    assert code == 0, err
    artifacts = {a["name"]: a for a in data["artifacts"]}
    assert list(artifacts) == ["deps", "api", "worker"]  # layers first
    assert data["ok"] is True
    for name, item in artifacts.items():
        assert Path(item["path"]) == root / "dist" / f"{name}.zip"
        assert item["cache_hit"] is False
    with zipfile.ZipFile(root / "dist" / "api.zip") as archive:
        assert archive.namelist() == ["app.py"]
    with zipfile.ZipFile(root / "dist" / "deps.zip") as archive:
        names = archive.namelist()
    assert "python/alpha/__init__.py" in names and not any("native" in n for n in names)
    api = artifacts["api"]
    assert api["unzipped_total"] == api["unzipped_size"] + artifacts["deps"]["unzipped_size"]
    assert api["unzipped_headroom"] == 262_144_000 - api["unzipped_total"]
    assert api["upload_headroom"] == 52_428_800 - api["size"]

    code, again, _ = build_json(root)
    assert code == 0
    assert all(a["cache_hit"] for a in again["artifacts"])


@pytest.mark.slow
def test_summary_table(repo: Repo, tmp_path: Path) -> None:
    root = service(tmp_path / "svc", repo)
    result = run_cli("build", "--cache-dir", str(root / ".cache"), cwd=root / "functions", env=ON)
    assert result.returncode == 0, result.stderr  # found from a subfolder
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["name", "kind", "zipped", "unzipped", "sha256", "cache"]
    assert [line.split()[0] for line in lines[1:]] == ["deps", "api", "worker"]
    assert all("miss" in line for line in lines[1:])
    assert "(with layers)" in lines[2]


@pytest.mark.slow
def test_build_named_artifacts_and_their_layers(repo: Repo, tmp_path: Path) -> None:
    root = service(tmp_path / "svc", repo)
    code, data, _ = build_json(root, "worker")
    assert code == 0
    assert [a["name"] for a in data["artifacts"]] == ["deps", "worker"]
    assert not (root / "dist" / "api.zip").exists()
    result = run_cli("build", "nope", "--cache-dir", str(root / ".cache"), cwd=root)
    assert_one_line_error(result, "no artifact named nope", "api, deps, worker")


def test_config_option_and_project_cache_off(repo: Repo, tmp_path: Path) -> None:
    root = service(tmp_path / "svc", repo)
    text = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(
        text.replace('output_dir = "dist"', 'output_dir = "dist"\ncache = "off"')
    )
    for _ in range(2):
        result = run_cli("build", "--json", "--config", str(root), cwd=tmp_path, env=ON)
        assert result.returncode == 0, result.stderr
        assert not any(a["cache_hit"] for a in json.loads(result.stdout)["artifacts"])


@pytest.mark.parametrize("standalone", [False, True], ids=["pyproject", "detzip.toml"])
def test_a_config_with_a_bom_builds_as_without(
    repo: Repo, tmp_path: Path, standalone: bool
) -> None:
    """Windows editors save with a UTF-8 BOM: the file is read as without it (found in a folder
    given to --config too), and builds the same zips."""
    plain = service(tmp_path / "plain", repo, standalone=standalone)
    bom = service(tmp_path / "bom", repo, standalone=standalone)
    config = bom / ("detzip.toml" if standalone else "pyproject.toml")
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())
    built = []
    for root in (plain, bom):
        result = run_cli("build", "--json", "--config", str(root), cwd=tmp_path, env=ON)
        assert result.returncode == 0, result.stderr
        built.append({a["name"]: a["sha256"] for a in json.loads(result.stdout)["artifacts"]})
    assert built[0] == built[1] and set(built[1]) == {"api", "deps", "worker"}


def test_a_config_not_in_utf8_is_one_line(repo: Repo, tmp_path: Path) -> None:
    root = service(tmp_path / "svc", repo)
    text = (root / "pyproject.toml").read_bytes()
    (root / "pyproject.toml").write_bytes(text.replace(b'name = "svc"', b'name = "sv\xe9"'))
    result = run_cli("build", "--config", str(root), cwd=tmp_path)
    assert_one_line_error(result, "pyproject.toml", "is not UTF-8 text (byte 0xe9 on line 2)")


def test_over_the_limit_with_layers_fails(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detzip import limits

    root = service(tmp_path / "svc", repo)
    loaded = project.load(root)
    deps = loaded.build(["deps"])[0].artifact
    monkeypatch.setattr(limits, "UNZIPPED_LIMIT", deps.unzipped_size + 40)
    results = {r.declared.name: r for r in loaded.build()}
    assert results["deps"].limits_ok
    assert not results["api"].limits_ok
    (problem,) = results["api"].problems
    assert "api and its layers unzip to" in problem and "deps.zip" in problem
    assert "detzip check" in problem


@pytest.mark.parametrize(
    ("config", "needles"),
    [
        ('[functions.api]\nsorce = "x"\n', ["[functions.api] unknown key 'sorce'", "source"]),
        ('[functions.api]\nexclude = "*.md"\n', ["exclude must be a list of strings"]),
        ("[functions.api]\nlayers = []\n", ["[functions.api] needs source"]),
        ('[layers.deps]\nformat = "poetry"\n', ["[layers.deps] needs requirements"]),
        ('[functions.api]\nsource = "a"\nlayers = ["deps"]\n', ["'deps' is not a declared layer"]),
        (
            '[layers.deps]\nrequirements = "uv.lock"\narch = "arm64"\n'
            '[functions.api]\nsource = "a"\nlayers = ["deps"]\n',
            ["arch is the default but its layer 'deps' is built for arm64"],
        ),
        (
            '[layers.x]\nrequirements = "uv.lock"\n[functions.x]\nsource = "a"\n',
            ["the name 'x' is also a layer"],
        ),
        ('level = true\n[functions.a]\nsource = "a"\n', ["level must be a whole number"]),
        ("output_dir = \n", ["not valid TOML"]),
        ("", ["declares no layers or functions"]),
    ],
)
def test_bad_configs_name_the_file_and_key(
    repo: Repo, tmp_path: Path, config: str, needles: list[str]
) -> None:
    root = service(tmp_path / "svc", repo, config=config, standalone=True)
    result = run_cli("build", cwd=root)
    assert_one_line_error(result, str(root / "detzip.toml"), *needles)
    with pytest.raises(DetzipError):
        project.load(root)


def test_no_config_found(tmp_path: Path) -> None:
    result = run_cli("build", cwd=tmp_path)
    assert_one_line_error(result, "no detzip.toml", "--config")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert_one_line_error(run_cli("build", cwd=tmp_path), "[tool.detzip]")
    assert_one_line_error(
        run_cli("build", "--config", str(tmp_path / "pyproject.toml")), "has no [tool.detzip]"
    )


def test_a_folder_named_is_the_project_never_a_parent(tmp_path: Path) -> None:
    """``--config DIR`` / ``config = DIR``: that folder's file, never a parent's project taken
    for it (a tool's own pyproject.toml below the service built the service); with no config,
    the nearest project here or above."""
    import json

    make_tree(tmp_path / "svc", {"fn/app.py": HANDLER, "tools/x.py": "", "empty/x.py": ""})
    (tmp_path / "svc" / "pyproject.toml").write_text('[tool.detzip.functions.a]\nsource = "fn"\n')
    (tmp_path / "svc" / "tools" / "pyproject.toml").write_text('[project]\nname = "tools"\n')
    tools, empty = tmp_path / "svc" / "tools", tmp_path / "svc" / "empty"
    assert_one_line_error(run_cli("build", "--config", str(tools)),
                          "tools/pyproject.toml: has no [tool.detzip] table and no detzip.toml",
                          "point --config at the folder")  # fmt: skip
    assert_one_line_error(run_cli("build", "--config", str(empty)),
                          "empty: holds no detzip.toml or pyproject.toml")  # fmt: skip
    query = json.dumps({"config": str(tools), "artifacts": "*"})
    assert_one_line_error(run_cli("terraform", input=query), "point config at the folder")
    for where in (tools, empty):  # no config: found above, as before
        found = run_cli("build", "--json", cwd=where)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["config"] == str(tmp_path / "svc" / "pyproject.toml")
    (tools / "detzip.toml").write_text('[functions.t]\nsource = "."\n')
    named = run_cli("build", "--config", str(tools), "--json")
    assert named.returncode == 0, named.stderr
    assert [a["name"] for a in json.loads(named.stdout)["artifacts"]] == ["t"]


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('source = "nope"', "[b] {root}/nope: the source does not exist"),
        ('source = "a"\nextra_sources = ["a", "gone"]', "[b] {root}/gone: the source does not"),
        ('source = "a/app.py"', "[b] {root}/a/app.py: the source is not a directory"),
        ('source = "a"\nrequirements = "nope.txt"', "no such lock or requirements file"),
    ],
)
def test_a_missing_input_fails_the_build_before_anything_is_written(
    tmp_path: Path, table: str, needle: str
) -> None:
    """A project build (and the one-shot query) checks every artifact's folders and
    requirements file first: the function before the bad one is not left written."""
    import json

    make_tree(tmp_path, {"a/app.py": HANDLER})
    (tmp_path / "detzip.toml").write_text(
        f'[functions.a]\nsource = "a"\n[functions.b]\n{table}\n[functions.c]\nsource = "a"\n'
    )
    words = needle.format(root=tmp_path)
    assert_one_line_error(run_cli("build", cwd=tmp_path, env={"DETZIP_CACHE": "off"}), words)
    query = json.dumps({"config": str(tmp_path), "artifacts": "*"})
    assert_one_line_error(run_cli("terraform", input=query), needle.split(": ")[-1])
    assert not (tmp_path / ".build").exists()


def test_a_build_error_names_the_artifact(repo: Repo, tmp_path: Path) -> None:
    root = service(tmp_path / "svc", repo)
    (root / "uv.lock").write_text("not = [valid")
    result = run_cli("build", "--cache-dir", str(root / ".cache"), cwd=root)
    assert_one_line_error(result, "[deps]", "uv.lock", "not valid TOML")


@pytest.mark.slow
def test_terraform_queries_a_declared_artifact(repo: Repo, tmp_path: Path) -> None:
    root = service(tmp_path / "svc", repo)
    query = {"config": "svc", "artifact": "api", "cache_dir": str(tmp_path / "c")}
    result = run_cli("terraform", cwd=tmp_path, input=json.dumps(query), env=ON)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # relative to where Terraform runs the program: the same string from any checkout
    assert out["path"] == "svc/dist/api.zip" and out["cache"] == "miss"
    assert set(out) == {"path", "base64sha256", "sha256", "size", "unzipped_size", "key", "cache",
                        "runtime", "arch", "layers"}  # fmt: skip
    assert out["layers"] == "deps"
    assert (root / "dist" / "deps.zip").exists()  # its layer too: they are checked together
    again = json.loads(run_cli("terraform", cwd=tmp_path, input=json.dumps(query), env=ON).stdout)
    assert again["cache"] == "hit" and again["sha256"] == out["sha256"]
    bad = run_cli("terraform", cwd=tmp_path, input=json.dumps({**query, "source": "x"}))
    assert_one_line_error(bad, "remove source")
    missing = run_cli("terraform", cwd=tmp_path, input=json.dumps({**query, "artifact": "nope"}))
    assert_one_line_error(missing, "no artifact named nope")


# -- progress and verbosity -----------------------------------------------------------------------


def run_on_tty(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run detzip with stderr on a pseudo-terminal; (exit code, stdout, what the terminal saw)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "detzip", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "PYTHONPATH": str(SRC), **ON},
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    code = proc.wait(timeout=60)
    os.close(leader)
    return code, stdout, seen.decode(errors="replace")


@pytest.mark.slow
def test_progress_only_on_a_terminal(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {f"m{i}.txt": os.urandom(200_000).hex() for i in range(40)})
    args = ["function", str(src), "-o", str(tmp_path / "f.zip"), "--no-cache"]
    code, stdout, terminal = run_on_tty(args, tmp_path)
    assert code == 0 and stdout.startswith(str(tmp_path / "f.zip"))
    assert "zipping f" in terminal and "%" in terminal and "\x1b[K" in terminal
    code, stdout, terminal = run_on_tty([*args, "--json"], tmp_path)
    assert code == 0 and terminal == "" and json.loads(stdout)["entries"] == 40
    code, _, terminal = run_on_tty([*args, "-q"], tmp_path)
    assert code == 0 and terminal == ""
    piped = run_cli(*args)
    assert piped.returncode == 0 and piped.stderr == ""


@pytest.mark.slow
def test_verbose_and_quiet(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    args = ["function", str(src), "-o", str(tmp_path / "f.zip"), "--cache-dir", str(tmp_path / "c")]
    built = run_cli(*args, "-v", env=ON)
    assert built.returncode == 0 and "detzip: info: f: building" in built.stderr
    hit = run_cli("-v", *args, env=ON)  # before the command too
    assert "detzip: info: f: cache hit" in hit.stderr
    assert run_cli(*args, env=ON).stderr == ""
    # a warning (a corrupt cache entry) is shown, and -q hides it
    for quiet in ([], ["-q"]):
        (tmp_path / "f.zip").unlink()
        for path in (tmp_path / "c" / "artifacts").glob("*.zip"):
            path.write_bytes(b"corrupt")
        result = run_cli(*args, *quiet, env=ON)
        assert result.returncode == 0
        assert ("detzip: warning:" in result.stderr) is not bool(quiet), result.stderr
        assert quiet == [] or result.stderr == ""


@pytest.mark.slow
@pytest.mark.network
def test_the_example_service_lock_and_requirements_give_one_layer(tmp_path: Path) -> None:
    """examples/service: poetry.lock and requirements.txt hold the same pins → the same bytes."""
    from detzip import build_layer

    service = SRC.parent / "examples" / "service"
    options: dict[str, Any] = {"runtime": "python3.12", "arch": "arm64", "cache": False}
    options["cache_dir"] = tmp_path / "c"
    poetry = build_layer(service / "poetry.lock", tmp_path / "p.zip", **options)
    pinned = build_layer(service / "requirements.txt", tmp_path / "r.zip", **options)
    assert poetry.sha256 == pinned.sha256 and poetry.key == pinned.key
    names = {p["name"] for p in poetry.description["packages"]}
    assert names == {"certifi", "charset-normalizer", "idna", "pyyaml", "requests", "urllib3"}
    assert any("aarch64" in p["wheel"] for p in poetry.description["packages"])


def test_each_value_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One path from the file's value to the spec's: every key of every table is read by its
    option exactly once (top-level defaults once, not once per artifact)."""
    from detzip import optionvalues

    make_tree(tmp_path / "a", {"app.py": "x = 1\n"})
    make_tree(tmp_path / "b", {"app.py": "x = 1\n"})
    (tmp_path / "detzip.toml").write_text(
        'runtime = "python3.11"\nlevel = 9\n'
        '[functions.a]\nsource = "a"\nexclude = ["*.md"]\n'
        '[functions.b]\nsource = "b"\n'
    )
    real = optionvalues.read
    read: list[str] = []

    def counted(opt: Any, value: Any, door: Any) -> Any:
        read.append(opt.name)
        return real(opt, value, door)

    monkeypatch.setattr(optionvalues, "read", counted)
    monkeypatch.setattr(project, "read", counted)
    loaded = project.load(tmp_path / "detzip.toml")
    assert sorted(read) == ["exclude", "level", "runtime", "source", "source"]
    assert (
        loaded.artifacts["b"].spec.level == 9 and loaded.artifacts["b"].spec.runtime == "python3.11"
    )
    assert loaded.artifacts["a"].spec.source == tmp_path / "a"


@pytest.mark.parametrize(
    "layout",
    [("."), ("out")],
    ids=["output-dir-is-the-source", "output-dir-inside-the-source"],
)
def test_no_artifact_packs_another_artifacts_zip(tmp_path: Path, layout: str) -> None:
    """``output_dir = "."`` with ``source = "."``: each function packed the others' zips, and
    its sha256 changed on every build. Three builds, one sha256 each, and no zip inside."""
    root = make_tree(tmp_path / "p", {"app.py": "def handler(e, c):\n    return 1\n"})
    (root / "detzip.toml").write_text(
        f'output_dir = "{layout}"\n'
        + "".join(f'[functions.{n}]\nsource = "."\nhandler = "app.handler"\n' for n in "abc")
    )
    if layout == "out":  # something else already under the output folder
        make_tree(root / "out", {"old.zip": "a zip of an earlier build"})
    shas = []
    for _ in range(3):
        code, data, err = build_json(root)
        assert code == 0, err
        shas.append({a["name"]: a["sha256"] for a in data["artifacts"]})
    assert shas[0] == shas[1] == shas[2]
    assert len(set(shas[0].values())) == 1  # the three functions are the same code
    with zipfile.ZipFile(root / layout / "a.zip") as archive:
        assert sorted(archive.namelist()) == ["app.py", "detzip.toml"]


FN = 'source = "src"\nhandler = "app.handler"\n'


@pytest.mark.parametrize(
    ("config", "needles"),
    [
        (f"[functions.API]\n{FN}[functions.api]\n{FN}", ["'api'", "'API'", "only in case"]),
        (f"[layers.Deps]\nrequirements = 'r.txt'\n[functions.deps]\n{FN}", ["'deps'", "'Deps'"]),
        (f"[functions.con]\n{FN}", ["'con'", "a device on Windows"]),
        (f'[functions."nul.v2"]\n{FN}', ["'nul.v2'", "a device on Windows"]),
        (f"[functions.com1]\n{FN}", ["'com1'", "a device on Windows"]),
    ],
    ids=["case", "case-across-kinds", "con", "nul-with-dot", "com1"],
)
def test_a_name_that_cannot_be_a_file_on_every_os_is_refused(
    tmp_path: Path, config: str, needles: list[str]
) -> None:
    """On a case-insensitive folder (macOS, Windows) API.zip and api.zip are one file: the API
    row then pointed at api's code. CON.zip is the console on Windows. A project builds on every
    OS, so each is refused on every OS when the project is read."""
    root = make_tree(tmp_path / "p", {"src/app.py": "def handler(e, c):\n    return 1\n"})
    (root / "r.txt").write_text("")
    (root / "detzip.toml").write_text(config)
    result = run_cli("build", cwd=root, env=ON)
    assert_one_line_error(result, str(root / "detzip.toml"), "rename", *needles)
    assert not (root / ".build").exists()
