"""The service's own code, installed into its function zip with --include-project."""

from common import greeting


def answer(name: str) -> dict[str, str]:
    return {"message": greeting(name)}
