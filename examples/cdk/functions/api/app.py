"""HTTP API (behind a Function URL or API Gateway): report an upstream page's status."""

from __future__ import annotations

import json
import os

import urllib3  # from the layer

TARGET_URL = os.environ.get("TARGET_URL", "https://example.com/")
HTTP = urllib3.PoolManager(timeout=5.0)


def handler(event: dict[str, object], context: object) -> dict[str, object]:
    response = HTTP.request("GET", TARGET_URL)
    return {"statusCode": 200, "body": json.dumps({"upstream": response.status})}
