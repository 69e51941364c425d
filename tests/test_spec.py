"""The spec (detzip.spec): ArtifactSpec.create fills in each door's defaults and refuses an
option that lacks what it needs, naming both."""

from __future__ import annotations

from pathlib import Path

from detzip import cli, project, terraform

from .conftest import assert_one_line_error, make_tree, run_cli


def test_terraform_defaults_upload_to_direct_in_both_forms(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {"app.py": "x = 1\n"})
    query = {"kind": "function", "source": str(tmp_path / "src"), "output": str(tmp_path / "a.zip")}
    assert terraform.spec_from_query(query).upload == "direct"
    assert cli.parse_spec(["function", str(tmp_path / "src"), "-o", "a.zip"]).upload is None
    config = tmp_path / "detzip.toml"
    config.write_text(f'[functions.f]\nsource = "{tmp_path / "src"}"\n')
    assert project.load(config).artifacts["f"].spec.upload is None
    assert project.load(config, door="terraform").artifacts["f"].spec.upload == "direct"
    config.write_text(f'upload = "s3"\n[functions.f]\nsource = "{tmp_path / "src"}"\n')
    assert project.load(config, door="terraform").artifacts["f"].spec.upload == "s3"


def test_recompress_on_a_function_without_dependencies_is_refused(
    tmp_path: Path, handler_tree: Path
) -> None:
    src = handler_tree
    out = tmp_path / "fn.zip"
    proc = run_cli("function", str(src), "-o", str(out), "--recompress")
    assert_one_line_error(proc, "--recompress", "--requirements")
    assert not out.exists()
