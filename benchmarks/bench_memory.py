"""Layer scaling: time and peak RSS of `detzip layer --no-cache` as the layer grows.

Each layer is built from a warm wheel store as its own process (peak RSS from GNU time), so
the table shows what a layer costs in memory as it grows toward Lambda's 262,144,000-byte
unzipped limit: members copied from wheels stream through in bounded chunks. The largest
layer is built once more with ``--recompress``: each member is then inflated and compressed
whole, so memory may grow by about twice the largest member (``deflate`` has no streaming API).

Full mode: real wheels from PyPI for python3.12 x86_64 (~10, ~100 and ~250 MB unzipped).
Quick mode (CI): synthetic wheels of the same shape (many small modules, a few large shared
libraries, already deflated) served from a local folder, no network.
detzip's outputs must be byte-identical across runs; memory and speed are reported, never
asserted.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import _wheels
import bench_layer
import bench_writer

#: full mode: PyPI packages per layer
LAYERS = {
    "~10 MB": ["requests", "pyyaml", "attrs", "python-dateutil"],
    "~100 MB": ["numpy", "pandas"],
    "~250 MB": ["numpy", "pandas", "scipy", "scikit-learn"],
}
#: quick mode: synthetic layers of (packages, MB unzipped each)
SYNTHETIC = {"~10 MB": (2, 5), "~60 MB": (3, 20)}
#: the many-member layer (issue 33): wheels x source modules of ~0.9 KB each (2 functions),
#: plus 26 other members per wheel: 28 x 2,500 = 70,000 members (quick: 4 x 500)
MANY = {"full": (28, 2474), "quick": (4, 474)}


def run(work: Path, quick: bool) -> dict[str, object]:
    mode = "quick" if quick else "full"
    work = work / mode
    work.mkdir(parents=True, exist_ok=True)
    repeats = 2 if quick else 3
    rows: list[dict[str, object]] = []
    identical = True
    labels = list(SYNTHETIC if quick else LAYERS)
    for label, recompress in [*((label, False) for label in labels), (labels[-1], True)]:
        extra: list[str] = ["--recompress"] if recompress else []
        if quick:
            count, megabytes = SYNTHETIC[label]
            names = {f"synthetic{megabytes}mb{i}": megabytes for i in range(count)}
            tag = label.strip("~ ").replace(" ", "")
            requirements, wheels = _wheels.pinned(work, tag, names)
            extra += [*_wheels.offline(wheels), "--runtime", "python3.12"]
        else:
            folder = work / label.strip("~ ").replace(" ", "")
            folder.mkdir(exist_ok=True)
            requirements = bench_layer.pin(folder, LAYERS[label])
        out = work / "layer.zip"
        argv = [sys.executable, "-m", "detzip", "layer", "-r", str(requirements), "-o", str(out)]
        argv += ["--cache-dir", str(work / "detzip-cache"), "--no-cache", *extra]
        bench_writer.run_measured(argv)  # warm-up: fills the wheel store
        runs = []
        digests = set()
        for _ in range(repeats):
            out.unlink(missing_ok=True)
            runs.append(bench_writer.run_measured(argv))
            digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
        identical = identical and len(digests) == 1
        with zipfile.ZipFile(out) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
            largest = max(info.compress_size for info in archive.infolist())
            largest_unzipped = max(info.file_size for info in archive.infolist())
        rows.append(
            {
                "layer": label + (", --recompress" if recompress else ""),
                "unzipped_bytes": unzipped,
                "zipped_bytes": out.stat().st_size,
                "largest_member_zipped": largest,
                "largest_member_unzipped": largest_unzipped,
                "seconds": round(min(seconds for seconds, _ in runs), 3),
                "peak_rss_mb": round(max(rss for _, rss in runs), 1),
            }
        )
    smallest = float(rows[0]["peak_rss_mb"])  # type: ignore[arg-type]
    for row in rows:
        row["rss_above_smallest_mb"] = round(float(row["peak_rss_mb"]) - smallest, 1)  # type: ignore[arg-type]
    many, many_identical = _many_members(work, mode, repeats)
    rows.append(many)
    identical = identical and many_identical
    what = "synthetic wheels, local folder" if quick else "PyPI wheels, python3.12 x86_64"
    return {
        "benchmark": "memory",
        "input": f"layers of growing size ({what}), --no-cache, warm wheel store",
        "rows": rows,
        "identical": identical,
        "targets": "the many-member layer (70,000 members in full mode): <= 5 s and <= 80 MB; "
        "peak RSS <= 80 MB for any layer up to 262,144,000 bytes unzipped, and "
        "<= 15 MB above the smallest layer's (copied members); with --recompress, <= 80 MB plus "
        "twice the largest member unzipped",
    }


def _many_members(work: Path, mode: str, repeats: int) -> tuple[dict[str, object], bool]:
    """A layer of many small members from a warm wheel store (``--no-cache``: built every
    run), against ``zip -X -r`` of the same files extracted, in the same run."""
    import shutil

    count, modules = MANY[mode]
    names = {f"synthmany{modules}x{i}": 1.0 for i in range(count)}
    requirements, wheels = _wheels.pinned(
        work, f"many-{mode}", names, binary=False, modules=modules, functions=2
    )
    out = work / "many.zip"
    argv = [sys.executable, "-m", "detzip", "layer", "-r", str(requirements), "-o", str(out)]
    argv += ["--cache-dir", str(work / "detzip-cache"), "--no-cache", "--runtime", "python3.12"]
    argv += _wheels.offline(wheels)
    bench_writer.run_measured(argv)  # warm-up: fills the wheel store
    runs = []
    digests = set()
    for _ in range(repeats):
        out.unlink(missing_ok=True)
        runs.append(bench_writer.run_measured(argv))
        digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
    with zipfile.ZipFile(out) as archive:
        members = len(archive.infolist())
        unzipped = sum(info.file_size for info in archive.infolist())
        tree = work / "many-tree"
        shutil.rmtree(tree, ignore_errors=True)
        archive.extractall(tree)
    peer = []
    if shutil.which("zip"):
        for _ in range(repeats):
            (work / "many-peer.zip").unlink(missing_ok=True)
            zipped = ["zip", "-X", "-r", "-q", str(work / "many-peer.zip"), "."]
            peer.append(bench_writer.run_measured(zipped, cwd=tree)[0])
    shutil.rmtree(tree, ignore_errors=True)
    seconds = min(s for s, _ in runs)
    row: dict[str, object] = {
        "layer": f"{members:,} members, warm wheel store",
        "unzipped_bytes": unzipped,
        "zipped_bytes": out.stat().st_size,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(max(rss for _, rss in runs), 1),
    }
    if peer:
        row["vs_zip_of_the_extracted_files"] = round(min(peer) / seconds, 2)
    return row, len(digests) == 1
