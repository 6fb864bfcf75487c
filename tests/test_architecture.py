"""The package's import graph: dependencies point down the flow (DESIGN.md).

`training` and `export` both use `mmzoo.artifacts`; neither imports the other, even
inside a function. A cycle between modules of `mmzoo/` fails too.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "mmzoo"


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph():
    """`{module: {imported mmzoo module, ...}}` over every import statement, function-local
    ones included (`from mmzoo.x import y` counts `mmzoo.x.y` when that is a module)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def within(module, package):
    return module == package or module.startswith(package + ".")


def test_graph_sees_function_local_imports():
    graph = import_graph()
    assert "mmzoo.export" in graph["mmzoo.workflows"]  # imported inside train()
    assert "mmzoo.artifacts" in graph["mmzoo.training.run"]


@pytest.mark.parametrize("source,target", [("mmzoo.training", "mmzoo.export"),
                                           ("mmzoo.export", "mmzoo.training")])
def test_training_and_export_do_not_import_each_other(source, target):
    graph = import_graph()
    bad = sorted(
        f"{module} -> {imported}"
        for module, imports in graph.items() if within(module, source)
        for imported in imports if within(imported, target)
    )
    assert not bad, f"{source} must not import {target} (use mmzoo.artifacts): {bad}"


def test_lower_layers_do_not_import_upper_ones():
    """Layers, preprocessing, towers, fusions and data never reach up to the run or the
    export, nor to the top-level workflows."""
    graph = import_graph()
    lower = ("mmzoo.layers", "mmzoo.preprocessing", "mmzoo.towers", "mmzoo.fusion",
             "mmzoo.data", "mmzoo.modalities", "mmzoo.artifacts")
    upper = ("mmzoo.training", "mmzoo.export", "mmzoo.workflows", "mmzoo.cli")
    bad = sorted(
        f"{module} -> {imported}"
        for module, imports in graph.items() if any(within(module, p) for p in lower)
        for imported in imports if any(within(imported, p) for p in upper)
    )
    assert not bad, bad


def test_no_import_cycles_between_modules():
    """Package `__init__` re-exports aside (a package importing its own submodules), no
    module imports one that imports it back, directly or through others."""
    graph = import_graph()

    def edges(module):
        return {t for t in graph[module]
                if not (module != t and within(t, module))  # a package and its own modules
                and not within(module, t)}  # a module and its parent package's __init__

    cycles, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(edges(module)):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
