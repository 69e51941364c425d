"""`detzip terraform` under a harness that behaves like hashicorp/external 2.x.

The provider sends one JSON object of strings on stdin, parses the program's *whole* stdout as
one JSON object whose values are all strings, and on a non-zero exit shows stderr as the error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import HANDLER, SRC, make_tree
from .wheelfactory import Repo

RESULT_KEYS = {"path", "base64sha256", "sha256", "size", "unzipped_size", "key", "cache",
               "runtime", "arch", "layers"}  # fmt: skip


@dataclass
class Outcome:
    result: dict[str, str] | None
    error: str | None
    returncode: int
    stdout: str


def external(query: dict[str, str] | str, cwd: Path, env: dict[str, str] | None = None) -> Outcome:
    """Run the program as the provider does and apply the provider's own checks."""
    stdin = query if isinstance(query, str) else json.dumps(query)
    proc = subprocess.run(
        [sys.executable, "-m", "detzip", "terraform"],
        input=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC), "DETZIP_CACHE": "", **(env or {})},
        timeout=300,
    )
    if proc.returncode != 0:
        return Outcome(None, proc.stderr, proc.returncode, proc.stdout)
    parsed = json.loads(proc.stdout)  # the whole stdout: one object, nothing else
    assert isinstance(parsed, dict)
    assert all(isinstance(v, str) for v in parsed.values()), parsed
    return Outcome(parsed, None, 0, proc.stdout)


def b64_of(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    make_tree(
        tmp_path / "fn",
        {"app.py": HANDLER, "tests/test_app.py": "", "NOTES.md": ""},
    )
    return tmp_path


def test_function_then_a_hit(project: Path) -> None:
    query = {"kind": "function", "source": "fn", "output": "build/fn.zip", "cache_dir": "c"}
    first = external(query, project)
    assert first.result is not None, first.error
    assert set(first.result) == RESULT_KEYS
    assert first.result["cache"] == "miss" and first.result["path"] == "build/fn.zip"
    zip_path = project / "build" / "fn.zip"  # relative paths: against the working directory
    assert first.result["base64sha256"] == b64_of(zip_path)
    assert first.result["sha256"] == hashlib.sha256(zip_path.read_bytes()).hexdigest()
    assert first.result["size"] == str(zip_path.stat().st_size)
    second = external(query, project)
    assert second.result is not None and second.result["cache"] == "hit"
    assert {k: v for k, v in second.result.items() if k != "cache"} == {
        k: v for k, v in first.result.items() if k != "cache"
    }


def test_patterns_are_newline_separated(project: Path) -> None:
    query = {
        "kind": "function",
        "source": "fn",
        "output": "out.zip",
        "exclude": "tests/\n*.md\n",
        "prefix": "pkg",
        "mtime": "2024-01-01",
        "compressor": "zlib",
        "cache": "off",
    }
    outcome = external(query, project)
    assert outcome.result is not None, outcome.error
    with zipfile.ZipFile(project / "out.zip") as archive:
        assert archive.namelist() == ["pkg/app.py"]
        assert archive.infolist()[0].date_time[:3] == (2024, 1, 1)
    assert outcome.result["cache"] == "miss"


@pytest.mark.slow
def test_layer_with_pip_output_kept_off_stdout(repo: Repo, tmp_path: Path) -> None:
    """requirements.txt with hashes: pip download runs, and stdout is still one JSON object."""
    lock = repo.write("requirements", tmp_path / "deps")
    query = {
        "kind": "layer",
        "requirements": str(lock),
        "output": "layer.zip",
        "runtime": "python3.12",
        "arch": "arm64",
        "exclude_packages": "beta\ndevtool",
        "cache_dir": str(tmp_path / "c"),
    }
    outcome = external(query, tmp_path)
    assert outcome.result is not None, outcome.error
    with zipfile.ZipFile(tmp_path / "layer.zip") as archive:
        names = archive.namelist()
        assert b"aarch64" in archive.read("python/native/_ext.py")
    assert "python/alpha/__init__.py" in names and all(n.startswith("python/") for n in names)
    assert not any(n.startswith(("python/beta", "python/devtool")) for n in names)
    assert outcome.result["base64sha256"] == b64_of(tmp_path / "layer.zip")


@pytest.mark.slow
def test_function_with_bundled_dependencies(repo: Repo, project: Path) -> None:
    lock = repo.write("uv", project / "deps")
    query = {"kind": "function", "source": "fn", "output": "b.zip", "requirements": str(lock)}
    outcome = external(query, project, {"DETZIP_CACHE_DIR": str(project / "c")})
    assert outcome.result is not None, outcome.error
    with zipfile.ZipFile(project / "b.zip") as archive:
        assert {"app.py", "alpha/__init__.py", "gamma.py"} <= set(archive.namelist())


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        (
            {"kind": "function", "source": "fn", "output": "o.zip", "sources": "x"},
            "unknown query key sources",
        ),
        ({"source": "fn", "output": "o.zip"}, "needs 'kind'"),
        ({"kind": "function", "source": "fn"}, "needs output"),
        ({"kind": "function", "output": "o.zip"}, "needs source"),
        ({"kind": "layer", "output": "o.zip"}, "needs requirements"),
        ({"kind": "lambda", "output": "o.zip"}, "kind must be function or layer"),
        ({"kind": "function", "source": "missing", "output": "o.zip"}, "missing"),
        (
            {"kind": "layer", "requirements": "r.txt", "output": "o.zip", "include": "x"},
            "include applies to a function only",
        ),
        (
            {"kind": "function", "source": "fn", "output": "o.zip", "require_cache": "maybe"},
            "true",
        ),
        ({"kind": "function", "source": "fn", "output": "o.zip", "level": "high"}, "whole number"),
        (
            {"kind": "function", "source": "fn", "output": "o.zip", "upload": "ftp"},
            "upload must be one of direct, s3",
        ),
        (
            {"kind": "function", "source": "fn", "output": "o.zip", "with": "dev"},
            "with applies to bundled dependencies; set requirements too",
        ),
        ({"kind": "layer", "requirements": "nope.txt", "output": "o.zip"}, "nope.txt"),
        ('{"kind": "function", "level": 9}', "not a string"),
        ("[1, 2]", "one JSON object"),
        ("kind=function", "not JSON"),
    ],
)
def test_failures_are_one_line_on_stderr(
    project: Path, query: dict[str, str] | str, needle: str
) -> None:
    outcome = external(query, project)
    assert outcome.returncode != 0 and outcome.result is None
    assert outcome.stdout == ""
    assert outcome.error is not None
    lines = outcome.error.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("detzip: error: "), outcome.error
    assert needle in lines[0]
    assert not (project / "o.zip").exists()


def test_an_empty_query_names_what_is_needed(project: Path) -> None:
    outcome = external("", project)
    assert outcome.returncode == 2 and outcome.error is not None and "kind" in outcome.error


@pytest.mark.slow
def test_over_the_direct_upload_size_fails_by_default(tmp_path: Path) -> None:
    """Terraform's filename uploads directly: over 50 MiB is an error at plan time."""
    make_tree(tmp_path / "fn", {"app.py": "x = 1\n"})
    (tmp_path / "fn" / "blob.bin").write_bytes(os.urandom(52_428_800 + 10))
    query = {"kind": "function", "source": "fn", "output": "o.zip", "compressor": "store"}
    outcome = external({**query, "cache": "off"}, tmp_path)
    assert outcome.returncode == 1 and outcome.error is not None
    assert '(upload = "s3")' in outcome.error and outcome.stdout == ""  # Terraform's words
    assert not (tmp_path / "o.zip").exists()
    fine = external({**query, "cache": "off", "upload": "s3"}, tmp_path)
    assert fine.result is not None, fine.error


SERVICE = SRC.parent / "examples" / "service"


@pytest.mark.parametrize("stack", ["terraform", "terraform-one-shot"])
def test_the_example_configuration_is_valid_terraform_syntax(stack: str) -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH")
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-diff", str(SERVICE / stack)],
        capture_output=True,
        text=True,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_queries_name_declared_artifacts() -> None:
    from detzip import project
    from detzip.terraform import PROJECT_FORM

    text = (SERVICE / "terraform" / "build.tf").read_text()
    queries = re.findall(r"query\s*=\s*\{(.*)\}$", text, flags=re.M)
    assert len(queries) == 3
    declared = project.load(SERVICE)
    for query in queries:
        pairs = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', query))
        assert set(pairs) <= set(PROJECT_FORM), pairs
        assert pairs["config"] == "${path.module}/.."
        assert pairs["artifact"] in declared.artifacts


def test_the_one_shot_example_asks_for_every_artifact_in_one_query() -> None:
    from detzip.terraform import PROJECT_FORM

    text = (SERVICE / "terraform-one-shot" / "build.tf").read_text()
    assert text.count('data "external"') == 1
    (query,) = re.findall(r"query\s*=\s*\{(.*)\}$", text, flags=re.M)
    pairs = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', query))
    assert set(pairs) <= set(PROJECT_FORM), pairs
    assert pairs == {"config": "${path.module}/..", "artifacts": "*"}


# -- the same result strings from any checkout ---------------------------------------------------

CHECKOUT = """
[project]
name = "svc"
version = "0.1.0"

[tool.detzip]
output_dir = ".build"
runtime = "python3.11"
arch = "arm64"
find_links = ["{wheels}"]
no_index = true

[tool.detzip.layers.deps]
requirements = "uv.lock"
exclude_packages = ["native"]

[tool.detzip.functions.api]
source = "functions/api"
layers = ["deps"]

[tool.detzip.functions.whole]
source = "."
"""


def _checkout(where: Path, repo: Repo, seed: int) -> Path:
    """The service at ``where``, with its own file times (a teammate's clone, or CI's)."""
    import random

    make_tree(where, {"functions/api/app.py": HANDLER,
                      "terraform/main.tf": "# the stack\n",
                      "pyproject.toml": CHECKOUT.format(wheels=repo.folder)})  # fmt: skip
    repo.write("uv", where)
    rng = random.Random(seed)
    for path in sorted(where.rglob("*")):
        moment = rng.randint(400_000_000, 1_900_000_000)
        os.utime(path, (moment, moment))
    return where


@pytest.mark.slow
def test_results_are_the_same_from_any_checkout(repo: Repo, tmp_path: Path) -> None:
    one = _checkout(tmp_path / "alice" / "service", repo, 1)
    two = _checkout(tmp_path / "ci" / "build" / "checkout", repo, 2)
    queries = [
        {"config": "..", "artifact": "deps"},
        {"config": "..", "artifact": "api"},
        {"kind": "function", "source": "../functions/api", "output": "../.build/k.zip",
         "runtime": "python3.11", "arch": "arm64"},
    ]  # fmt: skip
    for query in queries:
        # as build.tf's data sources run: from the stack's folder, each with an empty cache
        first = external(query, one / "terraform", {"DETZIP_CACHE_DIR": str(tmp_path / "c1")})
        second = external(query, two / "terraform", {"DETZIP_CACHE_DIR": str(tmp_path / "c2")})
        assert first.result is not None and second.result is not None, (first.error, second.error)
        assert first.result == second.result, query  # cache: a miss in both
        assert not first.result["path"].startswith("/")
        assert (one / "terraform" / first.result["path"]).resolve().is_file()
    api = external(queries[1], one / "terraform", {"DETZIP_CACHE_DIR": str(tmp_path / "c1")})
    assert api.result is not None
    assert api.result["path"] == "../.build/api.zip" and api.result["cache"] == "hit"
    assert (api.result["runtime"], api.result["arch"], api.result["layers"]) == (
        "python3.11", "arm64", "deps",
    )  # fmt: skip


@pytest.mark.slow
def test_the_output_dir_and_the_cache_are_never_packed(repo: Repo, tmp_path: Path) -> None:
    root = _checkout(tmp_path / "svc", repo, 3)
    make_tree(root, {".build/stale.zip": "old output", "cache/artifacts/x.json": "{}",
                     "lib.egg-info/PKG-INFO": "debris"})  # fmt: skip
    query = {"config": "..", "artifact": "whole", "cache_dir": "../cache"}
    first = external(query, root / "terraform")
    assert first.result is not None, first.error
    import zipfile

    names = zipfile.ZipFile(root / ".build" / "whole.zip").namelist()
    assert not [n for n in names if n.startswith((".build/", "cache/", "lib.egg-info/"))], names
    assert "functions/api/app.py" in names and "uv.lock" in names
    # built again after other artifacts were written beside it: the same bytes
    external({"config": "..", "artifact": "api", "cache_dir": "../cache"}, root / "terraform")
    again = external({**query, "cache": "off"}, root / "terraform")
    assert again.result is not None and again.result["sha256"] == first.result["sha256"]


# -- the same strings on every OS (issue 30) ---------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "path", "cwd", "expected"),
    [
        ("posix", "/repo/.build/api.zip", "/repo/infra", "../.build/api.zip"),
        ("posix", "../.build/api.zip", "/repo/infra", "../.build/api.zip"),
        ("nt", "C:\\repo\\.build\\api.zip", "C:\\repo\\infra", "../.build/api.zip"),
        ("nt", "..\\.build\\api.zip", "C:\\repo\\infra", "../.build/api.zip"),
        ("nt", "c:\\Repo\\.build\\api.zip", "C:\\repo\\infra", "../.build/api.zip"),
        ("nt", "D:\\builds\\api.zip", "C:\\repo\\infra", "D:/builds/api.zip"),  # another drive
    ],
)
def test_the_path_uses_slashes_on_every_os(
    flavour: str, path: str, cwd: str, expected: str
) -> None:
    """Windows's path rules (``ntpath``, which runs anywhere): ``..\\.build\\api.zip`` on a
    laptop and ``../.build/api.zip`` in CI changed ``filename`` between them; another drive
    was a ValueError traceback."""
    import ntpath
    import posixpath

    from detzip.terraform import terraform_path

    assert terraform_path(path, cwd, ntpath if flavour == "nt" else posixpath) == expected


def test_the_query_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """Windows decodes stdin with its ANSI code page: ``C:\\Users\\José`` arrived mangled.
    Simulated with a Latin-1 stdin encoding; Terraform sends UTF-8."""
    make_tree(tmp_path / "José" / "src", {"app.py": HANDLER})
    query = {"kind": "function", "source": "José/src", "output": "José/out.zip"}
    text = json.dumps(query, ensure_ascii=False)  # (the bytes of é on stdin, as UTF-8)
    done = external(text, tmp_path, env={"PYTHONIOENCODING": "latin-1"})
    assert done.returncode == 0 and done.result is not None, done.error
    assert done.result["path"] == "José/out.zip"
    assert (tmp_path / "José" / "out.zip").is_file()
