"""An S3 bucket as a shared artifact cache (boto3, from the optional extra ``detzip[s3]``).

Objects under ``s3://BUCKET/PREFIX/``: ``<name>-<key[:16]>.zip`` carrying its sha256 and full key
as object metadata, and ``keys/<key>.json``, the record the local cache keeps (which names the
zip). Lookups go by key, so a zip built under one name is found under any other. The record is
uploaded after the zip, so a record names a complete zip. A download is hashed on the way in; a
zip whose sha256 is not the record's is rejected with a warning and never used.

Entries are immutable: every object is written with a conditional put (``If-None-Match: *``),
so nothing already there is ever replaced. Two builds of one key that race both succeed (their
bytes are the same); an entry that holds other bytes than this build is a conflict, warned of
and left for ``detzip cache verify`` to name — never overwritten.

Credentials, region and endpoint come from boto3's usual configuration (environment, profiles,
instance roles; ``AWS_ENDPOINT_URL_S3`` for S3-compatible servers). Timeouts are short and
retries few: an unreachable cache should cost seconds, not minutes, before detzip builds locally.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from detzip import _log as log
from detzip.cache.keys import canonical_json, entry_name, safe_name, valid_record
from detzip.cache.remote import RemoteUnavailable, StoredObject
from detzip.errors import DetzipError

__all__ = ["S3Cache"]


_CHUNK = 1 << 20


class S3Cache:
    """The :class:`~detzip.cache.remote.Remote` at ``s3://BUCKET/PREFIX`` (the prefix may be
    empty); boto3 is imported on first use."""

    def __init__(self, url: str) -> None:
        rest = url.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise DetzipError(f"cache URL {url!r} names no bucket; use s3://BUCKET/PREFIX")
        self.url = url.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client: Any = None

    def _object(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _zip(self, name: str, key: str) -> str:
        return self._object(f"{entry_name(name, key)}.zip")

    def _record(self, key: str) -> str:
        return self._object(f"keys/{key}.json")

    def client(self) -> Any:
        """The boto3 S3 client, made on first use (short timeouts, two attempts); raises
        :class:`~detzip.errors.DetzipError` if boto3 is not installed."""
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise DetzipError(
                    f"the S3 cache {self.url} needs boto3; install it with pip install 'detzip[s3]'"
                ) from None
            config = Config(
                connect_timeout=3,
                read_timeout=30,
                retries={"max_attempts": 2, "mode": "standard"},
            )
            self._client = boto3.session.Session().client("s3", config=config)
        return self._client

    def fetch(self, name: str, key: str, into: Path) -> dict[str, Any] | None:
        """Download the zip recorded under ``key`` into ``into`` and return its record; None if
        absent, or if the record is invalid or the zip's sha256 is not the record's."""
        record_key = self._record(key)
        with _translated(self.url):
            record_body = self._get(record_key)
            if record_body is None:
                return None
            try:
                record: dict[str, Any] = json.loads(record_body)
            except (ValueError, RecursionError):
                log.warning("s3://%s/%s is not a valid record; ignored", self.bucket, record_key)
                return None
            if not valid_record(record, key):
                log.warning("s3://%s/%s is not this key's record; ignored", self.bucket, record_key)
                return None
            zip_key = self._zip(record["name"], key)
            response = self._get_object(zip_key)
            if response is None:
                return None
            digest = hashlib.sha256()
            with open(into, "wb") as out:
                for chunk in response["Body"].iter_chunks(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        claimed = {record.get("sha256"), response.get("Metadata", {}).get("sha256")}
        if claimed != {digest.hexdigest()}:
            log.warning(
                "s3://%s/%s: its sha256 is %s, not the %s its record names; rejected, building "
                "(entries are never replaced: remove the object)",
                self.bucket,
                zip_key,
                digest.hexdigest(),
                record.get("sha256"),
            )
            return None
        return record

    def upload(self, name: str, key: str, zip_path: Path, record: Mapping[str, Any]) -> None:
        """Put the zip (with its sha256 and key as metadata), then its record under ``keys/``,
        each only if absent. A zip already there with other bytes is a conflict: warned of, and
        no record is written for it."""
        sha256 = str(record["sha256"])
        zip_key = self._zip(name, key)
        with _translated(self.url):
            with open(zip_path, "rb") as body:
                fresh = self._put_new(
                    zip_key, body, "application/zip", {"sha256": sha256, "key": key}
                )
            if not fresh and self.head(zip_key, sha256) is None:
                self._conflict(zip_key, key, sha256)
                return
            record_key = self._record(key)
            if not self._put_new(record_key, canonical_json(dict(record)), "application/json"):
                kept = self._get(record_key)
                try:
                    same = kept is not None and json.loads(kept).get("sha256") == sha256
                except (ValueError, AttributeError, RecursionError):
                    same = False
                if not same:
                    self._conflict(record_key, key, sha256)

    def _put_new(
        self, object_key: str, body: Any, content_type: str, metadata: dict[str, str] | None = None
    ) -> bool:
        """Put ``body`` at ``object_key`` unless an object is there (``If-None-Match: *``);
        whether it was written (False: one was there, or another writer's put won a race)."""
        from botocore.exceptions import ClientError

        extra = {"Metadata": metadata} if metadata else {}
        try:
            self.client().put_object(
                Bucket=self.bucket,
                Key=object_key,
                Body=body,
                ContentType=content_type,
                IfNoneMatch="*",
                **extra,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (412, 409):
                return False
            raise
        return True

    def _conflict(self, object_key: str, key: str, sha256: str) -> None:
        log.warning(
            "s3://%s/%s already holds another artifact than this build of key %s (sha256 %s); "
            "left as it is (entries are never replaced) — detzip cache verify names the "
            "entry that is not what its key builds",
            self.bucket,
            object_key,
            key[:16],
            sha256,
        )

    def records(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """Every entry stored under ``name`` (its zip's URL, its record), as listed now; an entry
        whose record is missing or not its key's is left out."""
        import re

        stem = safe_name(name)
        pattern = re.compile(re.escape(stem) + r"-[0-9a-f]{16}\.zip")
        found = []
        with _translated(self.url):
            pages = (
                self.client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.bucket, Prefix=self._object(f"{stem}-"))
            )
            for page in pages:
                for item in page.get("Contents", []):
                    object_key = item["Key"]
                    if not pattern.fullmatch(object_key.rpartition("/")[2]):
                        continue
                    head = self.client().head_object(Bucket=self.bucket, Key=object_key)
                    key = head.get("Metadata", {}).get("key", "")
                    body = self._get(self._record(key)) if len(key) == 64 else None
                    try:
                        record = None if body is None else json.loads(body)
                    except (ValueError, RecursionError):
                        record = None
                    if isinstance(record, dict) and valid_record(record, key):
                        found.append((f"s3://{self.bucket}/{object_key}", record))
        return found

    def locate(self, name: str, key: str, sha256: str) -> StoredObject | None:
        """The cached zip of ``key`` (HEAD), if it is there with exactly ``sha256``."""
        return self.head(self._zip(name, key), sha256)

    def head(self, object_key: str, sha256: str) -> StoredObject | None:
        """``object_key`` in this bucket, if it holds a zip whose recorded sha256 is ``sha256``."""
        with _translated(self.url):
            client = self.client()
            from botocore.exceptions import ClientError

            try:
                head = client.head_object(Bucket=self.bucket, Key=object_key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise
        if head.get("Metadata", {}).get("sha256") != sha256:
            return None
        return StoredObject(self.bucket, object_key, str(head.get("VersionId") or ""))

    def put(self, relative: str, zip_path: Path, sha256: str) -> StoredObject:
        """Upload ``zip_path`` (whose bytes have ``sha256``) as ``PREFIX/relative``, unless it
        is there already; where it is."""
        object_key = self._object(relative)
        found = self.head(object_key, sha256)
        if found is not None:
            return found
        with _translated(self.url):
            with open(zip_path, "rb") as body:
                fresh = self._put_new(object_key, body, "application/zip", {"sha256": sha256})
            found = self.head(object_key, sha256)  # (its version; a race lost: the other's)
        if found is None:
            raise RemoteUnavailable(
                f"s3://{self.bucket}/{object_key}: "
                + ("the uploaded object is not there" if fresh else "holds other bytes")
            )
        return found

    def _get(self, object_key: str) -> bytes | None:
        response = self._get_object(object_key)
        return None if response is None else bytes(response["Body"].read())

    def _get_object(self, object_key: str) -> dict[str, Any] | None:
        client = self.client()  # first: says how to install boto3 if it is missing
        from botocore.exceptions import ClientError

        try:
            response: dict[str, Any] = client.get_object(Bucket=self.bucket, Key=object_key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return response


@contextlib.contextmanager
def _translated(url: str) -> Iterator[None]:
    """Turn boto3's failures (network, credentials, access) into :class:`RemoteUnavailable`."""
    try:
        yield
    except DetzipError:
        raise
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            reason = f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
            raise RemoteUnavailable(f"{url}: {reason}") from None
        if isinstance(exc, BotoCoreError):
            raise RemoteUnavailable(f"{url}: {exc}") from None
        raise
