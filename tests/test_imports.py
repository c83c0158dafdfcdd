"""The import graph of predrnn has no cycle, counted honestly: every import statement of the
whole package, deferred ones inside functions too, and the package `__init__` each import runs.
A cycle hidden by an import inside a function is still a cycle of responsibilities (the
checkpoint reader once imported the training module that imports the checkpoint reader)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"


def module_names(root: Path) -> dict[str, Path]:
    """{dotted module name: file} of every .py under the package folder `root`."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def module_level(body: list[ast.stmt]):
    """The import statements a module runs when it is imported: its body's, and those inside
    module-level `if` / `try` blocks (not those in functions or classes)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            yield from module_level(node.body)
            yield from module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from module_level(block)


def imported(node: ast.Import | ast.ImportFrom, module: str, modules: dict[str, Path], package: str) -> set[str]:
    """The modules of `package` an import statement of `module` names: `from a.b import c` is
    `a.b.c` where that is a module, else `a.b`."""
    found = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name not in modules and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in modules:
                found.add(name)
        return found
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        parts = module.split(".") if modules[module].name == "__init__.py" else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, base] if base else parts)
    if base != package and not base.startswith(package + "."):
        return found
    for alias in node.names:
        full = f"{base}.{alias.name}"
        found.add(full if full in modules else base)
    return {name for name in found if name in modules}


def import_graph(root: Path, everywhere: bool = False, packages: bool = False) -> dict[str, set[str]]:
    """module -> the package's modules it imports (module-level imports; all with `everywhere`;
    with `packages`, also the packages above each imported module, whose `__init__` the import
    runs first, except the importer's own)."""
    modules = module_names(root)
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        nodes = (
            [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
            if everywhere
            else module_level(tree.body)
        )
        graph[module] = set().union(*(imported(n, module, modules, root.name) for n in nodes)) - {module}
        if packages:
            above = {".".join(t.split(".")[:i]) for t in graph[module] for i in range(1, t.count(".") + 1)}
            graph[module] |= {p for p in above if p in modules and not module.startswith(p + ".") and p != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, …, a], or None (depth-first search, colouring nodes)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_predrnn_has_no_import_cycle():
    graph = import_graph(SRC / "predrnn")
    assert len(graph) > 50 and "predrnn.data.sources" in graph["predrnn.data.arrays_datamodule"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_predrnn_has_no_cycle_even_through_deferred_imports_and_package_inits():
    graph = import_graph(SRC / "predrnn", everywhere=True, packages=True)
    assert "predrnn.build" in graph["predrnn.checkpoint_export"] and "predrnn.data" in graph["predrnn.checkpoints.io"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_dependencies_run_one_way_where_cycles_once_were():
    """The checkpoint reader is given the module class it builds (it imports nothing of
    `predrnn.training`, which imports it); the cross-key checks import nothing of `build`, whose
    memory estimate needs the network built (it sits beside `build_network`)."""
    graph = import_graph(SRC / "predrnn", everywhere=True)
    reader = {t for m, e in graph.items() if m.startswith("predrnn.checkpoints") for t in e}
    assert not {t for t in reader if t.startswith("predrnn.training")}, sorted(reader)
    assert "predrnn.build" not in graph["predrnn.validation"] and "predrnn.validation" in graph["predrnn.build"]


def test_the_check_finds_cycles(tmp_path):
    """The same walk over a package made to have a cycle: a -> b -> c -> a, b's import of c
    relative and inside an `if`, and a deferred import that counts only `everywhere`."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import os\nfrom pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("import sys\nif sys:\n    from . import c\n")
    (pkg / "sub" / "c.py").write_text("from pkg import a\n")
    (pkg / "d.py").write_text("def f():\n    import pkg.e\n")
    (pkg / "e.py").write_text("from pkg.d import f\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.sub.c"} and graph["pkg.d"] == set()
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.sub.c", "pkg.a"]
    (pkg / "sub" / "c.py").write_text("def g():\n    from pkg import a\n")  # deferred: no cycle at import time
    assert find_cycle(import_graph(pkg)) is None
    everywhere = import_graph(pkg, everywhere=True)
    assert find_cycle(everywhere) == ["pkg.a", "pkg.sub.b", "pkg.sub.c", "pkg.a"]
    everywhere["pkg.sub.c"] = set()
    assert find_cycle(everywhere) == ["pkg.d", "pkg.e", "pkg.d"]
    (pkg / "sub" / "__init__.py").write_text("from pkg import a\n")  # importing pkg.sub.b runs this first
    (pkg / "e.py").write_text("")
    assert find_cycle(import_graph(pkg)) is None
    assert find_cycle(import_graph(pkg, packages=True)) == ["pkg.a", "pkg.sub", "pkg.a"]


def discovered_packages() -> set[str]:
    """Packages whose modules are found at run time rather than imported by name: the readers'
    registry imports every module of `predrnn.data.readers` (pkgutil over its `__path__`)."""
    return {"predrnn.data.readers"}


def referenced_outside_python() -> str:
    """The text of what names modules without importing them: the console scripts
    (pyproject.toml) and every config's `_target_` (conf/**/*.yaml)."""
    root = SRC.parent
    texts = [(root / "pyproject.toml").read_text()]
    texts += [path.read_text() for path in sorted((SRC / "predrnn" / "conf").rglob("*.yaml"))]
    return "\n".join(texts)


def test_every_module_is_used():
    """No module in src/ that no other module, entry point or config references: each is
    imported by another module (deferred imports count), named by a console script or a
    config's `_target_`, or found by a registry that discovers its package's modules."""
    graph = import_graph(SRC / "predrnn", everywhere=True, packages=True)
    used = set().union(*graph.values())
    named = referenced_outside_python()
    unused = [
        module for module in graph
        if module not in used and module != "predrnn"
        and not any(module.startswith(package + ".") for package in discovered_packages())
        and not re.search(rf"\b{re.escape(module)}\b", named)
    ]  # fmt: skip
    assert not unused, f"modules nothing references: {unused}"


def test_the_check_finds_an_unused_module(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg import used\n")
    (package / "used.py").write_text("")
    (package / "orphan.py").write_text("")
    graph = import_graph(package, everywhere=True, packages=True)
    assert set(graph) - set().union(*graph.values()) - {"pkg"} == {"pkg.orphan"}
