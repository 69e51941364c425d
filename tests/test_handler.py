"""The handler check (detzip.handler): the handler Lambda will call is looked for in the function
zip and its layers, statically, before the output is written; what Lambda would fail on is
refused naming its error and the nearest name, and what cannot be read statically is a
warning."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from detzip import DetzipError, build_function
from detzip.handler import check_handler, defined_names

from .conftest import assert_one_line_error, make_tree, run_cli


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
def test_a_handler_lambda_will_find_passes(
    tmp_path: Path, handler: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="detzip"):
        check_handler(handler, _zip(tmp_path / "f.zip", HANDLERS), [], "python3.12", "f.zip")
    assert caplog.records == []
    # a build with the handler: it passes the check silently, and the module is in the zip
    src = make_tree(tmp_path / "src", HANDLERS)
    out = tmp_path / "built.zip"
    built = run_cli("function", str(src), "-o", str(out), "--handler", handler, "--json")
    assert built.returncode == 0 and built.stderr == "", built.stderr
    assert json.loads(built.stdout)["problems"] == []
    module = handler.rsplit(".", 1)[0].replace(".", "/")
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert f"{module}.py" in names or f"{module}/__init__.py" in names, names


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


def test_a_pass_is_remembered_by_the_zips_sha256_and_the_handler(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hit's check (its zip's sha256 proven) recalls a pass instead of opening and parsing
    the zip; what a pass does not settle — another handler, another zip, a failure, a warning,
    a module found in a layer — is checked every time."""
    from detzip.cache.layout import Layout
    from detzip.cache.memo import Memo

    memo = Memo(Layout(tmp_path / "cache"))
    good = _zip(tmp_path / "f.zip", HANDLERS)
    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    check_handler("app.handler", good, [], "python3.12", "f.zip", sha256=sha, memo=memo)
    other = _zip(tmp_path / "g.zip", {"app.py": "def main(e, c): pass\n"})
    other_sha = hashlib.sha256(other.read_bytes()).hexdigest()
    opened: list[object] = []
    real_zipfile = zipfile.ZipFile

    def counting(path: Path) -> zipfile.ZipFile:
        opened.append(path)
        return real_zipfile(path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zipfile, "ZipFile", counting)
        check_handler("app.handler", good, [], "python3.12", "f.zip", sha256=sha, memo=memo)
        assert opened == []  # recalled: the zip was not opened
        # the memo is keyed on the sha256 it was given: other bytes are checked …
        for _ in range(2):  # … and a failure is said again, never remembered
            with pytest.raises(DetzipError, match=r"Runtime\.HandlerNotFound"):
                check_handler("app.handler", other, [], "python3.12", "g", sha256=other_sha,
                              memo=memo)  # fmt: skip
        # another handler in the same zip is checked, and its failure said
        with pytest.raises(DetzipError, match=r"Runtime\.HandlerNotFound"):
            check_handler("app.nope", good, [], "python3.12", "f.zip", sha256=sha, memo=memo)
        assert opened.count(good) == 1  # (app.nope: read again)
    # a warning is said on every check
    for _ in range(2):
        caplog.clear()
        with caplog.at_level("WARNING", logger="detzip"):
            check_handler("lazy.handler", good, [], "python3.12", "f.zip", sha256=sha, memo=memo)
        assert "cannot tell whether" in caplog.text
    # a module found in a layer depends on the layer too: not remembered by the function zip
    function = _zip(tmp_path / "bare.zip", {"README.txt": ""})
    bare = hashlib.sha256(function.read_bytes()).hexdigest()
    layer = _zip(tmp_path / "l.zip", {"python/shared/entry.py": "def handler(e, c): pass\n"})
    check_handler("shared.entry.handler", function, [layer], "python3.12", "f", sha256=bare,
                  memo=memo)  # fmt: skip
    with pytest.raises(DetzipError, match=r"no module shared\.entry"):
        check_handler("shared.entry.handler", function, [], "python3.12", "f", sha256=bare,
                      memo=memo)  # fmt: skip


def test_a_hit_recalls_the_handler_check_its_zip_passed(
    tmp_path: Path, handler_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build through the cache remembers its handler check's pass; the next build of the
    same bytes (a hit, its sha256 proven) recalls it without parsing; another handler of the
    same zip is parsed and refused."""
    from detzip import handler
    from detzip.cache.local import Cache

    cache = Cache(tmp_path / "cache")
    out = tmp_path / "f.zip"
    build_function(handler_tree, out, handler="app.handler", cache=cache)

    def parse(*args: object, **kwargs: object) -> bool:
        raise AssertionError("parsed again")

    monkeypatch.setattr(handler, "_check_module", parse)
    again = build_function(handler_tree, out, handler="app.handler", cache=cache)
    assert again.cache_hit
    with pytest.raises(AssertionError, match="parsed again"):
        build_function(handler_tree, tmp_path / "g.zip", handler="app.main", cache=cache)
