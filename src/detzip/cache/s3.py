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
from detzip.cache.remote import OtherBytes, RemoteUnavailable, StoredObject
from detzip.errors import DetzipError

__all__ = ["S3Cache"]

#: the error codes of an object that is not there
_ABSENT = ("NoSuchKey", "404", "NotFound")
#: shared caches this process found without conditional writes (warned of once)
_UNCONDITIONAL: list[str] = []


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
            if not fresh and not self._there(zip_key, sha256, zip_path):
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

    def _there(self, object_key: str, sha256: str, local: Path) -> bool:
        """After a put that found an object there: whether it holds ``local``'s bytes. A put
        that lost a race (409) may find the winner's object not yet visible: ask a few times."""
        for attempt in range(5):
            try:
                if self.head(object_key, sha256, local) is not None:
                    return True
            except OtherBytes:
                return False
            if attempt < 4:
                import time

                time.sleep(0.1 * (attempt + 1))
        return False

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
            if code != "NotImplemented" and status != 501:
                raise
        else:
            return True
        # a server without conditional writes (older MinIO, Ceph): absent first, then put —
        # a race can still replace an object there, which the warning says
        if not _UNCONDITIONAL:
            _UNCONDITIONAL.append(self.url)
            log.warning(
                "%s does not support conditional writes (If-None-Match): detzip writes an "
                "entry only if it is absent, but cannot make entries immutable there — deny "
                "overwrites in the server's policy, and audit with detzip cache verify",
                self.url,
            )
        try:
            self.client().head_object(Bucket=self.bucket, Key=object_key)
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404", "NotFound"):
                raise
        if hasattr(body, "seek"):
            body.seek(0)
        self.client().put_object(
            Bucket=self.bucket, Key=object_key, Body=body, ContentType=content_type, **extra
        )
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

    def record(self, key: str) -> dict[str, Any] | None:
        """The record stored for ``key`` (None: none, or not a valid one), without its zip."""
        with _translated(self.url):
            body = self._get(self._record(key))
        try:
            record = None if body is None else json.loads(body)
        except (ValueError, RecursionError):
            return None
        return record if isinstance(record, dict) and valid_record(record, key) else None

    def records(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """Every entry stored under ``name`` (its zip's URL, its record), as listed now; an entry
        whose record is missing or not its key's is left out."""
        import re

        self.client()  # (first: says how to install boto3 if it is missing)
        from botocore.exceptions import ClientError

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
                    try:
                        head = self.client().head_object(Bucket=self.bucket, Key=object_key)
                    except ClientError as exc:  # (removed since it was listed)
                        if exc.response.get("Error", {}).get("Code") in _ABSENT:
                            continue
                        raise
                    key = head.get("Metadata", {}).get("key", "")
                    body = self._get(self._record(key)) if len(key) == 64 else None
                    try:
                        record = None if body is None else json.loads(body)
                    except (ValueError, RecursionError):
                        record = None
                    if isinstance(record, dict) and valid_record(record, key):
                        found.append((f"s3://{self.bucket}/{object_key}", record))
        return found

    def locate(self, name: str, key: str, sha256: str, local: Path) -> StoredObject | None:
        """The cached zip of ``key``, if it is there with exactly the bytes of ``local``
        (whose sha256 is ``sha256``); see :meth:`head`."""
        return self.head(self._zip(name, key), sha256, local)

    def head(self, object_key: str, sha256: str, local: Path) -> StoredObject | None:
        """``object_key`` in this bucket, if it holds exactly the bytes of ``local`` (whose
        sha256 is ``sha256``): None if absent or recorded as other bytes. The object's own
        metadata is whoever uploaded it's claim, so the bytes are checked by what S3 computed:
        the ETag, the MD5 of a single-part upload (else, for a multipart or KMS-encrypted
        object, the object is read and hashed). One that holds other bytes raises
        :class:`OtherBytes`: entries are never replaced, so it must be removed."""
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
            version = str(head.get("VersionId") or "")
            if not self._holds(object_key, head, version, sha256, local):
                raise OtherBytes(
                    f"s3://{self.bucket}/{object_key} claims sha256 {sha256} but holds other "
                    "bytes; entries are never replaced: remove the object and find out who "
                    "wrote it"
                )
        return StoredObject(self.bucket, object_key, version)

    def _holds(
        self, object_key: str, head: dict[str, Any], version: str, sha256: str, local: Path
    ) -> bool:
        """Whether the object (as ``head`` describes it) has the bytes of ``local``."""
        etag = str(head.get("ETag", "")).strip('"')
        encrypted = head.get("ServerSideEncryption") == "aws:kms" or head.get(
            "SSECustomerAlgorithm"
        )
        if len(etag) == 32 and "-" not in etag and not encrypted:  # the MD5 S3 computed
            with open(local, "rb") as handle:
                mine = hashlib.file_digest(
                    handle, lambda: hashlib.md5(usedforsecurity=False)
                ).hexdigest()
            return bool(etag == mine)
        pinned = {"VersionId": version} if version else {}
        body = self.client().get_object(Bucket=self.bucket, Key=object_key, **pinned)["Body"]
        digest = hashlib.sha256()
        for chunk in body.iter_chunks(_CHUNK):
            digest.update(chunk)
        return bool(digest.hexdigest() == sha256)

    def put(self, relative: str, zip_path: Path, sha256: str) -> StoredObject:
        """Upload ``zip_path`` (whose bytes have ``sha256``) as ``PREFIX/relative``, unless it
        is there already; where it is."""
        object_key = self._object(relative)
        found = self.head(object_key, sha256, zip_path)
        if found is not None:
            return found
        with _translated(self.url):
            with open(zip_path, "rb") as body:
                fresh = self._put_new(object_key, body, "application/zip", {"sha256": sha256})
            found = self.head(object_key, sha256, zip_path)  # (its version; a lost race: theirs)
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
