"""Targets (detzip.deps.targets): what a layer is built for is the runtime and architecture
named, never the machine that builds it."""

from __future__ import annotations

import pytest


def test_the_target_never_depends_on_the_build_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform
    import sys

    from detzip.deps.targets import Target

    here = Target("python3.12", "arm64")
    before = (here.marker_environment(), here.pip_arguments(), [str(t) for t in here.tags])
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    there = Target("python3.12", "arm64")
    assert (there.marker_environment(), there.pip_arguments(),
            [str(t) for t in there.tags]) == before  # fmt: skip
