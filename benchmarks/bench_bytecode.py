"""Cold imports from a layer, with and without ``--compile``, on a python3.11 target.

Each layer is built for this machine's Python (python3.11: the only interpreter here), extracted
to a read-only folder as Lambda does with /opt, and a fresh interpreter imports every top-level
package with ``PYTHONDONTWRITEBYTECODE=1`` (nothing compiled at one cold start is kept for the
next). The whole process is timed; the median of several runs is reported, with the size the
bytecode adds. detzip's outputs must be byte-identical across runs. Full mode: real wheels
from PyPI. Quick mode (CI): synthetic pure-Python wheels (importable modules, the top-level
package imports them all) from a local folder, no network.
"""

from __future__ import annotations

import os
import stat
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import _wheels
from bench_layer import pin

#: quick mode: synthetic pure-Python distributions (MB unzipped)
SYNTHETIC = {"synthrequests": 0.5, "synthyaml": 0.3}
SETS = {
    "quick": {"synthetic service layer": list(SYNTHETIC)},
    "full": {
        "example service layer": ["requests", "pyyaml"],
        "API layer": [
            "pydantic",
            "requests",
            "pyjwt",
            "python-dateutil",
            "orjson",
            "attrs",
            "httpx",
            "fastapi",
        ],
    },
}
RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"
IMPORTS = {"pyyaml": "yaml", "pyjwt": "jwt", "python-dateutil": "dateutil"}


def _layer(requirements: Path, out: Path, compile: bool, wheels: Path | None) -> Path:
    from detzip.api import build_layer

    build_layer(requirements, out, runtime=RUNTIME, arch="x86_64", compile=compile,
                cache_dir=requirements.parent / "detzip-cache", cache=False,
                find_links=[str(wheels)] if wheels else None, no_index=bool(wheels))  # fmt: skip
    return out


def _extract(layer: Path, folder: Path) -> Path:
    if folder.exists():
        for path in folder.rglob("*"):
            path.chmod(0o755)
        import shutil

        shutil.rmtree(folder)
    with zipfile.ZipFile(layer) as archive:
        archive.extractall(folder)
    for path in sorted(folder.rglob("*"), reverse=True):  # read-only, like /opt on Lambda
        path.chmod(stat.S_IREAD | (stat.S_IEXEC if path.is_dir() else 0))
    return folder / "python"


def _cold_import(site: Path, modules: list[str], runs: int) -> float:
    code = "; ".join(f"import {m}" for m in modules)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(site)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        # -B: -I ignores PYTHONDONTWRITEBYTECODE, and root could write into read-only folders
        subprocess.run([sys.executable, "-I", "-B", "-c", f"import sys; sys.path.insert(0, "
                        f"{str(site)!r}); {code}"], env=env, check=True)  # fmt: skip
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(work: Path, quick: bool) -> dict[str, object]:
    mode = "quick" if quick else "full"
    work = work / mode
    work.mkdir(parents=True, exist_ok=True)
    runs = 5 if quick else 11
    rows: list[dict[str, object]] = []
    identical = True
    start_up = _cold_import(work, [], runs)
    rows.append({"case": "python -I -c pass (start-up)", "seconds": round(start_up, 3)})
    for name, packages in SETS[mode].items():
        folder = work / name.replace(" ", "-")
        folder.mkdir(exist_ok=True)
        wheels: Path | None = None
        if quick:
            requirements, wheels = _wheels.pinned(folder, "quick", SYNTHETIC, binary=False)
        else:
            requirements = pin(folder, packages, runtime=RUNTIME)
        modules = [IMPORTS.get(p, p.replace("-", "_")) for p in packages]
        measured = {}
        for compiled in (False, True):
            layer = _layer(requirements, folder / f"layer-{compiled}.zip", compiled, wheels)
            again = _layer(requirements, folder / f"again-{compiled}.zip", compiled, wheels)
            identical &= layer.read_bytes() == again.read_bytes()
            unzipped = sum(i.file_size for i in zipfile.ZipFile(layer).infolist())
            site = _extract(layer, folder / f"opt-{compiled}")
            measured[compiled] = (_cold_import(site, modules, runs), unzipped)
        (plain, plain_size), (fast, fast_size) = measured[False], measured[True]
        rows.append({
            "case": f"{name}: import, no bytecode", "seconds": round(plain, 3),
            "unzipped_mb": round(plain_size / 1e6, 1),
        })  # fmt: skip
        rows.append({
            "case": f"{name}: import, --compile", "seconds": round(fast, 3),
            "unzipped_mb": round(fast_size / 1e6, 1),
            "speedup": round(plain / fast, 2),
            "speedup_over_startup": round((plain - start_up) / max(fast - start_up, 1e-3), 2),
            "size_cost": f"+{(fast_size - plain_size) / plain_size:.0%}",
        })  # fmt: skip
    return {
        "benchmark": "bytecode",
        "input": f"cold imports on {RUNTIME} from read-only extractions (median of {runs})",
        "identical": identical,
        "rows": rows,
        "targets": "imports >= 1.5x faster with --compile (whole process); the size cost reported",
    }
