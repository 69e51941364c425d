"""End to end with the real terraform binary and aws provider, against moto on loopback.

The example service's resources (examples/service/terraform/lambda.tf) are applied with the zips
``detzip build`` made; the build step itself (build.tf's ``data "external"``) needs the
hashicorp/external provider, which is not in the offline mirror, so here the zips are built
first and handed over by path (the external protocol is tested in test_terraform.py). The layer
comes from the service's poetry.lock, so this needs PyPI.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import SRC
from .motoserver import MotoServer

pytestmark = [pytest.mark.e2e, pytest.mark.network, pytest.mark.slow]

EXAMPLES = SRC.parent / "examples"


def find_mirror() -> Path | None:
    """The provider mirror: $DETZIP_TF_MIRROR, else a folder holding registry.terraform.io
    up to three levels below / (where this machine keeps it)."""
    explicit = os.environ.get("DETZIP_TF_MIRROR")
    if explicit:
        return Path(explicit) if (Path(explicit) / "registry.terraform.io").is_dir() else None
    for pattern in (
        "*/registry.terraform.io",
        "*/*/registry.terraform.io",
        "*/*/*/registry.terraform.io",
    ):
        for found in sorted(Path("/").glob(pattern)):
            if (found / "hashicorp" / "aws").is_dir():
                return found.parent
    return None


PROVIDERS = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "endpoint" {
  type = string
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  endpoints {
    lambda = var.endpoint
    iam    = var.endpoint
    sts    = var.endpoint
    s3     = var.endpoint
  }
}
"""

PREBUILT = """
locals {{
  zips = {{
    for name in ["deps", "api", "worker"] : name => {{
      path         = "{folder}/${{name}}.zip"
      base64sha256 = filebase64sha256("{folder}/${{name}}.zip")
    }}
  }}
}}

output "hashes" {{
  value = {{ for name, zip in local.zips : name => zip.base64sha256 }}
}}
"""


class Terraform:
    def __init__(self, folder: Path, mirror: Path, endpoint: str) -> None:
        self.folder = folder
        self.endpoint = endpoint
        config = folder.parent / "terraform.rc"
        config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path = "{mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
        )
        self.env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(config),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "TF_INPUT": "0",
            "GOGC": "400",
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = ["terraform", *args]
        if args[0] in ("apply", "plan"):
            argv += ["-var", f"endpoint={self.endpoint}"]
        result = subprocess.run(
            argv, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=600
        )
        if check:
            assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
        return result


def detzip_build(service: Path, cache: Path, zips: Path, umask: int = 0o022) -> dict[str, Any]:
    """``detzip build`` in ``service``; the zips are then copied to ``zips`` (as CI would hand
    them to the deploy job). Returns each artifact's summary by name."""
    result = subprocess.run(
        [sys.executable, "-m", "detzip", "build", "--json", "--cache-dir", str(cache)],
        cwd=service,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC), "DETZIP_CACHE": ""},
        preexec_fn=lambda: os.umask(umask),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    zips.mkdir(exist_ok=True)
    for item in summary["artifacts"]:
        shutil.copyfile(item["path"], zips / f"{item['name']}.zip")
    return {item["name"]: item for item in summary["artifacts"]}


def fresh_sources(source: Path, where: Path) -> Path:
    """A copy with scrambled mtimes and permission bits (no exec bits, as in the original)."""
    shutil.copytree(source, where)
    rng = random.Random(7)
    for path in sorted(where.rglob("*")):
        moment = rng.randint(400_000_000, 1_900_000_000)
        os.utime(path, (moment, moment))
        if path.is_file():
            path.chmod(rng.choice([0o600, 0o640, 0o666, 0o444]))
    return where


def test_apply_then_unchanged_rebuild_plans_nothing(tmp_path: Path) -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH")
    mirror = find_mirror()
    if mirror is None:
        pytest.skip("no terraform provider mirror with hashicorp/aws (set DETZIP_TF_MIRROR)")

    zips = tmp_path / "zips"
    service = fresh_sources(EXAMPLES / "service", tmp_path / "a" / "service")
    first = detzip_build(service, tmp_path / "cache-a", zips)
    assert sorted(first) == ["api", "deps", "worker"]

    stack = tmp_path / "stack"
    stack.mkdir()
    shutil.copy(EXAMPLES / "service" / "terraform" / "lambda.tf", stack / "lambda.tf")
    (stack / "providers.tf").write_text(PROVIDERS)
    (stack / "prebuilt.tf").write_text(PREBUILT.format(folder=zips))

    server = MotoServer()
    try:
        tf = Terraform(stack, mirror, server.url)
        tf("init", "-no-color")
        tf("apply", "-auto-approve", "-no-color")

        lam = server.client("lambda")
        for name in ("api", "worker"):
            config = lam.get_function(FunctionName=f"orders-{name}")["Configuration"]
            assert config["CodeSha256"] == first[name]["base64sha256"], name
            assert config["CodeSize"] == first[name]["size"]
        version = lam.list_layer_versions(LayerName="orders-deps")["LayerVersions"][0]
        content = lam.get_layer_version(LayerName="orders-deps", VersionNumber=version["Version"])
        assert content["Content"]["CodeSha256"] == first["deps"]["base64sha256"]
        hashes = json.loads(tf("output", "-json").stdout)["hashes"]["value"]
        assert hashes == {name: item["base64sha256"] for name, item in first.items()}

        # a fresh checkout elsewhere, other mtimes and umask, an empty cache: no changes
        again = fresh_sources(EXAMPLES / "service", tmp_path / "b" / "service")
        second = detzip_build(again, tmp_path / "cache-b", zips, umask=0o077)
        assert not any(item["cache_hit"] for item in second.values())
        assert {n: i["sha256"] for n, i in second.items()} == {
            n: i["sha256"] for n, i in first.items()
        }
        plan = tf("plan", "-detailed-exitcode", "-no-color", check=False)
        assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]

        # one byte of one function changes: only that function is updated
        app = again / "functions" / "api" / "app.py"
        app.write_text(app.read_text().replace("timeout=5", "timeout=6"))
        third = detzip_build(again, tmp_path / "cache-b", zips)
        assert third["api"]["sha256"] != first["api"]["sha256"]
        assert third["deps"]["cache_hit"] and third["worker"]["cache_hit"]
        plan = tf("plan", "-detailed-exitcode", "-no-color", "-out=changed.tfplan", check=False)
        assert plan.returncode == 2, plan.stdout[-3000:] + plan.stderr[-3000:]
        shown = json.loads(tf("show", "-json", "changed.tfplan").stdout)
        changes = {
            c["address"]: c["change"]["actions"]
            for c in shown["resource_changes"]
            if c["change"]["actions"] != ["no-op"]
        }
        assert changes == {"aws_lambda_function.api": ["update"]}, changes
    finally:
        server.stop()
