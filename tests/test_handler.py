"""A first deploy that works (issue 16): the handler Lambda will call is checked in the zip and
its layers, external layers count in the limits, and dependencies come straight from
pyproject.toml."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from detzip import DetzipError, build_function
from detzip.handler import check_handler, defined_names

from .conftest import assert_one_line_error, run_cli


def _zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


HANDLERS = {
    "app.py": "import json\n\ndef handler(event, context):\n    return 1\n",
    "svc/__init__.py": "",
    "svc/handlers/api.py": "from mangum import Mangum\nfrom .web import app\nhandler = Mangum(app)\n",
    "svc/handlers/web.py": "@decorate\ndef lambda_handler(event, context):\n    return 2\n",
    "svc/handlers/reexport.py": "from svc.handlers.web import lambda_handler as main\n",
    "svc/handlers/guarded.py": (
        "try:\n    import fast as impl\nexcept ImportError:\n    impl = None\n"
        "if impl:\n    def run(e, c): pass\n"
    ),
    "pkg/__init__.py": "async def handle(event, context):\n    return 3\n",
    "starred.py": "from somewhere import *\n",
    "lazy.py": "def __getattr__(name):\n    return name\n",
    "broken.py": "def handler(event, context)\n    return 1\n",
}


@pytest.mark.parametrize(
    "handler",
    ["app.handler", "svc.handlers.api.handler", "svc.handlers.web.lambda_handler",
     "svc.handlers.reexport.main", "svc.handlers.guarded.impl", "svc.handlers.guarded.run",
     "pkg.handle", "app.json"],
)  # fmt: skip
def test_a_handler_lambda_will_find_passes(tmp_path: Path, handler: str) -> None:
    check_handler(handler, _zip(tmp_path / "f.zip", HANDLERS), [], "python3.12", "f.zip")


@pytest.mark.parametrize(
    ("handler", "needles"),
    [
        ("ap.handler", ["Runtime.ImportModuleError", "no module ap", "did you mean app.handler"]),
        ("app.handle", ["Runtime.HandlerNotFound", "app.py defines no top-level handle",
                        "did you mean app.handler"]),
        ("svc.handlers.apii.handler", ["did you mean svc.handlers.api.handler"]),
        ("broken.handler", ["Runtime.UserCodeSyntaxError", "broken.py line 1"]),
        ("nodots", ["is not MODULE.FUNCTION"]),
    ],
)  # fmt: skip
def test_a_handler_lambda_would_not_find_is_refused_naming_the_error(
    tmp_path: Path, handler: str, needles: list[str]
) -> None:
    with pytest.raises(DetzipError) as caught:
        check_handler(handler, _zip(tmp_path / "f.zip", HANDLERS), [], "python3.12", "f.zip")
    for needle in needles:
        assert needle in str(caught.value), str(caught.value)


@pytest.mark.parametrize("handler", ["starred.handler", "lazy.handler"])
def test_names_that_cannot_be_read_statically_give_a_warning(
    tmp_path: Path, handler: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="detzip"):
        check_handler(handler, _zip(tmp_path / "f.zip", HANDLERS), [], "python3.12", "f.zip")
    assert "cannot tell whether" in caplog.text


def test_a_handler_module_in_a_layer_is_found(tmp_path: Path) -> None:
    function = _zip(tmp_path / "f.zip", {"README.txt": ""})
    layer = _zip(tmp_path / "l.zip", {"python/shared/entry.py": "def handler(e, c): pass\n"})
    check_handler("shared.entry.handler", function, [layer], "python3.12", "f.zip")
    deep = _zip(tmp_path / "d.zip", {
        "python/lib/python3.12/site-packages/vendored/entry.py": "def handler(e, c): pass\n",
    })  # fmt: skip
    check_handler("vendored.entry.handler", function, [deep], "python3.12", "f.zip")
    with pytest.raises(DetzipError, match=r"no module vendored\.entry"):
        check_handler("vendored.entry.handler", function, [deep], "python3.11", "f.zip")
    native = _zip(tmp_path / "n.zip", {"python/fast.cpython-312-x86_64-linux-gnu.so": ""})
    check_handler("fast.handler", function, [native], "python3.12", "f.zip")


def test_every_door_checks_the_handler_before_the_output_is_written(
    tmp_path: Path, handler_tree: Path
) -> None:
    src = handler_tree
    built = build_function(src, tmp_path / "ok.zip", handler="app.handler", cache=False)
    assert built.path.is_file()
    out = tmp_path / "bad.zip"
    result = run_cli("function", str(src), "-o", str(out), "--handler", "app.main")
    assert_one_line_error(result, "--handler app.main", "Runtime.HandlerNotFound", str(out))
    assert not out.exists()
    query = {"kind": "function", "source": "src", "output": "tf.zip", "handler": "app.handler"}
    done = run_cli("terraform", input=json.dumps(query), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["handler"] == "app.handler"
    query["handler"] = "app.nope"
    refused = run_cli("terraform", input=json.dumps(query), cwd=tmp_path)
    assert_one_line_error(refused, "tf.zip: handler app.nope", "Runtime.HandlerNotFound")


def test_defined_names_reads_every_top_level_binding() -> None:
    import ast

    names, opaque = defined_names(ast.parse(
        "import a.b\nfrom c import d as e\nx, (y, *z) = 1, (2, 3)\nw: int = 1\n"
        "class K: pass\nwith open('f') as f:\n    inner = 1\n"
    ).body)  # fmt: skip
    assert names >= {"a", "e", "x", "y", "z", "w", "K", "inner"} and opaque == ""


# -- layers detzip does not build count in the limits --------------------------------------------

POWERTOOLS = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3:7"


def test_external_layers_count_in_the_unzipped_total_and_the_layer_count(
    tmp_path: Path, handler_tree: Path
) -> None:
    src = handler_tree
    fits = build_function(src, tmp_path / "a.zip", external_layers=[
        {"arn": POWERTOOLS, "unzipped_size": 20_000_000}], cache=False)  # fmt: skip
    assert fits.ok and fits.unzipped_total == fits.unzipped_size + 20_000_000
    big = build_function(src, tmp_path / "b.zip", external_layers=[
        (POWERTOOLS, 262_200_000)], cache=False)  # fmt: skip
    assert not big.ok and "AWSLambdaPowertoolsPythonV3:7 262,200,000" in big.problems[0]
    many = [(f"{POWERTOOLS[:-1]}{i}", 1) for i in range(6)]
    six = build_function(src, tmp_path / "c.zip", external_layers=many, cache=False)
    assert six.problems == ("c uses 6 layers (6 of them external); Lambda allows 5",)
    over = run_cli("function", str(src), "-o", str(tmp_path / "d.zip"), "--external-layer",
                   f"{POWERTOOLS}=262200000")  # fmt: skip
    assert over.returncode == 1 and "262,144,000" in over.stderr
    bad = run_cli("function", str(src), "-o", str(tmp_path / "e.zip"), "--external-layer",
                  "arn:aws:lambda:x=lots")  # fmt: skip
    assert_one_line_error(bad, "--external-layer", "not a layer ARN with its unzipped size")


def test_external_layers_at_every_door(tmp_path: Path, handler_tree: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.detzip.functions.api]\nsource = "src"\nhandler = "app.handler"\n'
        f'external_layers = [{{arn = "{POWERTOOLS}", unzipped_size = 262200000}}]\n'
    )
    over = run_cli("build", cwd=tmp_path)
    assert over.returncode == 1 and "AWSLambdaPowertoolsPythonV3:7" in over.stdout + over.stderr
    query = {"kind": "function", "source": "src", "output": "q.zip",
             "external_layers": json.dumps([{"arn": POWERTOOLS, "unzipped_size": 1000}])}  # fmt: skip
    done = run_cli("terraform", input=json.dumps(query), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.detzip.functions.api]\nsource = "src"\nlayers = ["{POWERTOOLS}"]\n'
    )
    refused = run_cli("build", cwd=tmp_path)
    assert_one_line_error(refused, "is an ARN", "external_layers = [{arn", "unzipped_size")


def test_check_counts_external_layers_and_says_layer_counts_only_of_a_function(
    tmp_path: Path,
) -> None:
    layer = _zip(tmp_path / "l.zip", {"python/x.py": ""})
    alone = run_cli("check", "--layer", str(layer), "--json")
    report = json.loads(alone.stdout)
    assert [c["check"] for c in report["checks"]] == ["zipped size", "base64 request",
                                                      "unzipped size"]  # fmt: skip
    assert "1 entry" in run_cli("check", "--layer", str(layer)).stdout
    function = _zip(tmp_path / "f.zip", {"app.py": ""})
    over = run_cli("check", str(function), "--layer", str(layer), "--json",
                   "--external-layer", f"{POWERTOOLS}=262200000")  # fmt: skip
    report = json.loads(over.stdout)
    assert over.returncode == 1 and not report["ok"]
    assert report["external_layers"] == [{"arn": POWERTOOLS, "unzipped_size": 262_200_000}]
    assert {c["check"]: c["value"] for c in report["checks"]}["layers"] == 2


# -- errata -------------------------------------------------------------------------------------


@pytest.mark.network
def test_the_license_ships_in_the_sdist_and_the_wheel(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import tarfile

    root = Path(__file__).resolve().parents[1]
    assert "MIT License" in (root / "LICENSE").read_text()
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv (the bench extra) builds the distributions")
    subprocess.run([uv, "build", "--out-dir", str(tmp_path), str(root)], check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    [wheel] = tmp_path.glob("detzip-*.whl")
    [sdist] = tmp_path.glob("detzip-*.tar.gz")
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as archive:
        assert any(n.endswith("/LICENSE") for n in archive.getnames())


def test_a_lock_made_for_another_machine_says_to_lock_for_the_target(tmp_path: Path) -> None:
    from .wheelfactory import Wheel, sha256_file

    wheel = Wheel("fastjson", "1.0", "cp311-cp311-manylinux_2_17_x86_64",
                  files={"fastjson.py": ""}).build(tmp_path)  # fmt: skip
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "pip"\n[[packages]]\nname = "fastjson"\n'
        f'version = "1.0"\n[[packages.wheels]]\nname = "{wheel.name}"\nurl = "{wheel.as_uri()}"\n'
        f'hashes = {{sha256 = "{sha256_file(wheel)}"}}\n'
    )
    result = run_cli("layer", "-r", str(lock), "-o", str(tmp_path / "l.zip"), "--runtime",
                     "python3.12", "--no-index")  # fmt: skip
    assert_one_line_error(result, "fastjson 1.0 has no wheel for python3.12",
                          "lock for the target", "--python-version 3.12")  # fmt: skip


def test_the_target_never_depends_on_the_build_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform
    import sys

    from detzip.deps.targets import Target

    here = Target("python3.12", "arm64")
    before = (here.marker_environment(), here.pip_arguments(), [str(t) for t in here.tags])
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    there = Target("python3.12", "arm64")
    assert (there.marker_environment(), there.pip_arguments(),
            [str(t) for t in there.tags]) == before  # fmt: skip
