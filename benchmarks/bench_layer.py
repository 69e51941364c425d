"""Layer build: detzip (warm wheel store) vs pip --target + zip -X vs uv --target + zip -X.

detzip runs with ``--no-cache``: this measures building, not serving a cached artifact. It runs
once more with ``--recompress`` at levels 6, 9 and 12 (quick mode: 6 and 12): the wheels'
members are inflated and compressed again, a smaller layer for a slower build; every row shows
its size against the smallest peer's zip (``size_vs_smallest_peer`` < 1: smaller than all).
Full mode ends with cold builds: every tool from empty caches, downloading from PyPI, detzip
also with one ``pip download`` at a time as 0.1.0 fetched (now several run at once), and uv's
install alone (no zip), the peer of the cold target (``vs_uv_install`` <= 1.5).

Full mode: a realistic python3.12 x86_64 layer is resolved once (by detzip, through pip, from
PyPI) and pinned with hashes. Quick mode (CI): synthetic wheels of the same shape (importable
modules, a few shared libraries), pinned with hashes and installed by every tool from a local
folder (``--no-index --find-links``), no network. Every tool builds from warm caches, each as
its own process; detzip's outputs must be byte-identical across runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import _wheels

PACKAGES = {
    "quick": ["httpx", "pydantic"],  # not installed in quick mode: see SYNTHETIC
    "full": ["boto3", "sqlalchemy", "httpx", "pydantic", "fastapi", "mangum"],
}
#: quick mode: synthetic distributions (MB unzipped, 27 MB in all), three with shared libraries
SYNTHETIC = {
    "synthhttp": 1.0,
    "synthmodels": 2.0,
    "synthmodelscore": 4.0,
    "synthorm": 5.0,
    "synthsdk": 6.0,
    "synthsdkcore": 3.0,
    "synthutil": 0.5,
    "synthdates": 1.0,
    "synthweb": 2.5,
    "synthcrypto": 2.0,
}
SYNTHETIC_BINARY = {"synthmodelscore", "synthorm", "synthcrypto"}
RUNTIME, ARCH = "python3.12", "x86_64"
LEVELS = {"quick": [6, 12], "full": [6, 9, 12]}


def requirements_for(work: Path, mode: str) -> tuple[Path, list[str], str]:
    """The layer's pinned requirements, the extra arguments every installer needs for them
    (quick mode: the local folder, no index) and what they are, for the table's title."""
    if mode == "quick":
        requirements, wheels = _wheels.pinned(work, "quick", SYNTHETIC, binary=SYNTHETIC_BINARY)
        what = f"{len(SYNTHETIC)} synthetic distributions, local folder"
        return requirements, _wheels.offline(wheels), what
    requirements = pin(work, PACKAGES[mode])
    count = len(requirements.read_text().splitlines())
    return requirements, [], f"{', '.join(PACKAGES[mode])} ({count} distributions)"


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def pin(work: Path, packages: list[str], runtime: str = RUNTIME) -> Path:
    """Resolve once for the target and write a pinned requirements.txt with hashes."""
    from detzip.api import build_layer

    pinned = work / "requirements.txt"
    if pinned.exists():
        return pinned
    loose = work / "requirements.in"
    loose.write_text("\n".join(packages) + "\n")
    artifact = build_layer(
        loose,
        work / "resolve.zip",
        runtime=runtime,
        arch=ARCH,
        cache_dir=work / "detzip-cache",
        cache=False,
    )
    lines = [
        f"{p['name']}=={p['version']} --hash=sha256:{p['sha256']}"
        for p in artifact.description["packages"]
    ]
    pinned.write_text("\n".join(lines) + "\n")
    return pinned


def run(work: Path, quick: bool) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    mode = "quick" if quick else "full"
    work = work / mode
    work.mkdir(exist_ok=True)
    requirements, offline, what = requirements_for(work, mode)
    repeats = 2 if quick else 3
    from detzip.deps.targets import Target

    target_args = Target(RUNTIME, ARCH).pip_arguments()
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    # pip's cache (pip's and detzip's pip), uv's: emptied for the cold builds
    env = {"PIP_CACHE_DIR": str(work / "pip-cache"), "UV_CACHE_DIR": str(work / "uv-cache")}

    def detzip(*extra: str, entry: tuple[str, ...] = ("-m", "detzip")) -> Callable[[Path], float]:
        def build(out: Path) -> float:
            argv = [sys.executable, *entry, "layer", "-r", str(requirements)]
            argv += ["-o", str(out), "--runtime", RUNTIME, "--arch", ARCH]
            argv += ["--cache-dir", str(work / "detzip-cache"), *offline, *extra]
            return _run([*argv, "--no-cache"], env=env)  # every run installs and writes

        return build

    def pip_zip(out: Path) -> float:
        target = out.parent / "pip-target"
        shutil.rmtree(target, ignore_errors=True)
        argv = [sys.executable, "-m", "pip", "install", "--quiet", "--target"]
        argv += [str(target / "python"), *target_args, *offline, "-r", str(requirements)]
        seconds = _run(argv, env=env)
        return seconds + _run(["zip", "-X", "-r", "-q", str(out), "python"], cwd=target)

    def uv_install(out: Path) -> float:
        target = out.parent / "uv-target"
        shutil.rmtree(target, ignore_errors=True)
        argv = [uv, "pip", "install", "--quiet", "--target", str(target / "python")]
        argv += ["--python-platform", "x86_64-manylinux_2_34", "--python-version", "3.12"]
        return _run([*argv, *offline, "-r", str(requirements)], env=env)

    def uv_zip(out: Path) -> float:
        seconds = uv_install(out)
        return seconds + _run(
            ["zip", "-X", "-r", "-q", str(out), "python"], cwd=out.parent / "uv-target"
        )

    tools = {"detzip (warm store)": detzip(), "pip --target + zip -X": pip_zip}
    if Path(uv).exists():
        tools["uv --target + zip -X"] = uv_zip
    for level in LEVELS[mode]:
        recompress = detzip("--recompress", "--level", str(level))
        tools[f"detzip --recompress --level {level}"] = recompress
    rows = []
    identical = True
    for index, (name, build) in enumerate(tools.items()):
        out = work / "out" / f"{index}.zip"
        out.parent.mkdir(exist_ok=True)
        if "--recompress" not in name:  # warm-up: fills this tool's cache (detzip's is shared)
            out.unlink(missing_ok=True)
            build(out)
        times = []
        digests = set()
        for _ in range(repeats):
            out.unlink(missing_ok=True)
            times.append(build(out))
            digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
        if name.startswith("detzip"):
            identical = identical and len(digests) == 1
        rows.append(
            {"tool": name, "seconds": round(min(times), 3), "output_bytes": out.stat().st_size}
        )
    ours = next(float(r["seconds"]) for r in rows if r["tool"] == "detzip (warm store)")  # type: ignore[arg-type]
    peers = [int(r["output_bytes"]) for r in rows if not str(r["tool"]).startswith("detzip")]  # type: ignore[call-overload]
    for row in rows:
        row["detzip_speedup"] = round(float(row["seconds"]) / ours, 1)  # type: ignore[arg-type]
        row["size_vs_smallest_peer"] = round(int(row["output_bytes"]) / min(peers), 4)  # type: ignore[call-overload]
    rows.append(_member_checks(work / "detzip-cache"))
    if not quick:  # downloads: full mode only
        cold = {
            "detzip": detzip(),
            "detzip, one pip at a time (0.1.0)": detzip(entry=("-c", _ONE_PIP)),
        }
        cold |= {name: build for name, build in tools.items() if not name.startswith("detzip")}
        if Path(uv).exists():  # the target: detzip's cold miss <= 1.5x uv's install alone
            cold["uv pip install --target (no zip)"] = uv_install
        rows += _cold(work, cold, env)
    return {
        "benchmark": "layer",
        "input": f"{RUNTIME} {ARCH}: {what}",
        "rows": rows,
        "identical": identical,
        "targets": "detzip >= 10x faster than pip+zip, >= 3x faster than uv+zip; no zip larger "
        "than the smallest peer's with --recompress (size_vs_smallest_peer <= 1); identical bytes",
    }


def _member_checks(cache: Path) -> dict[str, object]:
    """What checking every member of the stored wheels costs (done once, as each wheel enters
    the store: part of a cold miss; a warm build recalls the verdicts), in this process, one
    wheel after another (a miss checks up to four at once)."""
    from detzip.inputs.wheel import check_wheel

    stored = sorted((cache / "wheels").rglob("*.whl"))
    started = time.perf_counter()
    unzipped = sum(check_wheel(path, path.parent.name).unzipped for path in stored)
    seconds = time.perf_counter() - started
    return {
        "tool": f"checking the members of the {len(stored)} wheels ({unzipped / 1e6:.0f} MB "
        "unzipped): once per wheel, on a cold miss",
        "seconds": round(seconds, 3),
    }


#: 0.1.0 fetched the missing wheels with one ``pip download``; now several run at once
_ONE_PIP = "import sys, detzip.deps.store as s; s.DOWNLOADS = 1; from detzip.cli import main; "
_ONE_PIP += "sys.exit(main(sys.argv[1:]))"


def _cold(
    work: Path, tools: dict[str, Callable[[Path], float]], env: dict[str, str]
) -> list[dict[str, object]]:
    """Every tool from empty caches (all downloads from PyPI): three rounds, the tools taking
    turns in each (the network's ups and downs fall on all alike), the median of each; each
    row's ratio to detzip and to uv's install alone (the target: detzip <= 1.5x that)."""
    caches = [work / "detzip-cache", Path(env["PIP_CACHE_DIR"]), Path(env["UV_CACHE_DIR"])]
    times: dict[str, list[float]] = {name: [] for name in tools}
    for _ in range(3):
        for name, build in tools.items():
            out = work / "out" / "cold.zip"
            for cache in caches:
                shutil.rmtree(cache, ignore_errors=True)
            out.unlink(missing_ok=True)
            times[name].append(build(out))
    rows: list[dict[str, object]] = [
        {"tool": f"cold, empty caches: {name}", "seconds": round(statistics.median(runs), 3)}
        for name, runs in times.items()
    ]
    ours = float(rows[0]["seconds"])  # type: ignore[arg-type]
    uv = statistics.median(times.get("uv pip install --target (no zip)", [0.0]))
    for row in rows:
        row["detzip_speedup"] = round(float(row["seconds"]) / ours, 1)  # type: ignore[arg-type]
        if uv:
            row["vs_uv_install"] = round(float(row["seconds"]) / uv, 2)  # type: ignore[arg-type]
    return rows
