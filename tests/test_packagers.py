"""End to end with the real packagers: ``aws cloudformation package`` (SAM/CloudFormation)
against moto's S3 on loopback, and ``cdk synth`` (the aws-cdk CLI from npm, aws-cdk-lib).

examples/sam and examples/cdk are copied to two checkouts (other absolute paths, scrambled
mtimes and permission bits, umask 022 and 077, an empty detzip cache each), built with
``detzip build`` and packaged: the packaged templates and asset manifests must be identical,
each zip must be uploaded or staged as it is (never rezipped), and a one-byte change in one
function's source must change that function's key or asset only.

The packagers live outside the project's venv: .ci/run installs them and names them in
DETZIP_AWS_CLI, DETZIP_CDK and DETZIP_CDK_PYTHON (else ``aws``, ``cdk`` and ``python3`` on
PATH). Without them the tests skip, except in CI, where they fail. The layer's wheels come
from PyPI, so this needs the network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .conftest import SRC
from .motoserver import MotoServer

pytestmark = [pytest.mark.e2e, pytest.mark.network, pytest.mark.slow]

EXAMPLES = SRC.parent / "examples"
BUCKET = "sam-artifacts"
ARTIFACTS = ("deps", "api", "events")
# one byte of the api function: what the one-byte change edits
EDIT = ("functions/api/app.py", "timeout=5.0", "timeout=6.0")


def _tool(variable: str, default: str) -> str:
    """The packager named by ``$variable``, else ``default`` on PATH; in CI (.ci/run installs
    them) a missing one fails instead of skipping."""
    named = os.environ.get(variable)
    found = shutil.which(named or default)
    if found is None:
        message = f"{named or default} not found (set {variable}; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _cdk_python() -> str:
    """The Python that runs the CDK app (cdk.json says ``python3 app.py``): one that has
    aws-cdk-lib and constructs."""
    python = _tool("DETZIP_CDK_PYTHON", "python3")
    probe = "import importlib.util as u, sys; sys.exit(not (u.find_spec('aws_cdk') and u.find_spec('constructs')))"
    if subprocess.run([python, "-c", probe], timeout=60).returncode != 0:
        message = f"{python} cannot import aws_cdk (set DETZIP_CDK_PYTHON; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return python


def _run(argv: list[str], cwd: Path, env: Mapping[str, str], umask: int) -> str:
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(umask),
        timeout=600,
    )
    assert done.returncode == 0, (argv, done.stdout[-3000:], done.stderr[-3000:])
    return done.stdout


def _no_aws(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without AWS settings or the user's AWS files: only what is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.update(AWS_EC2_METADATA_DISABLED="true")
    return {**env, **extra}


class Checkout:
    """A copy of an example at ``where`` with scrambled mtimes and permission bits (no exec
    bits, as in the original), built with ``detzip build`` under ``umask`` into its own, empty
    cache."""

    def __init__(self, example: str, where: Path, umask: int, seed: int) -> None:
        self.root = where / example
        self.umask = umask
        self.cache = where / "detzip-cache"
        outputs = shutil.ignore_patterns(".build", "cdk.out", "packaged.*")  # a user's builds
        shutil.copytree(EXAMPLES / example, self.root, ignore=outputs)
        rng = random.Random(seed)
        for path in sorted(self.root.rglob("*")):
            moment = rng.randint(400_000_000, 1_900_000_000)
            os.utime(path, (moment, moment))
            if path.is_file():
                path.chmod(rng.choice([0o600, 0o640, 0o666, 0o444]))

    def build(self) -> dict[str, str]:
        """``detzip build``: each artifact's sha256 (the zips are ``.build/NAME.zip``)."""
        env = {**os.environ, "DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(self.cache)}
        out = _run([sys.executable, "-m", "detzip", "build", "--json"], self.root, env, self.umask)
        assert sorted(self.zips()) == sorted(ARTIFACTS), out
        return {name: hashlib.sha256(data).hexdigest() for name, data in self.zips().items()}

    def zips(self) -> dict[str, bytes]:
        return {p.stem: p.read_bytes() for p in (self.root / ".build").glob("*.zip")}

    def edit_one_byte(self) -> None:
        name, old, new = EDIT
        path = self.root / name
        path.chmod(0o644)
        text = path.read_text()
        assert text.count(old) == 1 and len(old) == len(new)
        path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()


def _package(
    aws: str, checkout: Checkout, server: MotoServer, template: str = "template.yaml"
) -> tuple[str, dict[str, str]]:
    """``aws cloudformation package`` from the checkout's folder, as README shows it (JSON out
    here, to read it back): the packaged template and each resource's S3 key."""
    out = checkout.root / "packaged.json"
    env = _no_aws({**server.env(), "AWS_PAGER": ""})
    _run(
        [aws, "cloudformation", "package", "--template-file", template,
         "--s3-bucket", BUCKET, "--s3-prefix", "sam",
         "--output-template-file", out.name, "--use-json"],
        checkout.root, env, checkout.umask,
    )  # fmt: skip
    text = out.read_text()
    resources = json.loads(text)["Resources"]
    keys = {}
    for logical, resource in resources.items():
        properties = resource["Properties"]
        uri = properties.get("CodeUri") or properties["ContentUri"]
        assert uri.startswith(f"s3://{BUCKET}/sam/"), (logical, uri)
        keys[logical.lower()] = uri.removeprefix(f"s3://{BUCKET}/")
    return text, keys


def test_sam_package_names_the_same_keys_from_any_checkout(
    tmp_path: Path, moto: MotoServer
) -> None:
    """``aws cloudformation package`` uploads each zip as it is, under the MD5 of its bytes:
    the same template and keys from two checkouts; one byte changes one function's key."""
    aws = _tool("DETZIP_AWS_CLI", "aws")
    s3 = moto.client()
    s3.create_bucket(Bucket=BUCKET)

    alice = Checkout("sam", tmp_path / "alice", 0o022, seed=7)
    ci = Checkout("sam", tmp_path / "ci" / "build" / "job-7", 0o077, seed=8)
    built = alice.build()
    assert ci.build() == built
    first, keys = _package(aws, alice, moto)
    second, again = _package(aws, ci, moto)
    assert second == first
    assert again == keys
    assert sorted(keys) == sorted(ARTIFACTS)

    # uploaded as they are: the key is the MD5 of detzip's zip, the object is its bytes
    for name, data in alice.zips().items():
        assert keys[name] == "sam/" + hashlib.md5(data).hexdigest(), name
        stored = s3.get_object(Bucket=BUCKET, Key=keys[name])["Body"].read()
        assert stored == data, f"{name}: the object is not the zip detzip built"

    # one byte of one function: its key changes, the other function's and the layer's do not
    ci.edit_one_byte()
    rebuilt = ci.build()
    assert rebuilt["api"] != built["api"]
    assert {n: h for n, h in rebuilt.items() if n != "api"} == {
        n: h for n, h in built.items() if n != "api"
    }
    third, changed = _package(aws, ci, moto)
    assert changed["api"] != keys["api"]
    assert {n: k for n, k in changed.items() if n != "api"} == {
        n: k for n, k in keys.items() if n != "api"
    }
    assert third.replace(changed["api"], keys["api"]) == first
    data = s3.get_object(Bucket=BUCKET, Key=changed["api"])["Body"].read()
    assert hashlib.sha256(data).hexdigest() == rebuilt["api"]


FOLDER_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/api
      Handler: app.handler
      Runtime: python3.12
"""


def test_sam_package_of_a_folder_is_what_differs(tmp_path: Path, moto: MotoServer) -> None:
    """The control: pointed at the function's folder instead of detzip's zip, the packager
    zips it itself, with each file's mtime, and the two checkouts get different keys. So the
    comparison above can fail, and detzip's zip is what makes it pass."""
    aws = _tool("DETZIP_AWS_CLI", "aws")
    s3 = moto.client()
    s3.create_bucket(Bucket=BUCKET)
    checkouts = [
        Checkout("sam", tmp_path / "alice", 0o022, seed=7),
        Checkout("sam", tmp_path / "bob", 0o022, seed=9),
    ]
    keys = []
    for checkout in checkouts:
        (checkout.root / "folder.yaml").write_text(FOLDER_TEMPLATE)
        keys.append(_package(aws, checkout, moto, "folder.yaml")[1]["api"])
    assert keys[0] != keys[1]


def _synth(cdk: str, python: str, checkout: Checkout) -> dict[str, Any]:
    """``cdk synth`` from the checkout's folder (cdk.json's ``python3 app.py``, with the CDK
    Python first on PATH), offline: no AWS credentials, notices, version check or telemetry.
    CDK_VALIDATION=false skips the template linter (10 s a synth; assets are not its
    business). Returns the cloud assembly's texts and each zip's file asset."""
    shutil.rmtree(checkout.root / "cdk.out", ignore_errors=True)
    path = os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")])
    env = _no_aws(
        {
            "PATH": path,
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "1",
            "CDK_VALIDATION": "false",
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
            "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
        }
    )
    _run([cdk, "synth", "--no-notices", "--quiet"], checkout.root, env, checkout.umask)
    out = checkout.root / "cdk.out"
    stack = "DetzipCdkExample"
    texts = {
        name: (out / name).read_text()
        for name in ("manifest.json", f"{stack}.assets.json", f"{stack}.template.json")
    }
    assets: dict[str, dict[str, str]] = {}
    for asset_hash, asset in json.loads(texts[f"{stack}.assets.json"])["files"].items():
        name = asset["displayName"]
        if not name.endswith("/Code"):
            continue  # the template itself
        assert asset["source"]["packaging"] == "file", name  # uploaded as is, not zipped
        (destination,) = asset["destinations"].values()
        staged = (out / asset["source"]["path"]).read_bytes()
        assets[name.removesuffix("/Code").lower()] = {
            "hash": asset_hash,
            "key": destination["objectKey"],
            "sha256": hashlib.sha256(staged).hexdigest(),
            "base64sha256": base64.b64encode(hashlib.sha256(staged).digest()).decode(),
        }
    return {"texts": texts, "assets": assets}


def test_cdk_synth_gives_the_same_assets_from_any_checkout(tmp_path: Path) -> None:
    """``cdk synth`` stages each zip as a file asset, byte for byte, under a hash of its
    content: the same cloud assembly from two checkouts; one byte changes one asset."""
    cdk = _tool("DETZIP_CDK", "cdk")
    python = _cdk_python()

    alice = Checkout("cdk", tmp_path / "alice", 0o022, seed=7)
    ci = Checkout("cdk", tmp_path / "ci" / "build" / "job-7", 0o077, seed=8)
    built = alice.build()
    assert ci.build() == built
    first = _synth(cdk, python, alice)
    second = _synth(cdk, python, ci)
    assert second["texts"] == first["texts"]
    assets = first["assets"]
    assert sorted(assets) == sorted(ARTIFACTS)
    for name, asset in assets.items():
        assert asset["sha256"] == built[name], f"{name}: CDK staged other bytes than detzip's zip"
        assert asset["key"] == asset["hash"] + ".zip"

    ci.edit_one_byte()
    rebuilt = ci.build()
    assert rebuilt["api"] != built["api"]
    third = _synth(cdk, python, ci)["assets"]
    assert third["api"]["hash"] != assets["api"]["hash"]
    assert third["api"]["sha256"] == rebuilt["api"]
    assert {n: a for n, a in third.items() if n != "api"} == {
        n: a for n, a in assets.items() if n != "api"
    }
