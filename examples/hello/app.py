"""A minimal Lambda handler, zipped by the README's quick start."""

import json


def handler(event: dict[str, object], context: object) -> dict[str, object]:
    return {"statusCode": 200, "body": json.dumps({"hello": event.get("name", "world")})}
