"""Layer build: detzip (warm wheel store) vs pip --target + zip -X vs uv --target + zip -X.

detzip runs with ``--no-cache``: this measures building, not serving a cached artifact.

A realistic python3.12 x86_64 layer is resolved once (by detzip, through pip) and pinned with
hashes; then every tool builds it from warm caches, each as its own process. detzip's outputs
must be byte-identical across runs. Needs PyPI (for the first resolution and the warm-up).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = {
    "quick": ["httpx", "pydantic"],
    "full": ["boto3", "sqlalchemy", "httpx", "pydantic", "fastapi", "mangum"],
}
RUNTIME, ARCH = "python3.12", "x86_64"


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
        for p in artifact.options["packages"]
    ]
    pinned.write_text("\n".join(lines) + "\n")
    return pinned


def run(work: Path, quick: bool) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    mode = "quick" if quick else "full"
    work = work / mode
    work.mkdir(exist_ok=True)
    requirements = pin(work, PACKAGES[mode])
    count = len(requirements.read_text().splitlines())
    repeats = 2 if quick else 3
    from detzip.deps.targets import Target

    target_args = Target(RUNTIME, ARCH).pip_arguments()
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    env = {"PIP_CACHE_DIR": str(work / "pip-cache"), "UV_CACHE_DIR": str(work / "uv-cache")}

    def detzip(out: Path) -> float:
        return _run(
            [
                sys.executable,
                "-m",
                "detzip",
                "layer",
                "-r",
                str(requirements),
                "-o",
                str(out),
                "--runtime",
                RUNTIME,
                "--arch",
                ARCH,
                "--cache-dir",
                str(work / "detzip-cache"),
                "--no-cache",  # every run installs and writes (bench_cache measures hits)
            ]
        )

    def pip_zip(out: Path) -> float:
        target = out.parent / "pip-target"
        shutil.rmtree(target, ignore_errors=True)
        seconds = _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--target",
                str(target / "python"),
                *target_args,
                "-r",
                str(requirements),
            ],
            env=env,
        )
        return seconds + _run(["zip", "-X", "-r", "-q", str(out), "python"], cwd=target)

    def uv_zip(out: Path) -> float:
        target = out.parent / "uv-target"
        shutil.rmtree(target, ignore_errors=True)
        seconds = _run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--target",
                str(target / "python"),
                "--python-platform",
                "x86_64-manylinux_2_34",
                "--python-version",
                "3.12",
                "-r",
                str(requirements),
            ],
            env=env,
        )
        return seconds + _run(["zip", "-X", "-r", "-q", str(out), "python"], cwd=target)

    tools = {"detzip (warm store)": detzip, "pip --target + zip -X": pip_zip}
    if Path(uv).exists():
        tools["uv --target + zip -X"] = uv_zip
    rows = []
    digests: set[str] = set()
    for name, build in tools.items():
        out = work / "out" / f"{name.split()[0]}.zip"
        out.parent.mkdir(exist_ok=True)
        out.unlink(missing_ok=True)
        build(out)  # warm-up: fills this tool's cache
        times = []
        for _ in range(repeats):
            out.unlink(missing_ok=True)
            times.append(build(out))
            if name.startswith("detzip"):
                digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
        rows.append(
            {"tool": name, "seconds": round(min(times), 3), "output_bytes": out.stat().st_size}
        )
    baseline = {r["tool"]: float(r["seconds"]) for r in rows}  # type: ignore[arg-type]
    ours = baseline["detzip (warm store)"]
    for row in rows:
        row["detzip_speedup"] = round(float(row["seconds"]) / ours, 1)  # type: ignore[arg-type]
    return {
        "benchmark": "layer",
        "input": f"{RUNTIME} {ARCH}: {', '.join(PACKAGES[mode])} ({count} distributions)",
        "rows": rows,
        "identical": len(digests) == 1,
        "targets": "detzip >= 10x faster than pip+zip, >= 3x faster than uv+zip; identical bytes",
    }
