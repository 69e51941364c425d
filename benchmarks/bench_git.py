"""A tree in a git work tree against the same tree outside git, as whole `detzip` processes.

In a git work tree detzip asks git's index for each tracked file's mode and checks that each
file's bytes are git's stored blob (a CRLF checkout is converted to the committed LF through
git); the stat memo remembers what git said, so a hit asks git nothing. The tree is the writer
benchmark's (sampled from the standard library; 10 MB in quick mode, 100 MB in full mode),
copied twice: once outside any work tree, once committed in a repository of its own; a
``core.autocrlf=true`` clone of that commit is the CRLF checkout. Each case is a --no-cache
build and a hit with the output in place (a cache warmed with one build, the stat memo past its
racy window), timed as in the cache benchmark, interleaved, the median of a few runs; then
``--from-git HEAD`` (the commit's tree: a hit recalls its files by the commit's id) and the
CRLF checkout, each against the work tree's. Every output must have the same bytes.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bench_writer
from bench_cache import _build, _seconds

#: tree size (MB) and runs (--no-cache builds, hits) per mode
SIZES = {"quick": 10, "full": 100}
RUNS = {"quick": (3, 5), "full": (5, 9)}

#: the environment of git and of detzip: no user or system config, a fixed author and date
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "detzip benchmark",
    "GIT_AUTHOR_EMAIL": "benchmark@example.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "detzip benchmark",
    "GIT_COMMITTER_EMAIL": "benchmark@example.invalid",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
}

#: the cases, for the table
CASES = {
    "outside": "outside git",
    "in_git": "in a git work tree",
    "from_git": "--from-git HEAD",
    "crlf": "CRLF checkout (core.autocrlf=true)",
}


def _git(cwd: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **env}, check=True)


def make_trees(work: Path, size: int, env: dict[str, str]) -> tuple[dict[str, Path], int, int]:
    """The writer benchmark's tree copied outside git, committed in a repository, and that
    commit cloned with ``core.autocrlf=true``; made anew each run (the memo's racy window
    starts now). Returns the trees by case, the file count and how many files the CRLF
    checkout wrote differently."""
    source = work.parent.parent / "writer" / f"tree-{size}mb"
    bench_writer.make_tree(source, size)
    trees = {"outside": work / "outside", "in_git": work / "repo", "crlf": work / "crlf"}
    for folder in trees.values():
        shutil.rmtree(folder, ignore_errors=True)
    marker = shutil.ignore_patterns(".complete")
    shutil.copytree(source, trees["outside"], ignore=marker)
    shutil.copytree(source, trees["in_git"], ignore=marker)
    repo = trees["in_git"]
    _git(repo, env, "-c", "init.defaultBranch=main", "init", "-q")
    _git(repo, env, "add", "-A", "-f")
    _git(repo, env, "commit", "-q", "-m", "the writer benchmark's tree")
    _git(work, env, "clone", "-q", "-c", "core.autocrlf=true", str(repo), str(trees["crlf"]))
    trees["from_git"] = repo
    files = [p.relative_to(repo) for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts]
    converted = sum(
        1 for rel in files if (repo / rel).read_bytes() != (trees["crlf"] / rel).read_bytes()
    )
    return trees, len(files), converted


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _median(runs: int, cases: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Each case's median over ``runs`` rounds, the cases interleaved in every round."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, once in cases.items():
            samples[name].append(once())
    return {name: statistics.median(times) for name, times in samples.items()}


def run(work: Path, quick: bool) -> dict[str, object]:
    mode = "quick" if quick else "full"
    work = (work / mode).resolve()
    work.mkdir(parents=True, exist_ok=True)
    builds, hits = RUNS[mode]
    size = SIZES[mode]
    # git finds no repository above the work folder (the project's own checkout): the copy
    # outside git is outside every work tree
    # scratch folders (git's clean forms, --from-git's blobs) on the work folder's disk: a
    # sandbox's /tmp can be an order of magnitude slower to create files in than its disk
    (work / "tmp").mkdir(exist_ok=True)
    env = {
        "DETZIP_CACHE": "",
        **GIT_ENV,
        "GIT_CEILING_DIRECTORIES": str(work),
        "TMPDIR": str(work / "tmp"),
    }
    trees, files, converted = make_trees(work, size, env)
    mb = sum(p.stat().st_size for p in trees["outside"].rglob("*") if p.is_file()) / 1e6
    digests: set[str] = set()
    by_case: dict[str, set[str]] = {}  # (which case differed, when one does)

    def noted(case: str, out: Path, seconds: float) -> float:
        by_case.setdefault(case, set()).add(_sha256(out))
        return seconds

    def argv(case: str, out: Path, *more: str) -> list[str]:
        line = [sys.executable, "-m", "detzip", "function", str(trees[case]), "-o", str(out)]
        return line + (["--from-git", "HEAD"] if case == "from_git" else []) + list(more)

    def no_cache(case: str) -> Callable[[], float]:
        line = argv(case, work / f"no-cache-{case}.zip", "--no-cache")
        out = work / f"no-cache-{case}.zip"
        return lambda: noted(f"no-cache {case}", out, _build(line, out, env, digests))

    caches = {case: work / f"cache-{case}" for case in CASES}
    for folder in caches.values():
        shutil.rmtree(folder, ignore_errors=True)
    cached = {
        case: argv(case, work / f"hit-{case}.zip", "--cache-dir", str(caches[case]))
        for case in CASES
    }

    def hit(case: str) -> Callable[[], float]:
        out = work / f"hit-{case}.zip"
        return lambda: noted(f"hit {case}", out, _build(cached[case], out, env, digests, keep=True))

    time.sleep(2.1)  # past the stat memo's racy window: the first walk vouches for every file
    for case in CASES:  # a miss: fills each cache and memo
        out = work / f"hit-{case}.zip"
        noted(f"miss {case}", out, _build(cached[case], out, env, digests))
    built = _median(builds, {case: no_cache(case) for case in CASES})
    time.sleep(2.1)  # the outputs' own memo, past its racy window
    for case in CASES:
        hit(case)()
    timed = _median(
        hits,
        {"startup": lambda: _seconds([sys.executable, "-c", "pass"]), **{c: hit(c) for c in CASES}},
    )
    startup = timed.pop("startup")

    rows: list[dict[str, object]] = [
        {"case": "python -c pass (start-up)", "seconds": round(startup, 3)}
    ]
    for kind, seconds in (("--no-cache", built), ("hit, output in place", timed)):
        for case in CASES:
            row: dict[str, object] = {
                "case": f"{kind}: {CASES[case]}",
                "seconds": round(seconds[case], 3),
            }
            if case == "in_git":
                row["vs_outside_git"] = round(seconds["in_git"] / seconds["outside"], 2)
            elif case != "outside":
                row["vs_work_tree"] = round(seconds[case] / seconds["in_git"], 2)
            if kind != "--no-cache":
                row["over_startup_ms"] = round((seconds[case] - startup) * 1000)
            rows.append(row)
    return {
        "benchmark": "git",
        "input": f"the writer benchmark's tree ({mb:.0f} MB, {files:,} files) outside git, "
        f"committed in a repository, and its CRLF checkout ({converted:,} files converted)",
        "rows": rows,
        "identical": len(digests) == 1,
        "digests": {case: sorted(found) for case, found in by_case.items()},
        "targets": "in a git work tree, a --no-cache build and a hit within 10% of the same "
        "tree outside git (vs_outside_git <= 1.10); identical bytes from the LF, CRLF and "
        "--from-git builds",
    }
