"""End to end with the real terraform binary and aws provider, against moto on loopback.

The example service's stack (examples/service/terraform/lambda.tf) is applied with what its
build.tf queries return: each ``data "external"`` query is sent to ``detzip terraform`` from the
stack's folder, as the provider would (the hashicorp/external provider is not in the offline
mirror; its protocol is tested in test_terraform.py), and the results become ``local.zips``.
The layer comes from the service's poetry.lock, so this needs PyPI.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

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

BIG = """
# a function over Lambda's 52,428,800-byte direct upload, read from the S3 cache's object
resource "aws_lambda_function" "big" {
  function_name     = "orders-big"
  role              = aws_iam_role.lambda.arn
  runtime           = local.zips.big.runtime
  architectures     = [local.zips.big.arch]
  handler           = "app.handler"
  s3_bucket         = local.zips.big.s3_bucket
  s3_key            = local.zips.big.s3_key
  s3_object_version = local.zips.big.s3_object_version == "" ? null : local.zips.big.s3_object_version
  source_code_hash  = local.zips.big.base64sha256
}

output "hashes" {
  value = { for name, zip in local.zips : name => zip.base64sha256 }
}
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

    def changes(self, planfile: str) -> dict[str, list[str]]:
        """A plan that changes something (exit 2 of ``-detailed-exitcode``), saved to
        ``planfile``: each resource it changes, with its actions."""
        plan = self("plan", "-detailed-exitcode", "-no-color", f"-out={planfile}", check=False)
        assert plan.returncode == 2, plan.stdout[-3000:] + plan.stderr[-3000:]
        shown = json.loads(self("show", "-json", planfile).stdout)
        return {
            c["address"]: c["change"]["actions"]
            for c in shown["resource_changes"]
            if c["change"]["actions"] != ["no-op"]
        }


def queries(stack: Path) -> dict[str, dict[str, str]]:
    """The queries of build.tf's ``data "external"`` blocks, as Terraform sends them from the
    stack's folder (``${path.module}`` is ``.`` in the root module)."""
    text = (stack / "build.tf").read_text()
    found = {}
    for name, body in re.findall(
        r'data "external" "(\w+)" \{.*?query\s*=\s*\{(.*?)\}\s*\n', text, re.S
    ):
        pairs = re.findall(r'(\w+)\s*=\s*"([^"]*)"', body)
        found[name] = {key: value.replace("${path.module}", ".") for key, value in pairs}
    return found


def detzip_terraform(query: dict[str, str], stack: Path, env: dict[str, str],
                     umask: int = 0o022) -> dict[str, str]:  # fmt: skip
    """``detzip terraform`` run from the stack's folder with ``query``, as the external data
    source runs it (the hashicorp/external provider is not in the offline mirror): its result,
    which must be an object of strings."""
    done = subprocess.run(
        [sys.executable, "-m", "detzip", "terraform"],
        input=json.dumps(query),
        cwd=stack,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC), **env},
        preexec_fn=lambda: os.umask(umask),
        timeout=900,
    )
    assert done.returncode == 0, (query, done.stderr[-3000:])
    result: dict[str, str] = json.loads(done.stdout)
    assert all(isinstance(value, str) for value in result.values())  # the protocol's only type
    return result


def external_results(stack: Path, more: dict[str, dict[str, str]], env: dict[str, str],
                     umask: int = 0o022) -> dict[str, dict[str, str]]:  # fmt: skip
    """Run each query of build.tf (and ``more``) as the external data source does, and hand the
    results to the configuration as ``local.zips`` in place of build.tf."""
    results = {
        name: detzip_terraform(query, stack, env, umask)
        for name, query in {**queries(stack), **more}.items()
    }
    (stack / "build.tf").unlink(missing_ok=True)
    (stack / "zips.tf.json").write_text(json.dumps({"locals": {"zips": results}}, indent=2))
    return results


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


def _big_source(where: Path) -> Path:
    """A handler with 53 MB of incompressible data: over the direct-upload limit."""
    where.mkdir(parents=True)
    (where / "app.py").write_text("def handler(event, context):\n    return 'big'\n")
    (where / "blob.bin").write_bytes(random.Random(11).randbytes(53_000_000))
    return where


@pytest.fixture
def mirror() -> Path:
    """The provider mirror terraform installs from (the test is skipped without terraform or
    a mirror: no registry is reachable here)."""
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH")
    found = find_mirror()
    if found is None:
        pytest.skip("no terraform provider mirror with hashicorp/aws (set DETZIP_TF_MIRROR)")
    return found


def test_the_same_plan_from_any_checkout_and_a_big_zip_through_s3(
    tmp_path: Path, mirror: Path
) -> None:
    """Apply from one checkout; from a second copy at another absolute path, with other mtimes,
    umask and an empty cache, the plan shows no change; one byte changes one function only."""
    server = MotoServer()
    try:
        server.client().create_bucket(Bucket="orders-artifacts")
        big = {"kind": "function", "source": "../big", "output": "../.build/big.zip",
               "runtime": "python3.12", "arch": "arm64", "compressor": "store",
               "upload": "s3", "cache": "s3://orders-artifacts/detzip"}  # fmt: skip

        def checkout(where: Path, umask: int) -> tuple[Path, dict[str, dict[str, str]]]:
            service = fresh_sources(EXAMPLES / "service", where / "service")
            _big_source(service / "big")
            stack = service / "terraform"
            (stack / "versions.tf").unlink()  # its provider block points at AWS: moto's here
            (stack / "providers.tf").write_text(PROVIDERS)
            (stack / "big.tf").write_text(BIG)
            env = {**server.env(), "DETZIP_CACHE_DIR": str(where / "cache")}
            return stack, external_results(stack, {"big": big}, env, umask)

        stack, first = checkout(tmp_path / "alice", 0o022)
        assert first["api"]["path"] == "../.build/api.zip"
        assert int(first["big"]["size"]) > 52_428_800
        assert first["big"]["s3_bucket"] == "orders-artifacts"
        tf = Terraform(stack, mirror, server.url)
        tf("init", "-no-color")
        tf("apply", "-auto-approve", "-no-color")

        lam = server.client("lambda")
        for name in ("api", "worker", "big"):
            config = lam.get_function(FunctionName=f"orders-{name}")["Configuration"]
            assert config["CodeSha256"] == first[name]["base64sha256"], name
            assert config["CodeSize"] == int(first[name]["size"])
        version = lam.list_layer_versions(LayerName="orders-deps")["LayerVersions"][0]
        content = lam.get_layer_version(LayerName="orders-deps", VersionNumber=version["Version"])
        assert content["Content"]["CodeSha256"] == first["deps"]["base64sha256"]
        assert version["CompatibleRuntimes"] == ["python3.12"]
        # the provider's code_sha256 (read-only in 5.100; an argument in newer releases, which
        # compare it with what Lambda reports) is detzip's base64sha256, in Terraform's state
        state = json.loads((stack / "terraform.tfstate").read_text())
        recorded = {
            resource["name"]: resource["instances"][0]["attributes"]["code_sha256"]
            for resource in state["resources"]
            if resource["type"] == "aws_lambda_function"
        }
        assert recorded == {n: first[n]["base64sha256"] for n in ("api", "worker", "big")}

        # a CI checkout elsewhere: other path, mtimes and umask, an empty local cache
        other, second = checkout(tmp_path / "ci" / "build" / "job-7", 0o077)
        same = {n: {k: v for k, v in r.items() if k != "cache"} for n, r in second.items()}
        assert same == {n: {k: v for k, v in r.items() if k != "cache"} for n, r in first.items()}
        assert second["big"]["cache"] == "hit"  # from the S3 cache: already uploaded
        for name in ("terraform.tfstate", ".terraform.lock.hcl"):
            shutil.copy(stack / name, other / name)
        shutil.copytree(stack / ".terraform", other / ".terraform", symlinks=True)
        tf_other = Terraform(other, mirror, server.url)
        plan = tf_other("plan", "-detailed-exitcode", "-no-color", check=False)
        assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]

        # one byte of one function changes: only that function is updated
        app = other.parent / "functions" / "api" / "app.py"
        app.write_text(app.read_text().replace("timeout=5", "timeout=6"))
        (other / "build.tf").write_text(
            (EXAMPLES / "service" / "terraform" / "build.tf").read_text()
        )
        third = external_results(other, {"big": big}, {**server.env(),
                                 "DETZIP_CACHE_DIR": str(tmp_path / "ci" / "build" / "job-7" / "cache")})  # fmt: skip
        assert third["api"]["sha256"] != first["api"]["sha256"]
        assert third["deps"]["cache"] == "hit" and third["worker"]["cache"] == "hit"
        changes = tf_other.changes("changed.tfplan")
        assert changes == {"aws_lambda_function.api": ["update"]}, changes
    finally:
        server.stop()


def one_shot_result(stack: Path, env: dict[str, str]) -> dict[str, str]:
    """The one data source of build.tf, run from the stack's folder as the external provider
    runs it; its flat result becomes ``local.built`` in place of build.tf."""
    (query,) = queries(EXAMPLES / "service" / "terraform-one-shot").values()
    result = detzip_terraform(query, stack, env)
    (stack / "build.tf").unlink(missing_ok=True)
    (stack / "built.tf.json").write_text(json.dumps({"locals": {"built": result}}, indent=2))
    return result


def test_the_one_shot_stack_deploys_every_function_and_grows_with_the_project(
    tmp_path: Path, mirror: Path
) -> None:
    """examples/service/terraform-one-shot: one query for the whole project, functions made by
    for_each over its names. Applied, every function and the layer carry the sha256s the
    per-artifact queries give; a function added to pyproject.toml is the plan's only change."""
    server = MotoServer()
    try:
        service = fresh_sources(EXAMPLES / "service", tmp_path / "service")
        stack = service / "terraform-one-shot"
        (stack / "versions.tf").unlink()  # its provider block points at AWS: moto's here
        (stack / "providers.tf").write_text(PROVIDERS)
        env = {"DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(tmp_path / "cache")}
        built = one_shot_result(stack, env)
        names = {key.rpartition(".")[0] for key in built}
        assert names == {"deps", "api", "worker"}
        assert built["api.layers"] == built["worker.layers"] == "deps"
        assert "deps.layers" not in built  # layers have none: the functions are found by it
        # the same strings as the per-artifact form (cache aside: those are hits now)
        for name in sorted(names):
            alone = detzip_terraform({"config": "..", "artifact": name}, stack, env)
            assert alone["cache"] == "hit"
            assert {f"{name}.{k}": v for k, v in alone.items() if k != "cache"} == {
                k: v for k, v in built.items() if k.startswith(f"{name}.") and k != f"{name}.cache"
            }

        tf = Terraform(stack, mirror, server.url)
        tf("init", "-no-color")
        tf("apply", "-auto-approve", "-no-color")
        lam = server.client("lambda")
        version = lam.list_layer_versions(LayerName="orders-deps")["LayerVersions"][0]
        layer = lam.get_layer_version(LayerName="orders-deps", VersionNumber=version["Version"])
        assert layer["Content"]["CodeSha256"] == built["deps.base64sha256"]
        for name in ("api", "worker"):
            config = lam.get_function(FunctionName=f"orders-{name}")["Configuration"]
            assert config["CodeSha256"] == built[f"{name}.base64sha256"], name
            assert config["Handler"] == built[f"{name}.handler"] == "app.handler"
            assert config["Architectures"] == [built[f"{name}.arch"]] == ["arm64"]
            assert [item["Arn"] for item in config["Layers"]] == [version["LayerVersionArn"]]
        outputs = json.loads(tf("output", "-json").stdout)
        assert outputs["hashes"]["value"] == {
            n: built[f"{n}.base64sha256"] for n in ("deps", "api", "worker")
        }

        # nothing changed: the plan is empty
        built_again = one_shot_result(stack, env)
        assert {k: v for k, v in built_again.items() if not k.endswith(".cache")} == {
            k: v for k, v in built.items() if not k.endswith(".cache")
        }
        assert all(built_again[f"{n}.cache"] == "hit" for n in names)
        plan = tf("plan", "-detailed-exitcode", "-no-color", check=False)
        assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]

        # a function added to pyproject.toml: the stack's files are untouched, the plan adds it
        # (declared without a handler: the result has no report.handler, the stack's lookup
        # gives its default)
        shutil.copytree(service / "functions" / "worker", service / "functions" / "report")
        with (service / "pyproject.toml").open("a") as project:
            project.write(
                '\n[tool.detzip.functions.report]\nsource = "functions/report"\nlayers = ["deps"]\n'
            )
        grown = one_shot_result(stack, env)
        assert grown["report.layers"] == "deps" and grown["deps.cache"] == "hit"
        assert "report.handler" not in grown
        changes = tf.changes("grown.tfplan")
        assert changes == {'aws_lambda_function.fn["report"]': ["create"]}, changes
    finally:
        server.stop()
