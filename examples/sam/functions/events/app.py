"""Queue consumer (SQS): count each batch's records by their event source."""

from __future__ import annotations

import collections
import json

import idna  # from the layer


def handler(event: dict[str, object], context: object) -> dict[str, object]:
    records = event.get("Records")
    batch = records if isinstance(records, list) else []
    sources = collections.Counter(
        str(record.get("eventSource", "?")) for record in batch if isinstance(record, dict)
    )
    return {"batchSize": len(batch), "sources": json.dumps(sources), "idna": idna.__version__}
