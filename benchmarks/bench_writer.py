"""Writer throughput: the same tree zipped by detzip, `zip -X -r -6` and `zipfile`.

Every tool runs as its own process, measured for wall time and peak RSS (GNU time). The tree is
sampled from the interpreter's standard library: real source, extension modules and data, the
mix a Lambda bundle has (synthetic random-word text compresses unlike real code).
detzip's output must be
byte-identical across its runs; speed is reported, never asserted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Measurement:
    tool: str
    seconds: float
    peak_rss_mb: float
    output_bytes: int
    sha256: str


def _stdlib_files() -> list[Path]:
    """Real files of mixed kinds: the running interpreter's standard library (sources,
    extension modules, test data), sorted, without bytecode."""
    base = Path(sysconfig.get_paths()["stdlib"])
    found = [
        p
        for p in base.rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and "__pycache__" not in p.parts
        and "site-packages" not in p.parts
        and p.stat().st_size > 0
    ]
    return sorted(found)


def make_tree(root: Path, total_mb: int) -> int:
    """A tree of ~``total_mb`` MB of standard-library files (≤ 4 MB each) in a fixed
    pseudo-random order, copied in; repeated under copyN/ if the library is too small."""
    marker = root / ".complete"
    if marker.exists():
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p != marker)
    if root.exists():
        shutil.rmtree(root)
    base = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in _stdlib_files() if p.stat().st_size <= 4 << 20]
    files.sort(key=lambda p: hashlib.sha256(str(p.relative_to(base)).encode()).digest())
    budget = total_mb * 1_000_000
    total = 0
    copy = 0
    while total < budget:
        for path in files:
            target = root / f"copy{copy}" / path.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            total += path.stat().st_size
            if total >= budget:
                break
        copy += 1
    marker.write_text("")
    return total


def make_large_tree(root: Path, count: int) -> int:
    """``count`` files of 1 MiB each, half pseudo-random bytes and half pseudo-word text (a
    tree of large files: shared libraries, data), the same bytes every time."""
    import random

    marker = root / ".complete"
    if not marker.exists():
        if root.exists():
            shutil.rmtree(root)
        rng = random.Random("large")
        letters = "etaoinshrdlucmfwypvbgkqjxz"
        weights = [26 - i for i in range(26)]
        words = ["".join(rng.choices(letters, weights, k=rng.randint(3, 10))) for _ in range(2000)]
        for i in range(count):
            path = root / f"d{i % 10}" / f"chunk{i}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            text = bytearray()
            while len(text) < 1 << 19:
                text += (" ".join(rng.choices(words, k=12)) + "\n").encode()
            path.write_bytes(rng.randbytes(1 << 19) + bytes(text[: 1 << 19]))
        marker.write_text("")
    return count << 20


def run_measured(argv: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process.

    Peak RSS comes from GNU time (Debian package ``time``): a child forked from this Python
    process would count this process's memory in its own ru_maxrss.
    """
    timer = shutil.which("time") or "/usr/bin/time"
    if not Path(timer).exists():
        raise RuntimeError("GNU time is needed for peak RSS: apt-get install time")
    start = time.perf_counter()
    proc = subprocess.run(
        [timer, "-f", "%M", *argv],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {proc.stderr}")
    return elapsed, int(proc.stderr.strip().splitlines()[-1]) / 1024


ZIPFILE_SCRIPT = """
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    for d, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            if f == ".complete":
                continue
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, src))
"""


def measure(tool: str, tree: Path, out: Path) -> Measurement:
    if out.exists():
        out.unlink()
    if tool == "detzip":
        argv = [
            sys.executable,
            "-m",
            "detzip",
            "function",
            str(tree),
            "-o",
            str(out),
            "--exclude",
            ".complete",
            # the same files as zip: the sampled library has venv/ folders (the stdlib's venv
            # package), which detzip's default excludes would leave out
            "--no-default-excludes",
            "--no-cache",  # every run writes (bench_cache measures hits)
        ]
        seconds, rss = run_measured(argv)
    elif tool == "zip -X -r -6":
        seconds, rss = run_measured(
            ["zip", "-X", "-r", "-6", "-q", str(out), ".", "-x", ".complete"], cwd=tree
        )
    else:
        seconds, rss = run_measured([sys.executable, "-c", ZIPFILE_SCRIPT, str(tree), str(out)])
    data = out.read_bytes()
    return Measurement(tool, seconds, rss, len(data), hashlib.sha256(data).hexdigest())


def _fsync_seconds(path: Path, size: int) -> float:
    """What making an output of ``size`` bytes durable costs here (detzip fsyncs every output
    and its folder before it reports success; the peers do not): write, then time the fsyncs."""
    with open(path, "wb") as handle:
        handle.write(os.urandom(min(size, 1 << 20)) * max(1, size >> 20))
        handle.flush()
        start = time.perf_counter()
        os.fsync(handle.fileno())
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    seconds = time.perf_counter() - start
    path.unlink()
    return seconds


def run(work: Path, quick: bool) -> dict[str, object]:
    size_mb = 20 if quick else 100
    repeats = 2 if quick else 3
    tree = work / f"tree-{size_mb}mb"
    input_bytes = make_tree(tree, size_mb)
    files = sum(1 for p in tree.rglob("*") if p.is_file()) - 1
    rows: list[dict[str, Any]] = []
    detzip_digests = set()
    for tool in ("detzip", "zip -X -r -6", "zipfile"):
        if tool.startswith("zip ") and shutil.which("zip") is None:
            continue
        runs = [measure(tool, tree, work / f"out-{tool.split()[0]}.zip") for _ in range(repeats)]
        if tool == "detzip":
            detzip_digests = {m.sha256 for m in runs}
        best = min(runs, key=lambda m: m.seconds)
        rows.append(
            {
                "tool": tool,
                "seconds": round(best.seconds, 3),
                "mb_per_s": round(input_bytes / 1e6 / best.seconds, 1),
                "output_bytes": best.output_bytes,
                "peak_rss_mb": round(max(m.peak_rss_mb for m in runs), 1),
            }
        )
    rows += _large_files(work, 16 if quick else 200, repeats)
    large_identical = all(row.pop("sha256s") != "differ" for row in rows if "sha256s" in row)
    detzip_row = rows[0]
    fsync = _fsync_seconds(work / "fsync-probe", int(detzip_row["output_bytes"]))
    detzip_row["fsync_s"] = round(fsync, 3)
    detzip_row["fsync_share"] = f"{fsync / float(detzip_row['seconds']):.0%}"
    reference = next((r for r in rows if r["tool"] == "zip -X -r -6"), None)
    for row in rows:
        if str(row["tool"]).startswith("large files"):
            continue
        if reference:
            row["speed_vs_zip"] = round(float(reference["seconds"]) / float(row["seconds"]), 2)
            row["size_vs_zip"] = round(int(row["output_bytes"]) / int(reference["output_bytes"]), 3)
    return {
        "benchmark": "writer",
        "input": f"{input_bytes / 1e6:.0f} MB in {files} files",
        "rows": rows,
        "identical": len(detzip_digests) == 1 and large_identical,
        "targets": "detzip >= 3x zip -X speed, size <= zip -X, peak RSS <= 100 MB; on large "
        "files (1 MiB, half random) >= 2.5x zip -X -r -6",
    }


def _large_files(work: Path, count: int, repeats: int) -> list[dict[str, object]]:
    """detzip --no-cache and ``zip -X -r -6`` on a tree of ``count`` 1 MiB files, alternating
    in the same run; detzip's digests go back under ``sha256s`` (one when its runs agree)."""
    tree = work / f"large-{count}"
    input_bytes = make_large_tree(tree, count)
    tools = ["detzip"] + (["zip -X -r -6"] if shutil.which("zip") else [])
    runs: dict[str, list[Measurement]] = {tool: [] for tool in tools}
    for _ in range(repeats):  # alternating: both see the same load
        for tool in tools:
            runs[tool].append(measure(tool, tree, work / f"large-{tool.split()[0]}.zip"))
    rows: list[dict[str, object]] = []
    for tool in tools:
        best = min(runs[tool], key=lambda m: m.seconds)
        rows.append(
            {
                "tool": f"large files: {tool}",
                "seconds": round(best.seconds, 3),
                "mb_per_s": round(input_bytes / 1e6 / best.seconds, 1),
                "output_bytes": best.output_bytes,
                "peak_rss_mb": round(max(m.peak_rss_mb for m in runs[tool]), 1),
            }
        )
    digests = {m.sha256 for m in runs["detzip"]}
    rows[0]["sha256s"] = digests.pop() if len(digests) == 1 else "differ"
    if len(rows) > 1:
        ours, peer = runs["detzip"], runs[tools[1]]
        fastest, fastest_peer = min(m.seconds for m in ours), min(m.seconds for m in peer)
        rows[0]["speed_vs_zip"] = round(fastest_peer / fastest, 2)
        rows[0]["size_vs_zip"] = round(ours[0].output_bytes / peer[0].output_bytes, 3)
    return rows
