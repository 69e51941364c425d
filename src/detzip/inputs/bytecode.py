"""Packed ``.py`` entries → hash-based pycs (PEP 552) compiled by the target's interpreter.

Lambda's code folders are read-only and a zip has fixed times, so a timestamp pyc would never
be used and nothing compiled at a cold start is kept: every cold start compiles every module it
imports. A hash-based pyc is valid whatever the file times: ``checked-hash`` (the default) is
used while the source still has the hash it was compiled from (safe if a source is edited),
``unchecked-hash`` always. Each ``NAME.py`` gets ``__pycache__/NAME.cpython-3XY.pyc`` beside it.

The pycs are written by an interpreter of the runtime's minor version (see
:mod:`detzip.inputs.interpreter`), in worker processes on every core; each file is compiled on
its own with ``co_filename`` set to where Lambda will see it (``/var/task/…`` for a function,
``/opt/…`` for a layer), so the bytes depend on the source and the interpreter only — not the
build folder, the hash seed, or how the files were split between workers.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import subprocess
import zlib
from collections.abc import Sequence

from detzip.errors import DetzipError, Setting, literal
from detzip.inputs.interpreter import Interpreter
from detzip.zip.entries import DEFLATED, Entry, FromBytes, FromFile, Precompressed

__all__ = ["MODES", "compile_entries", "pyc_name"]

#: PEP 552 invalidation modes: the flags word of the pyc header
MODES = {"checked-hash": 0b11, "unchecked-hash": 0b01}

_WORKER = r"""
import base64, importlib.util, json, marshal, sys
flags = int(sys.argv[1]).to_bytes(4, "little")
for line in sys.stdin:
    item = json.loads(line)
    source = base64.b64decode(item["source"])
    try:
        code = compile(source, item["dfile"], "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError) as exc:
        where = " line %s" % exc.lineno if getattr(exc, "lineno", None) else ""
        print(json.dumps({"name": item["name"], "error": "%s%s: %s" % (
            type(exc).__name__, where, getattr(exc, "msg", None) or exc)}), flush=True)
        continue
    data = importlib.util.MAGIC_NUMBER + flags + importlib.util.source_hash(source)
    data += marshal.dumps(code)
    print(json.dumps({"name": item["name"], "pyc": base64.b64encode(data).decode()}), flush=True)
"""


def pyc_name(name: str, interpreter: Interpreter) -> str:
    """``pkg/mod.py`` → ``pkg/__pycache__/mod.cpython-311.pyc``."""
    folder, _, file = name.rpartition("/")
    tag = "cpython-" + interpreter.minor.replace(".", "")
    pyc = f"__pycache__/{file[: -len('.py')]}.{tag}.pyc"
    return f"{folder}/{pyc}" if folder else pyc


def compile_entries(
    entries: Sequence[Entry], interpreter: Interpreter, mode: str, root: str
) -> list[Entry]:
    """The pyc entry of every ``.py`` file entry, compiled by ``interpreter`` with
    ``co_filename`` ``root/NAME`` (where Lambda extracts it). A file that does not compile is
    exit 2 naming it."""
    sources = [e for e in entries if not e.is_dir and e.name.endswith(".py")]
    if not sources:
        return []
    jobs = sorted(sources, key=lambda e: e.name)
    workers = max(1, min(os.cpu_count() or 1, len(jobs) // 50 + 1))
    chunks = [jobs[i::workers] for i in range(workers)]
    flags = str(MODES[mode])
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda c: _compile(c, interpreter, flags, root), chunks))
    compiled = {name: data for result in results for name, data in result.items()}
    return [Entry.data(pyc_name(e.name, interpreter), compiled[e.name]) for e in jobs]


def _compile(
    chunk: Sequence[Entry], interpreter: Interpreter, flags: str, root: str
) -> dict[str, bytes]:
    lines = "".join(
        json.dumps(
            {
                "name": entry.name,
                "dfile": f"{root.rstrip('/')}/{entry.name}",
                "source": base64.b64encode(_source(entry)).decode(),
            }
        )
        + "\n"
        for entry in chunk
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONOPTIMIZE", None)  # optimize=0 is explicit; nothing else may change it
    done = subprocess.run(
        [interpreter.path, "-I", "-S", "-c", _WORKER, flags],
        input=lines,
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise DetzipError(
            f"the Python {interpreter.version} compiling bytecode failed "
            f"({literal(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '?')}); "
            "check it, or give another with {0}",
            interpreter.path,
            settings=[Setting("python")],
        )
    compiled: dict[str, bytes] = {}
    for line in done.stdout.splitlines():
        item = json.loads(line)
        if "error" in item:
            raise DetzipError(
                f"does not compile for Python {interpreter.version} ({literal(item['error'])}); "
                "fix it, or leave it out with {0}",
                item["name"],
                settings=[Setting("exclude", [item["name"]])],
            )
        compiled[item["name"]] = base64.b64decode(item["pyc"])
    return compiled


def _source(entry: Entry) -> bytes:
    match entry.source:
        case FromFile(path=path):
            try:
                return path.read_bytes()
            except OSError as exc:
                raise DetzipError(
                    f"cannot read ({exc.strerror}); fix or exclude it", path
                ) from None
        case FromBytes(data=data):
            return data
        case Precompressed() as member:
            raw = member.raw()
            return zlib.decompressobj(-15).decompress(raw) if member.method == DEFLATED else raw
    raise AssertionError(entry.name)  # directories were filtered out
