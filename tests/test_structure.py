"""The package's shape: imports point one way, down the pipeline (no cycles, counting imports
inside functions); every public module, class and function says what it is; the sdist and the
wheel ship the license."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import pytest

from .conftest import SRC

PACKAGE = SRC / "detzip"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_imports(
    tree: ast.Module, typing_too: bool = False
) -> list[ast.Import | ast.ImportFrom]:
    """Every import that can run: at module level, in functions and classes; not the ones
    under ``if TYPE_CHECKING:``, which only type checkers read (unless ``typing_too``)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if (
            not typing_too
            and isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test)
        ):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(typing_too: bool = False) -> dict[str, set[str]]:
    """Module → the detzip modules it imports (a submodule also imports its package)."""
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        for node in _runtime_imports(tree, typing_too):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from detzip import _log` imports the submodule, not the package's names
                submodules = [f"{base}.{alias.name}" for alias in node.names]
                targets = submodules
                if not all(module in files for module in submodules):
                    targets = [base, *submodules]
            for target in targets:
                if target in files and target != name:
                    graph[name].add(target)
        parent = name.rpartition(".")[0]
        if parent and parent != "detzip":  # the top package's init imports lazily, by name
            graph[name].add(parent)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


@pytest.mark.parametrize("typing_too", [False, True], ids=["run time", "type-only too"])
def test_no_import_cycles(typing_too: bool) -> None:
    graph = import_graph(typing_too)
    assert len(graph) > 30 and graph["detzip.builder"], "the graph was read"
    assert cycles(graph) == []


def test_type_only_imports_are_read() -> None:
    """The typing graph sees what only type checkers import (else the cycle check is blind)."""
    runtime, typing_too = import_graph(), import_graph(typing_too=True)
    assert "detzip.cache.local" not in runtime["detzip.builder"]
    assert "detzip.cache.local" in typing_too["detzip.builder"]


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_top_package_imports_nothing_at_start() -> None:
    """``import detzip`` stays cheap: the public names are imported on first use."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    imported = set()
    for node in _runtime_imports(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        else:
            imported.update(alias.name for alias in node.names)
    # (its version: one constant, from the module every stage may read it from)
    assert all(not name.startswith("detzip") for name in imported - {"detzip._version"}), imported


#: The pipeline, stage by stage: a module may import its own stage and the stages above it,
#: never one below (type-only imports included). The private helpers come first: any stage
#: may use them.
STAGES = [
    (
        "detzip._datatype",
        "detzip._version",
        "detzip.errors",
        "detzip._memo",
        "detzip._platform",
        "detzip._fs",
        "detzip._scratch",
        "detzip._digest",
        "detzip._collector",
        "detzip._log",
        "detzip._progress",
        "detzip._toml",
    ),
    ("detzip.zip",),
    ("detzip.inputs",),
    ("detzip.deps",),
    ("detzip.cache",),
    (
        "detzip.optiontable",
        "detzip.optionvalues",
        "detzip.spelling",
        "detzip.spec",
        "detzip.artifact",
        "detzip.limits",
        "detzip.handler",
        "detzip.kinds",
        "detzip.builder",
    ),
    (
        "detzip.api",
        "detzip.project",
        "detzip.audit",
        "detzip.why",
        "detzip.terraform",
        "detzip.cli",
        "detzip.__main__",
    ),
]


def _stage(module: str) -> int:
    for rank, prefixes in enumerate(STAGES):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} belongs to no stage: add it to STAGES")


def test_imports_point_down_the_pipeline() -> None:
    graph = import_graph(typing_too=True)
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module != "detzip"
        for target in targets
        if target != "detzip" and _stage(target) > _stage(module)
    )
    assert upward == []


def test_the_flat_folder_holds_only_the_stages_after_the_cache() -> None:
    """The file list shows the pipeline: stages are folders, private helpers start with _."""
    flat = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == {"zip", "inputs", "deps", "cache"}
    public = {name for name in flat if not name.startswith("_")}
    assert public == {
        "errors",
        "optiontable",
        "optionvalues",
        "spelling",
        "spec",
        "artifact",
        "limits",
        "handler",
        "kinds",
        "builder",
    } | {
        "api",
        "project",
        "audit",
        "why",
        "terraform",
        "cli",
    }


def _public_defs(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    found: list[tuple[str, ast.AST]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
            found.append((node.name, node))
            if isinstance(node, ast.ClassDef):
                found += [
                    (f"{node.name}.{sub.name}", sub)
                    for sub in node.body
                    if isinstance(sub, ast.FunctionDef) and not sub.name.startswith("_")
                ]
    return found


def test_every_public_module_class_and_function_has_a_docstring() -> None:
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(SRC)
        if not ast.get_docstring(tree):
            missing.append(f"{where}: module")
        missing += [
            f"{where}: {name}"
            for name, node in _public_defs(tree)
            if not ast.get_docstring(node)  # type: ignore[arg-type]
        ]
    assert missing == []


def test_every_public_module_declares_its_api() -> None:
    without = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if path.name in ("__init__.py", "__main__.py") or any(p.startswith("_") for p in parts):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        ]
        if "__all__" not in names:
            without.append(str(path.relative_to(SRC)))
    assert without == []


# -- the distributions --------------------------------------------------------------------------


@pytest.mark.network
def test_the_license_ships_in_the_sdist_and_the_wheel(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import tarfile

    root = Path(__file__).resolve().parents[1]
    assert "MIT License" in (root / "LICENSE").read_text()
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv (the bench extra) builds the distributions")
    subprocess.run([uv, "build", "--out-dir", str(tmp_path), str(root)], check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    [wheel] = tmp_path.glob("detzip-*.whl")
    [sdist] = tmp_path.glob("detzip-*.tar.gz")
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as archive:
        assert any(n.endswith("/LICENSE") for n in archive.getnames())
