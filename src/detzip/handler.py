"""The handler check: will Lambda find the function it is told to call?

``handler = "pkg.module.function"`` names a module Lambda imports from the function's root or
from a layer's ``python/`` (or ``python/lib/python3.X/site-packages/``), and a name defined at
the top of it. Both are checked in the zips themselves before a deploy, statically — the module
is parsed, never run. A top-level binding of any kind counts (a ``def``, ``handler =
Mangum(app)``, an import or re-export, a decorated function); a module whose names cannot be
known statically (``from x import *``, a module ``__getattr__``) gets a warning, not an error.
A miss is the error Lambda would report (``Runtime.ImportModuleError``,
``Runtime.HandlerNotFound``, ``Runtime.UserCodeSyntaxError``) with the nearest match.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from detzip.errors import DetzipError, Setting, literal, warn

if TYPE_CHECKING:
    from detzip._memo import Memo

__all__ = ["check_handler", "defined_names", "split_handler"]

_HANDLER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def split_handler(handler: str) -> tuple[str, str]:
    """``"pkg.module.function"`` → ``("pkg.module", "function")``; anything else is an error."""
    text = handler.strip()
    if not _HANDLER.fullmatch(text):
        raise DetzipError(
            f"{{0}} {literal(repr(handler))} is not MODULE.FUNCTION (e.g. app.handler, or "
            "pkg.handlers.api.handler)",
            settings=[Setting("handler")],
        )
    module, _, function = text.rpartition(".")
    return module, function


#: what a remembered pass was judged by: another rule (a new kind of binding, of opaque
#: module) is another request, so no pass judged by an older rule is recalled
_RULES = 1


def check_handler(
    handler: str,
    function_zip: Path,
    layers: Sequence[Path],
    runtime: str,
    label: str,
    *,
    sha256: str | None = None,
    memo: Memo | None = None,
) -> None:
    """Refuse a ``handler`` Lambda would not find in ``function_zip`` and its ``layers`` (exit
    2); warn when the module's names cannot be read statically. ``label`` names the function
    zip in messages (its output path).

    ``sha256`` (the function zip's, as its caller proved it: a cache hit checked it) and
    ``memo``: a pass is remembered by the zip's sha256 and the handler when the module is in
    the function zip itself (the layers do not matter then), and recalled instead of opening
    and parsing the zip again. A failure or a warning is never remembered: it is said again.
    """
    module, function = split_handler(handler)
    request = None
    if sha256 is not None and memo is not None:
        request = {"rules": _RULES, "handler": handler, "zip": sha256}
        if memo.recall("handler", request) is True:
            return
    roots = [(function_zip, "")] + [
        (layer, prefix)
        for layer in layers
        for prefix in ("python/", f"python/lib/{runtime}/site-packages/")
    ]
    relative = module.replace(".", "/")
    for zip_path, prefix in roots:
        names, found = _find(
            zip_path, (f"{prefix}{relative}.py", f"{prefix}{relative}/__init__.py")
        )
        if found is not None:
            where = label if zip_path == function_zip else str(zip_path)
            clean = _check_module(found[1], found[0], function, handler, where)
            if clean and request is not None and memo is not None and zip_path == function_zip:
                memo.remember("handler", request, [], True)
            return
        if any(_is_extension(n, prefix + relative) for n in names):
            return  # a compiled module: its names cannot be read here, Lambda will see
    where = "the function zip" + (" and python/ of its layers" if layers else "")
    seen_modules = {m for zip_path, prefix in roots for m in _modules(_names(zip_path), prefix)}
    nearest = difflib.get_close_matches(module, sorted(seen_modules), n=1, cutoff=0.6)
    hint = f"; did you mean {nearest[0]}.{function}?" if nearest else ""
    raise DetzipError(
        f"{{0}} {literal(handler)}: Lambda would fail with Runtime.ImportModuleError — no "
        f"module {literal(module)} ({literal(relative)}.py or {literal(relative)}/__init__.py) "
        f"in {where}{literal(hint)}",
        label,
        settings=[Setting("handler")],
    )


#: the member names of zips read in this process, by path and stat (a layer many functions use
#: is read once: a rewritten file has another stat)
_NAMES: dict[tuple[str, int, int, int, int], frozenset[str]] = {}


def _names(zip_path: Path) -> frozenset[str]:
    """The member names of ``zip_path``, read once per process while its stat is unchanged."""
    return _find(zip_path, ())[0]


def _find(zip_path: Path, wanted: Sequence[str]) -> tuple[frozenset[str], tuple[str, bytes] | None]:
    """The member names of ``zip_path`` (read once per process while its stat is unchanged)
    and the first of ``wanted`` it holds with its bytes, in one opening of the zip."""
    info = os.stat(zip_path)
    seen = (os.path.abspath(zip_path), info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev)
    names = _NAMES.get(seen)
    if names is not None and not any(name in names for name in wanted):
        return names, None
    with zipfile.ZipFile(zip_path) as archive:
        if names is None:
            names = _NAMES[seen] = frozenset(archive.namelist())
        for name in wanted:
            if name in names:
                return names, (name, archive.read(name))
    return names, None


def _check_module(source: bytes, member: str, function: str, handler: str, zip_path: str) -> bool:
    """Refuse a module that does not parse or does not define ``function``; True when it
    defines it, False when it may (a warning said its names cannot all be known)."""
    try:
        tree = ast.parse(source, filename=member)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise DetzipError(
            f"{{0}} {literal(handler)}: Lambda would fail with Runtime.UserCodeSyntaxError — "
            f"{literal(member)}{f' line {line}' if line else ''}: {literal(str(exc))}",
            zip_path,
            settings=[Setting("handler")],
        ) from None
    names, opaque = defined_names(tree.body)
    if function in names:
        return True
    if opaque:
        warn(
            f"cannot tell whether {literal(member)} defines {literal(function)} ({opaque}); "
            "Lambda will find out when it imports it",
            zip_path,
        )
        return False
    callables = sorted(n for n in names if not n.startswith("_"))
    nearest = difflib.get_close_matches(function, callables, n=1, cutoff=0.5)
    hint = f"; did you mean {handler.rpartition('.')[0]}.{nearest[0]}?" if nearest else ""
    has = ", ".join(callables[:8]) or "nothing"
    raise DetzipError(
        f"{{0}} {literal(handler)}: Lambda would fail with Runtime.HandlerNotFound — "
        f"{literal(member)} defines no top-level {literal(function)} (it has {literal(has)})"
        f"{literal(hint)}",
        zip_path,
        settings=[Setting("handler")],
    )


def defined_names(body: Iterable[ast.stmt]) -> tuple[set[str], str]:
    """The names a module body binds at its top level (into ``if``/``try``/``with`` blocks),
    and why its names cannot all be known statically ('' when they can)."""
    names: set[str] = set()
    opaque = ""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            if node.name == "__getattr__":
                opaque = "it has a module __getattr__"
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(_bound(target))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    opaque = "it has a star import"
                else:
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
            for block in _blocks(node):
                more, why = defined_names(block)
                names |= more
                opaque = opaque or why
    return names, opaque


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    blocks = [
        getattr(node, "body", []),
        getattr(node, "orelse", []),
        getattr(node, "finalbody", []),
    ]
    blocks += [handler.body for handler in getattr(node, "handlers", [])]
    return blocks


def _bound(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Tuple | ast.List):
        return {name for element in target.elts for name in _bound(element)}
    if isinstance(target, ast.Starred):
        return _bound(target.value)
    return set()


def _modules(names: Iterable[str], prefix: str) -> set[str]:
    """The dotted module names the ``.py`` files under ``prefix`` give."""
    found = set()
    for name in names:
        if name.startswith(prefix) and name.endswith(".py"):
            dotted = name[len(prefix) : -3].replace("/", ".").removesuffix(".__init__")
            found.add(dotted)
    return found


def _is_extension(name: str, stem: str) -> bool:
    """``stem.cpython-312-x86_64-linux-gnu.so``, ``stem.abi3.so``, ``stem.so``."""
    return name.startswith(stem + ".") and name.endswith(".so") and "/" not in name[len(stem) :]
