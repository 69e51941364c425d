"""`detzip why`: what changed since the last build of an artifact (or between two builds), one
test per kind of difference; it reads and never writes. Offline: the layer's wheels are made by
the tests and locked in a pylock.toml with file URLs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from detzip import __version__, cli, project
from detzip.builder import describe
from detzip.cache.keys import KEY_VERSION
from detzip.cache.local import Cache

from .conftest import assert_one_line_error, make_tree, run_cli
from .wheelfactory import Locked, Wheel, pylock_toml

CONFIG = """\
output_dir = "dist"
runtime = "{runtime}"

[layers.deps]
requirements = "pylock.toml"

[functions.api]
source = "functions/api"
exclude = [{exclude}]
layers = ["deps"]
"""


def lock(root: Path, versions: dict[str, str]) -> None:
    """pylock.toml pinning each package at its version (wheels made here, once per version)."""
    packages = []
    for name, version in sorted(versions.items()):
        wheel = Wheel(name, version, files={f"{name}.py": f"VERSION = {version!r}\n"})
        packages.append(Locked(name, version, [wheel.build(root / "wheels")]))
    (root / "pylock.toml").write_text(pylock_toml(packages))


def configure(root: Path, *, runtime: str = "python3.12", exclude: str = "") -> None:
    (root / "detzip.toml").write_text(CONFIG.format(runtime=runtime, exclude=exclude))


@pytest.fixture
def svc(tmp_path: Path) -> Path:
    """A project (function ``api`` using layer ``deps``) built once into ``dist/`` through the
    cache in ``tmp_path/cache``."""
    root = make_tree(
        tmp_path / "svc",
        {
            "functions/api/app.py": "def handler(event, context):\n    return 1\n",
            "functions/api/util.py": "X = 1\n",
            "functions/api/bootstrap": "#!/bin/sh\n",
            "functions/api/README.md": "notes\n",
        },
        executable={"functions/api/bootstrap"},
    )
    lock(root, {"alpha": "1.0.0", "gamma": "3.1"})
    configure(root)
    build(root)
    return root


def build(root: Path) -> None:
    project.load(root).build(cache=Cache(root.parent / "cache"))


def why(root: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``detzip why ARGS --json`` in this process; its report (exit 0, nothing on stderr but
    warnings)."""
    code = cli.main(["why", *args, "--config", str(root), "--cache-dir", str(root.parent / "cache"),
                     "--json"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    report: dict[str, Any] = json.loads(out)
    return report


def differences(report: dict[str, Any]) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (d["kind"], d.get("path", d.get("name")), d["old"], d["new"]) for d in report["differences"]
    ]


def test_nothing_changed(svc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("api", "deps"):
        report = why(svc, name, capsys=capsys)
        assert report["differences"] == [] and report["changed"] is False
        assert report["same_key"] is True and report["old_key"] == report["new_key"]
        assert "dist" in report["basis"]  # found by the output's sha256
    text = run_cli("why", "api", "--cache-dir", str(svc.parent / "cache"), cwd=svc / "functions")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("api: nothing changed since the last build (key ")
    assert len(text.stdout.splitlines()) == 1


def test_now_is_what_a_build_would_be_keyed_on(
    svc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """why describes a build now as the builder does (one walk gives it the files too)."""
    (svc / "functions/api/util.py").write_text("X = 5\n")
    lock(svc, {"alpha": "1.1.0", "gamma": "3.1"})
    loaded = project.load(svc)
    for name in ("api", "deps"):
        report = why(svc, name, capsys=capsys)
        key, _ = describe(
            loaded.artifacts[name].spec,
            Cache(svc.parent / "cache"),
            never_pack=[loaded.output_dir, loaded.output("api"), loaded.output("deps")],
        )
        assert report["new_key"] == key != report["old_key"]


def test_file_added(svc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (svc / "functions/api/lib").mkdir()
    (svc / "functions/api/lib/new.py").write_text("Y = 22\n")
    report = why(svc, "api", capsys=capsys)
    assert differences(report) == [("file added", "lib/new.py", None, "7 bytes")]
    assert report["differences"][0]["path"] == "lib/new.py"


def test_file_removed(svc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (svc / "functions/api/util.py").unlink()
    assert differences(why(svc, "api", capsys=capsys)) == [
        ("file removed", "util.py", "6 bytes", None)
    ]


def test_file_changed_in_size_and_in_content(svc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (svc / "functions/api/app.py").write_text("def handler(event, context):\n    return 22\n")
    (svc / "functions/api/util.py").write_text("X = 2\n")  # the same size, other bytes
    found = differences(why(svc, "api", capsys=capsys))
    assert [(kind, path) for kind, path, _, _ in found] == [
        ("file changed", "app.py"),
        ("file changed", "util.py"),
    ]
    assert found[0][2:] == ("42 bytes", "43 bytes")
    assert found[1][2] is not None and found[1][2].startswith("6 bytes, sha256 ")
    assert found[1][2] != found[1][3]


def test_exec_bit(svc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (svc / "functions/api/bootstrap").chmod(0o644)
    (svc / "functions/api/util.py").chmod(0o755)
    assert differences(why(svc, "api", capsys=capsys)) == [
        ("exec bit", "bootstrap", "executable", "not executable"),
        ("exec bit", "util.py", "not executable", "executable"),
    ]
    result = run_cli("why", "api", "--cache-dir", str(svc.parent / "cache"), cwd=svc)
    assert "exec bit: bootstrap (no longer executable)" in result.stdout.splitlines()
    assert "exec bit: util.py (now executable)" in result.stdout.splitlines()


def test_package_version_in_the_lock(svc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock(svc, {"alpha": "1.1.0", "gamma": "3.1", "delta": "0.1"})
    assert differences(why(svc, "deps", capsys=capsys)) == [
        ("package added", "delta", None, "0.1 (delta-0.1-py3-none-any.whl)"),
        (
            "package",
            "alpha",
            "1.0.0 (alpha-1.0.0-py3-none-any.whl)",
            "1.1.0 (alpha-1.1.0-py3-none-any.whl)",
        ),
    ]
    result = run_cli("why", "deps", "--cache-dir", str(svc.parent / "cache"), cwd=svc)
    assert (
        "package: alpha 1.0.0 (alpha-1.0.0-py3-none-any.whl) → 1.1.0 "
        "(alpha-1.1.0-py3-none-any.whl)" in result.stdout.splitlines()
    )


def test_option(svc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure(svc, exclude='"*.md"')
    assert differences(why(svc, "api", capsys=capsys)) == [
        ("option", "exclude", "[]", '["*.md"]'),
        ("file removed", "README.md", "6 bytes", None),
    ]


def test_target(svc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure(svc, runtime="python3.11")
    assert differences(why(svc, "deps", capsys=capsys)) == [
        ("target", "runtime", "python3.12", "python3.11")
    ]


def test_bundled_packages_are_named_not_their_files(
    svc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A function with its dependencies bundled: a package upgraded is one line, not a line
    per installed file; the function's own files are still compared one by one."""
    (svc / "detzip.toml").write_text(
        CONFIG.format(runtime="python3.12", exclude="") + 'requirements = "pylock.toml"\n'
    )
    build(svc)
    lock(svc, {"alpha": "1.1.0", "gamma": "3.1"})
    (svc / "functions/api/util.py").write_text("X = 22\n")
    assert differences(why(svc, "api", capsys=capsys)) == [
        (
            "package",
            "alpha",
            "1.0.0 (alpha-1.0.0-py3-none-any.whl)",
            "1.1.0 (alpha-1.1.0-py3-none-any.whl)",
        ),
        ("file changed", "util.py", "6 bytes", "7 bytes"),
    ]


def test_detzip_version_and_key_version(svc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A record of another detzip (its provenance) and of another key version."""
    [path] = (svc.parent / "cache/artifacts").glob("api-*.json")
    record = json.loads(path.read_text())
    record["provenance"] = {**record.get("provenance", {}), "detzip": "0.0.1"}
    record["detzip-cache-entry"] = KEY_VERSION - 1
    path.write_text(json.dumps(record))
    assert differences(why(svc, "api", capsys=capsys)) == [
        ("format", "cache key version", str(KEY_VERSION - 1), str(KEY_VERSION)),
        ("detzip", "detzip", "0.0.1", __version__),
    ]


def test_the_newest_record_when_the_output_is_gone(
    svc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (svc / "dist/api.zip").unlink()
    (svc / "functions/api/util.py").unlink()
    report = why(svc, "api", capsys=capsys)
    assert "is missing: the newest record of api, api-" in report["basis"]
    assert differences(report) == [("file removed", "util.py", "6 bytes", None)]  # cache's zip


def test_two_zips(svc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dist = svc / "dist"
    old = shutil.copy(dist / "deps.zip", svc.parent / "old-deps.zip")
    old_api = shutil.copy(dist / "api.zip", svc.parent / "old-api.zip")
    lock(svc, {"alpha": "1.1.0", "gamma": "3.1"})
    (svc / "functions/api/util.py").write_text("X = 333\n")
    build(svc)
    report = why(svc, str(old), str(dist / "deps.zip"), capsys=capsys)
    assert differences(report) == [  # the package, not each of its files
        (
            "package",
            "alpha",
            "1.0.0 (alpha-1.0.0-py3-none-any.whl)",
            "1.1.0 (alpha-1.1.0-py3-none-any.whl)",
        )
    ]
    report = why(svc, str(old_api), str(dist / "api.zip"), capsys=capsys)
    [(kind, path, before, after)] = differences(report)
    assert (kind, path) == ("file changed", "util.py")
    assert before is not None and after is not None and before.startswith("6 bytes")
    assert after.startswith("8 bytes")


def test_no_record_is_one_line(svc: Path, tmp_path: Path) -> None:
    empty = tmp_path / "other-cache"
    result = run_cli("why", "api", "--cache-dir", str(empty), cwd=svc)
    assert_one_line_error(result, "no record of a build of api", "build it once")
    assert not empty.exists()
    stray = make_tree(tmp_path / "stray", {"a.py": "1\n"})
    done = run_cli("function", str(stray), "-o", str(tmp_path / "stray.zip"), "--no-cache")
    assert done.returncode == 0, done.stderr
    result = run_cli("why", str(tmp_path / "stray.zip"), str(svc / "dist/api.zip"),
                     "--cache-dir", str(svc.parent / "cache"))  # fmt: skip
    assert_one_line_error(result, "stray.zip", "no record of this zip", "detzip diff")
    assert_one_line_error(run_cli("why", "nope", cwd=svc), "no artifact named nope")
    assert_one_line_error(run_cli("why", "a.zip", "b.zip", "c.zip", cwd=svc), "c.zip")


def _snapshot(*folders: Path) -> dict[str, tuple[int, int, bytes]]:
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            info = path.lstat()
            content = path.read_bytes() if path.is_file() else b""
            found[str(path)] = (info.st_mtime_ns, info.st_mode, content)
    return found


def test_never_writes(svc: Path) -> None:
    """Files, options and the lock changed, so a build would write its zips, cache entries,
    memos (the resolution, the stat memo): why writes none of them, nor touches the outputs."""
    (svc / "functions/api/app.py").write_text("def handler(event, context):\n    return 2\n")
    (svc / "functions/api/new.py").write_text("N = 1\n")
    lock(svc, {"alpha": "1.1.0", "gamma": "3.1"})
    configure(svc, exclude='"*.md"')
    cache = svc.parent / "cache"
    before = _snapshot(svc / "dist", cache)
    for name in ("api", "deps"):
        result = run_cli("why", name, "--cache-dir", str(cache), cwd=svc)
        assert result.returncode == 0, result.stderr
        assert "change" in result.stdout.splitlines()[0]
        assert len(result.stdout.splitlines()) > 1
    assert _snapshot(svc / "dist", cache) == before
    assert sorted(os.listdir(svc / "dist")) == ["api.zip", "deps.zip"]
