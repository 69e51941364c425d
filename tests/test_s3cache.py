"""The S3 cache against a real S3 API: moto's server on loopback, started and stopped here."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from detzip import Cache, build_function, build_layer
from detzip.errors import DetzipError

from .conftest import assert_one_line_error, make_tree, run_cli, run_cli_unprivileged
from .motoserver import MotoServer
from .wheelfactory import Repo

pytestmark = pytest.mark.e2e


def objects(server: MotoServer, bucket: str) -> dict[str, Any]:
    listing = server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: item for item in listing}


def source(root: Path, text: str = "1") -> Path:
    return make_tree(root, {"app.py": f"def handler(e, c):\n    return {text}\n"})


def test_a_miss_is_built_and_uploaded(server: MotoServer, bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}/team/cache"
    artifact = build_function(
        source(tmp_path / "src"), tmp_path / "fn.zip", cache=Cache(tmp_path / "c", url)
    )
    assert not artifact.cache_hit and artifact.key
    zipped = f"team/cache/fn-{artifact.key[:16]}.zip"
    recorded = f"team/cache/keys/{artifact.key}.json"
    assert set(objects(server, bucket)) == {zipped, recorded}
    head = server.client().head_object(Bucket=bucket, Key=zipped)
    assert head["Metadata"]["sha256"] == artifact.sha256
    body = server.client().get_object(Bucket=bucket, Key=zipped)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == artifact.sha256
    record = json.loads(server.client().get_object(Bucket=bucket, Key=recorded)["Body"].read())
    assert record["key"] == artifact.key and record["sha256"] == artifact.sha256
    assert record["name"] == "fn"


@pytest.mark.slow
def test_a_fresh_runner_hits_in_s3(server: MotoServer, bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}"
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "a.zip", cache=Cache(tmp_path / "runner1", url))
    result = run_cli(
        "function", str(src), "-o", str(tmp_path / "b.zip"), "--cache-dir", str(tmp_path / "runner2"),
        "--cache", url, "--json", env=server.env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    hit = json.loads(result.stdout)
    assert hit["cache_hit"] is True and hit["cache_source"] == url
    assert (tmp_path / "b.zip").read_bytes() == built.path.read_bytes()
    # now also in runner2's local cache: the next hit does not ask S3
    local = build_function(src, tmp_path / "c.zip", cache=Cache(tmp_path / "runner2", url))
    assert local.cache_hit and local.cache_source == "local"


@pytest.mark.slow
def test_a_layer_hit_in_s3_downloads_no_wheels(
    server: MotoServer, bucket: str, repo: Repo, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/layers"
    lock = repo.write("uv", tmp_path / "lock")
    one, two = tmp_path / "runner1", tmp_path / "runner2"
    built = build_layer(lock, tmp_path / "1.zip", cache_dir=one, cache=Cache(one, url))
    hit = build_layer(lock, tmp_path / "2.zip", cache_dir=two, cache=Cache(two, url))
    assert hit.cache_hit and hit.cache_source == url and hit.sha256 == built.sha256
    assert not (two / "wheels").exists()  # the key came from the lock's hashes alone


def test_env_configures_the_remote(server: MotoServer, bucket: str, tmp_path: Path) -> None:
    src = source(tmp_path / "src")
    env = {**server.env(), "DETZIP_CACHE": f"s3://{bucket}/from-env"}
    first = run_cli(
        "function",
        str(src),
        "-o",
        str(tmp_path / "a.zip"),
        "--cache-dir",
        str(tmp_path / "c1"),
        env=env,
    )
    assert first.returncode == 0, first.stderr
    assert any(k.startswith("from-env/a-") for k in objects(server, bucket))


@pytest.mark.slow
def test_a_corrupted_object_is_rejected(server: MotoServer, bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}"
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "fn.zip", cache=Cache(tmp_path / "r1", url))
    assert built.key
    key = f"fn-{built.key[:16]}.zip"
    good = built.path.read_bytes()
    bad = good[:-30] + bytes(30)
    server.client().put_object(Bucket=bucket, Key=key, Body=bad, Metadata={"sha256": built.sha256})
    (tmp_path / "fn.zip").unlink()
    result = run_cli(
        "function", str(src), "-o", str(tmp_path / "fn.zip"), "--cache-dir", str(tmp_path / "r2"),
        "--cache", url, "--json", env=server.env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cache_hit"] is False
    assert "rejected" in result.stderr and result.stderr.startswith("detzip: warning:")
    assert (tmp_path / "fn.zip").read_bytes() == good
    assert not any(p.name.startswith(".incoming-") for p in (tmp_path / "r2").rglob("*"))
    assert "remove the object" in result.stderr
    # entries are immutable: the bad object stays (rejected by every reader) until removed
    body = server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == bad


@pytest.mark.slow
@pytest.mark.parametrize("tampered", [False, True], ids=["intact", "tampered"])
def test_an_s3_hit_with_a_read_only_local_cache_serves_only_verified_bytes(
    server: MotoServer, bucket: str, tmp_path: Path, tampered: bool
) -> None:
    url = f"s3://{bucket}"
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "fn.zip", cache=Cache(tmp_path / "r1", url))
    assert built.key
    good = built.path.read_bytes()
    if tampered:
        server.client().put_object(
            Bucket=bucket, Key=f"fn-{built.key[:16]}.zip", Body=good[:-30] + bytes(30),
            Metadata={"sha256": built.sha256},
        )  # fmt: skip
    local = tmp_path / "read-only"
    local.mkdir()
    local.chmod(0o555)
    out = tmp_path / "out" / "fn.zip"
    try:
        result = run_cli_unprivileged(
            "function", str(src), "-o", str(out), "--cache-dir", str(local), "--cache", url,
            "--json", env=server.env(),
        )  # fmt: skip
    finally:
        local.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert "cannot keep artifacts" in result.stderr and "Traceback" not in result.stderr
    assert out.read_bytes() == good
    assert list(local.iterdir()) == [] and [p.name for p in out.parent.iterdir()] == ["fn.zip"]
    hit = json.loads(result.stdout)
    if tampered:  # rejected: built here instead
        assert hit["cache_hit"] is False and "rejected" in result.stderr
    else:
        assert hit["cache_hit"] is True and hit["cache_source"] == url


@pytest.mark.parametrize(
    "record",
    [b"[]", b"{}", b"not json", b'{"key": "x"}', b"[" * 100_000 + b"]" * 100_000],
    ids=["list", "empty", "not-json", "wrong-key", "nested"],
)
def test_a_corrupted_s3_record_is_a_miss_never_copied_locally(
    server: MotoServer, bucket: str, tmp_path: Path, record: bytes
) -> None:
    url = f"s3://{bucket}"
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "fn.zip", cache=Cache(tmp_path / "r1", url))
    [record_key] = [k for k in objects(server, bucket) if k.endswith(".json")]
    server.client().put_object(Bucket=bucket, Key=record_key, Body=record)
    again = build_function(src, tmp_path / "again.zip", cache=Cache(tmp_path / "r2", url))
    assert not again.cache_hit and again.sha256 == built.sha256
    # the local entry is the one built here, from its own record
    [local] = (tmp_path / "r2" / "artifacts").glob("*.json")
    assert json.loads(local.read_text())["sha256"] == built.sha256


@pytest.mark.slow
def test_a_missing_bucket_warns_and_builds(server: MotoServer, bucket: str, tmp_path: Path) -> None:
    src = source(tmp_path / "src")
    url = "s3://no-such-bucket-here/x"
    result = run_cli(
        "function", str(src), "-o", str(tmp_path / "fn.zip"), "--cache-dir", str(tmp_path / "c"),
        "--cache", url, env=server.env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "NoSuchBucket" in result.stderr and "building locally" in result.stderr
    assert (tmp_path / "fn.zip").is_file()
    refused = run_cli(
        "function", str(src), "-o", str(tmp_path / "g.zip"), "--cache-dir", str(tmp_path / "d"),
        "--cache", url, "--require-cache", env=server.env(),
    )  # fmt: skip
    assert_one_line_error(refused, "--require-cache", "NoSuchBucket")
    assert not (tmp_path / "g.zip").exists()


@pytest.mark.slow
def test_server_stopped_mid_session_falls_back_to_local(tmp_path: Path) -> None:
    own = MotoServer()
    try:
        own.client().create_bucket(Bucket="shortlived")
        url = "s3://shortlived"
        src = source(tmp_path / "src")
        args = ["function", str(src), "-o", str(tmp_path / "fn.zip"), "--cache", url, "--json"]
        first = run_cli(*args, "--cache-dir", str(tmp_path / "c1"), env=own.env())
        assert first.returncode == 0 and first.stderr == "", first.stderr
    finally:
        own.stop()
    (src / "app.py").write_text("changed = True\n")
    second = run_cli(*args, "--cache-dir", str(tmp_path / "c2"), env=own.env())
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["cache_hit"] is False
    warnings = second.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("detzip: warning: cache unavailable")
    # the local cache still works without S3
    third = run_cli(*args, "--cache-dir", str(tmp_path / "c2"), env=own.env())
    assert json.loads(third.stdout)["cache_source"] == "local" and third.stderr == ""
    refused = run_cli(
        *args[:-1], "--cache-dir", str(tmp_path / "c3"), "--require-cache", env=own.env()
    )
    assert_one_line_error(refused, "--require-cache")


def test_missing_boto3_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(DetzipError, match=r"detzip\[s3\]"):
        build_function(
            source(tmp_path / "src"), tmp_path / "f.zip", cache=Cache(tmp_path / "c", "s3://b")
        )
    assert not (tmp_path / "f.zip").exists()


def test_bad_cache_urls_are_refused(tmp_path: Path) -> None:
    result = run_cli(
        "function",
        str(source(tmp_path / "src")),
        "-o",
        str(tmp_path / "f.zip"),
        "--cache",
        "ftp://x",
    )
    assert_one_line_error(result, "s3://BUCKET")
    result = run_cli(
        "function", str(tmp_path / "src"), "-o", str(tmp_path / "f.zip"), "--cache", "s3://"
    )
    assert_one_line_error(result, "names no bucket")


# -- upload = "s3": the result names the object Lambda reads -------------------------------------


def test_upload_s3_with_a_cache_names_the_verified_object(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/team"
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "fn.zip", upload="s3",
                           cache=Cache(tmp_path / "c1", url))  # fmt: skip
    assert built.s3_bucket == bucket and built.s3_object_version == ""
    assert built.s3_key is not None and built.s3_key.startswith("team/fn-")
    body = server.client().get_object(Bucket=bucket, Key=built.s3_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == built.sha256
    # a local hit, the object deleted meanwhile: confirmed on every run, put back
    server.client().delete_object(Bucket=bucket, Key=built.s3_key)
    again = build_function(src, tmp_path / "fn.zip", upload="s3",
                           cache=Cache(tmp_path / "c1", url))  # fmt: skip
    assert again.cache_hit and again.s3_key == built.s3_key
    assert server.client().head_object(Bucket=bucket, Key=built.s3_key)["ContentLength"] == (
        built.size
    )


@pytest.mark.slow
def test_upload_s3_names_the_object_version_in_a_versioned_bucket(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    server.client().put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    query = {"kind": "function", "source": str(source(tmp_path / "src")), "output": "fn.zip",
             "upload": "s3", "cache": f"s3://{bucket}", "cache_dir": str(tmp_path / "c")}  # fmt: skip
    result = run_cli("terraform", input=json.dumps(query), cwd=tmp_path, env=server.env())
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["s3_bucket"] == bucket and out["s3_key"].startswith("fn-")
    head = server.client().head_object(Bucket=bucket, Key=out["s3_key"])
    assert out["s3_object_version"] == head["VersionId"] != ""
    second = json.loads(run_cli("terraform", input=json.dumps(query), cwd=tmp_path,
                                env=server.env()).stdout)  # fmt: skip
    assert second == {**out, "cache": "hit"}  # the same strings: the plan shows no change


def test_upload_s3_without_s3_is_exit_2_not_a_result_without_a_key(tmp_path: Path) -> None:
    query = {"kind": "function", "source": str(source(tmp_path / "src")), "output": "fn.zip",
             "upload": "s3", "cache": "s3://nowhere", "cache_dir": str(tmp_path / "c")}  # fmt: skip
    env = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    result = run_cli("terraform", input=json.dumps(query), cwd=tmp_path, env=env)
    assert_one_line_error(result, "require_cache")
    assert not (tmp_path / "fn.zip").exists()


@pytest.mark.slow
def test_upload_to_puts_content_addressed_objects_without_a_cache(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "fn.zip", upload_to=f"s3://{bucket}/deploy/",
                           cache=False)  # fmt: skip
    assert built.s3_key == f"deploy/fn-{built.sha256}.zip"
    first = server.client().head_object(Bucket=bucket, Key=built.s3_key)
    again = build_function(src, tmp_path / "fn.zip", upload_to=f"s3://{bucket}/deploy",
                           cache=False)  # fmt: skip
    assert again.s3_key == built.s3_key
    second = server.client().head_object(Bucket=bucket, Key=built.s3_key)
    assert first["ETag"] == second["ETag"] and first["LastModified"] == second["LastModified"]
    (src / "app.py").write_text("changed = 1\n")
    changed = build_function(src, tmp_path / "fn.zip", upload_to=f"s3://{bucket}/deploy",
                             cache=False)  # fmt: skip
    assert changed.s3_key != built.s3_key  # a new object; the old one stays for rollbacks
    refused = run_cli("function", str(src), "-o", str(tmp_path / "g.zip"), "--upload", "direct",
                      "--upload-to", f"s3://{bucket}")  # fmt: skip
    assert_one_line_error(refused, "--upload-to", "--upload direct")
    bad = run_cli("function", str(src), "-o", str(tmp_path / "g.zip"), "--upload-to", "bucket")
    assert_one_line_error(bad, "--upload-to", "not an S3 URL")
