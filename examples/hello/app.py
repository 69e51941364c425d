"""A minimal Lambda handler: `detzip function examples/hello -o build/hello.zip` zips it (the
README's single-function example; the quick start builds examples/service)."""

import json


def handler(event: dict[str, object], context: object) -> dict[str, object]:
    return {"statusCode": 200, "body": json.dumps({"hello": event.get("name", "world")})}
