"""Shared code: a workspace member, built into the layer from its folder."""

import idna
from models import Greeting


def greeting(name: str) -> str:
    return Greeting(idna.encode(name).decode()).text()
