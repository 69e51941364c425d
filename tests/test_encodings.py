"""Text detzip reads and writes has a named encoding (UTF-8), whatever the locale: Windows's
default is its ANSI code page, not UTF-8. Simulated here with Python's UTF-8 mode off and the C
locale, whose encoding is ASCII (a legacy locale is the honest stand-in: the code page of a
Windows machine cannot hold every character either)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .wheelfactory import Wheel

LEGACY = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}


def _legacy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **LEGACY, "DETZIP_CACHE": "off"}
    return subprocess.run(
        [sys.executable, "-X", "utf8=0", "-m", "detzip", *args], cwd=cwd, env=env,
        capture_output=True, encoding="utf-8", errors="replace", timeout=300,
    )  # fmt: skip


def test_the_locale_here_is_a_legacy_one(tmp_path: Path) -> None:
    """The simulation holds: in this environment Python's default encoding is not UTF-8."""
    env = {**os.environ, **LEGACY}
    said = subprocess.run(
        [sys.executable, "-X", "utf8=0", "-c", "import locale; print(locale.getencoding())"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert said.lower().replace("-", "").replace("_", "") not in ("utf8",), said


def test_a_layer_resolved_by_pip_reads_its_report_as_utf8(tmp_path: Path) -> None:
    """pip's report (UTF-8 JSON) was read in the locale's encoding: a package whose summary
    says "Café" failed to resolve under a legacy locale."""
    Wheel("cafe-lib", "1.0", files={"cafe_lib.py": "V = 1\n"}, summary="Café für alle").build(
        tmp_path / "w"
    )
    (tmp_path / "requirements.txt").write_text("cafe-lib\n")
    result = _legacy(
        "layer", "-r", "requirements.txt", "-o", "l.zip", "--runtime", "python3.11",
        "--find-links", str(tmp_path / "w"), "--no-index", "--json", "--cache-dir", "c",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    packages = json.loads(result.stdout)["description"]["packages"]
    assert [p["name"] for p in packages] == ["cafe-lib"]
