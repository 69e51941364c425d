"""Another workspace member: one that common depends on."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Greeting:
    name: str

    def text(self) -> str:
        return f"hello {self.name}"
