"""Run every benchmark of the project and print one table.

    python benchmarks/run.py --quick        # CI: small inputs, a couple of runs
    python benchmarks/run.py                # full mode, for the README table

Results are also written as JSON (``--json-out``, default benchmarks/results.json). The exit
code is non-zero only if a benchmark's detzip outputs were not byte-identical across its runs;
speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_bytecode  # noqa: E402
import bench_cache  # noqa: E402
import bench_fleet  # noqa: E402
import bench_git  # noqa: E402
import bench_layer  # noqa: E402
import bench_memory  # noqa: E402
import bench_writer  # noqa: E402

BENCHMARKS = {
    "writer": bench_writer.run,
    "layer": bench_layer.run,
    "memory": bench_memory.run,
    "cache": bench_cache.run,
    "bytecode": bench_bytecode.run,
    "git": bench_git.run,
    "fleet": bench_fleet.run,
}


def format_table(result: dict[str, object]) -> str:
    rows = result["rows"]
    assert isinstance(rows, list)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    widths = {c: max(len(c), *(len(str(row.get(c, ""))) for row in rows)) for c in columns}
    lines = [
        f"## {result['benchmark']}: {result['input']} (identical outputs: {result['identical']})",
        "| " + " | ".join(c.ljust(widths[c]) for c in columns) + " |",
        "|" + "|".join("-" * (widths[c] + 2) for c in columns) + "|",
    ]
    for row in rows:
        lines.append(
            "| " + " | ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns) + " |"
        )
    lines.append(f"targets: {result['targets']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small inputs (CI)")
    parser.add_argument(
        "--work", type=Path, default=HERE / ".work", help="scratch folder (kept for reuse)"
    )
    parser.add_argument("--json-out", type=Path, default=HERE / "results.json")
    parser.add_argument(
        "only", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default all)"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for name, bench in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        result = bench(args.work / name, args.quick)
        results.append(result)
        print(format_table(result), flush=True)
        print()
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "mode": "quick" if args.quick else "full",
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores, "
        f"Python {platform.python_version()}",
        "results": results,
    }
    args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    broken = [r["benchmark"] for r in results if not r["identical"]]
    if broken:
        print(f"FAIL: detzip outputs differed between runs in: {', '.join(map(str, broken))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
