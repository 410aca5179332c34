"""The code's layout rules, read from the product files with `ast`: imports flow down the
component table, no two files import each other in a cycle (imports inside functions and
under `TYPE_CHECKING` count), no file is over 400 lines and no function over 60."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
import textwrap

import networkx as nx

ROOT = pathlib.Path(__file__).resolve().parent.parent

RANK = {"wukong": 3, "static_scheduler": 2, "kv_proxy": 2, "executor_lambda": 1,
        "storage_manager": 0}
"""The component table, top to bottom: a file may import its own component's files and
those of components ranked lower."""

NARROW = {("static_scheduler", "executor_lambda"), ("kv_proxy", "executor_lambda")}
"""Pairs where only the invoker interface may be imported, never the handler or its loop."""
INTERFACE = ("executor_lambda.platforms", "executor_lambda.platforms.invoker",
             "executor_lambda.platforms.proxy")

MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def product_files(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Module name -> file, for every Python file of the components."""
    modules = {}
    for component in RANK:
        for path in sorted((root / component).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported(module: str, path: pathlib.Path, modules: dict) -> set[str]:
    """The product modules `module` imports, wherever in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                     for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def violations(root: pathlib.Path) -> list[str]:
    modules = product_files(root)
    graph = nx.DiGraph()
    problems = []
    for module, path in modules.items():
        graph.add_node(module)
        source = path.read_text()
        lines = source.count("\n")
        if lines > MAX_FILE_LINES:
            problems.append(f"{path.relative_to(root)} has {lines} lines (> {MAX_FILE_LINES})")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(f"{path.relative_to(root)}:{node.lineno} {node.name}() has "
                                    f"{length} lines (> {MAX_FUNCTION_LINES})")
        for target in imported(module, path, modules):
            if target != module:
                graph.add_edge(module, target)
            problems += upward(module, target)
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            cycle = nx.find_cycle(graph.subgraph(component))
            problems.append(f"import cycle among {', '.join(sorted(component))}: "
                            + " -> ".join([a for a, _ in cycle] + [cycle[0][0]]))
    return problems


def upward(module: str, target: str) -> list[str]:
    source, destination = module.split(".")[0], target.split(".")[0]
    if source == destination:
        return []
    if RANK[destination] >= RANK[source]:
        return [f"{module} imports {target}: up or across the component table"]
    if (source, destination) in NARROW and target not in INTERFACE:
        return [f"{module} imports {target}: only the invoker interface is allowed"]
    return []


def test_the_product_code_keeps_its_layout():
    assert violations(ROOT) == []


def test_the_layout_check_names_what_breaks_it(tmp_path):
    """A cycle, an upward import, a narrow one past the interface, a long file and a long
    function, each named."""
    files = {
        "storage_manager/__init__.py": "",
        "storage_manager/a.py": "from storage_manager import b\n",
        "storage_manager/b.py": "def f():\n    from storage_manager.a import x\n",
        "executor_lambda/__init__.py": "",
        "executor_lambda/handler.py": "import wukong.api\n",
        "static_scheduler/__init__.py": "from executor_lambda import handler\n",
        "wukong/__init__.py": "",
        "wukong/api.py": "x = 1\n" * (MAX_FILE_LINES + 1),
        "kv_proxy/__init__.py": "def g():\n" + "    pass\n" * MAX_FUNCTION_LINES,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = "\n".join(violations(tmp_path))
    assert "import cycle among storage_manager.a, storage_manager.b: " in found
    assert "executor_lambda.handler imports wukong.api: up" in found
    assert "static_scheduler imports executor_lambda.handler: only the invoker" in found
    assert f"wukong/api.py has {MAX_FILE_LINES + 1} lines" in found
    assert "kv_proxy/__init__.py:1 g() has" in found


def test_importing_the_invoker_interface_does_not_load_the_executor():
    """The scheduler and the proxy see invokers only: the handler and its loop stay unloaded."""
    code = textwrap.dedent("""
        import sys
        import executor_lambda.platforms, kv_proxy, static_scheduler
        loaded = [m for m in ("executor_lambda.handler", "executor_lambda.loop")
                  if m in sys.modules]
        print(loaded)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"
