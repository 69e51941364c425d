"""Queue worker (SQS): each message is a YAML order; valid ones are forwarded to the API."""

from __future__ import annotations

import os

import requests  # from the shared layer
import yaml

FULFILMENT_URL = os.environ.get("FULFILMENT_URL", "https://fulfilment.example.com/orders")
REQUIRED = ("id", "items")


def parse(body: str) -> dict[str, object]:
    order = yaml.safe_load(body)
    if not isinstance(order, dict) or any(key not in order for key in REQUIRED):
        raise ValueError(f"an order needs {', '.join(REQUIRED)}")
    return order


def handler(event: dict[str, object], context: object) -> dict[str, object]:
    failures = []
    records = event.get("Records") or []
    for record in records if isinstance(records, list) else []:
        try:
            requests.post(FULFILMENT_URL, json=parse(record["body"]), timeout=5)
        except (ValueError, yaml.YAMLError, requests.RequestException):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
