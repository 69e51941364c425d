"""The Lambda handler: thin, on top of the service's package."""

from typing import Any

from api import answer


def handler(event: dict[str, Any], context: object) -> dict[str, str]:
    return answer(event.get("name", "world"))
