"""HTTP API (behind a Function URL or API Gateway): look up an order's shipping status."""

from __future__ import annotations

import json
import os

import requests  # from the shared layer

CARRIER_URL = os.environ.get("CARRIER_URL", "https://carrier.example.com/track")


def handler(event: dict[str, object], context: object) -> dict[str, object]:
    params = event.get("queryStringParameters") or {}
    order = params.get("order") if isinstance(params, dict) else None
    if not order:
        return {"statusCode": 400, "body": json.dumps({"error": "order is required"})}
    response = requests.get(CARRIER_URL, params={"ref": order}, timeout=5)
    return {"statusCode": response.status_code, "body": response.text}
