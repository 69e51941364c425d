"""Synthetic wheels and a local index: the benchmarks' quick mode runs without the network.

A synthetic wheel has the shape of a real platform wheel: many small, importable source modules
in subpackages (the top-level package imports them all, so an import costs what a real one
does) and, optionally, a few large, partly compressible binary members like shared libraries.
Members are deflated at level 6, as wheels on PyPI are. Wheels are built once per work folder
(pseudo-random from the name, so the same bytes every time) and pinned with their sha256, so
detzip, pip and uv all install the same verified set with ``--no-index --find-links``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import zipfile
from collections.abc import Mapping
from pathlib import Path

#: functions per module: ~8 KB of source each
_FUNCTIONS = 22
_SUBPACKAGES = 20
_LETTERS = "etaoinshrdlucmfwypvbgkqjxz"


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _words(rng: random.Random, count: int) -> list[str]:
    """Pseudo-words of 3-10 letters, common letters more often (text that compresses like
    real identifiers and prose, not like a repeated line)."""
    weights = [26 - i for i in range(26)]
    return ["".join(rng.choices(_LETTERS, weights, k=rng.randint(3, 10))) for _ in range(count)]


@functools.cache
def _vocabulary(name: str) -> list[str]:
    return _words(random.Random(name), 400)


def _module(name: str, i: int, functions: int = _FUNCTIONS) -> bytes:
    """Valid, importable source: ``functions`` functions with docstrings, defaults, branches
    and literals, drawn from a vocabulary of 400 pseudo-words (pseudo-random from the name and
    number)."""
    rng = random.Random(f"{name}/{i}")
    vocabulary = _vocabulary(name)

    def word() -> str:
        return rng.choice(vocabulary)

    parts = [f'"""{name}: {" ".join(word() for _ in range(12))}."""\n\nCONSTANT = {i}\n\n\n']
    for k in range(functions):
        a, b = word(), word()
        doc = " ".join(word() for _ in range(rng.randint(8, 24)))
        parts.append(
            f"def {word()}_{word()}_{k}({a}, {b}_=None, *, limit={rng.randint(1, 999)}):\n"
            f'    """{doc.capitalize()}."""\n'
            f"    if {b}_ is None:\n"
            f'        return {{"{word()}": {a}, "{word()}": {rng.randint(0, 1 << 16)}}}\n'
            f"    total = {a} * {rng.randint(2, 97)} + len(str({b}_))\n"
            f"    return total if total < limit else limit - {rng.randint(1, 9)}\n\n\n"
        )
    return "".join(parts).encode()


def synthetic_wheel(
    folder: Path,
    name: str,
    megabytes: float,
    *,
    binary: bool = True,
    modules: int | None = None,
    functions: int = _FUNCTIONS,
) -> Path:
    """A ``py3-none-any`` wheel of ~``megabytes`` MB unzipped, built once in ``folder``.

    With ``binary``, three quarters of it are four large members, half random and half zeros
    (like a shared library); the rest are source modules under ``name/subN/``: as many as fit,
    or ``modules`` of them, each of ``functions`` functions (22: ~8 KB; 1: ~0.5 KB).
    """
    path = folder / f"{name}-1.0-py3-none-any.whl"
    if path.exists():
        return path
    rng = random.Random(name)
    members: dict[str, bytes] = {}
    budget = int(megabytes * 1_000_000)
    big = budget * 3 // 4 if binary else 0
    for i in range(4 if binary else 0):
        members[f"{name}/_lib{i}.so"] = rng.randbytes(big // 8) + bytes(big // 8)
    sample = len(_module(name, 0, functions))
    count = modules if modules is not None else max(1, (budget - big) // sample)
    subpackages: dict[int, list[int]] = {}
    for i in range(count):
        members[f"{name}/sub{i % _SUBPACKAGES}/module{i}.py"] = _module(name, i, functions)
        subpackages.setdefault(i % _SUBPACKAGES, []).append(i)
    for sub, numbers in subpackages.items():
        imports = "".join(f"from . import module{i}\n" for i in numbers)
        members[f"{name}/sub{sub}/__init__.py"] = imports.encode()
    members[f"{name}/__init__.py"] = "".join(
        f"from . import sub{s}\n" for s in subpackages
    ).encode()
    dist = f"{name}-1.0.dist-info"
    members[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
    members[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    members[f"{dist}/top_level.txt"] = f"{name}\n".encode()
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d in members.items())
    members[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for member, data in members.items():
            info = zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    temp.rename(path)
    return path


def pinned(
    work: Path,
    label: str,
    wheels: Mapping[str, float],
    *,
    binary: bool | set[str] = True,
    modules: int | None = None,
    functions: int = _FUNCTIONS,
) -> tuple[Path, Path]:
    """Build ``wheels`` (name: MB unzipped) into ``work/wheels`` and pin them with hashes in
    ``work/requirements-<label>.txt``; ``binary``: all of them have shared libraries, none,
    or those named; ``modules`` and ``functions``: see :func:`synthetic_wheel`. Returns
    (requirements, the wheel folder)."""
    folder = work / "wheels"
    lines = []
    for name, megabytes in wheels.items():
        native = name in binary if isinstance(binary, set) else binary
        wheel = synthetic_wheel(
            folder, name, megabytes, binary=native, modules=modules, functions=functions
        )
        lines.append(f"{name}==1.0 --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}")
    requirements = work / f"requirements-{label}.txt"
    text = "\n".join(lines) + "\n"
    if not requirements.exists() or requirements.read_text() != text:
        requirements.write_text(text)
    return requirements, folder


def offline(folder: Path) -> list[str]:
    """The arguments that make detzip, pip and uv install only from ``folder``."""
    return ["--no-index", "--find-links", str(folder)]
