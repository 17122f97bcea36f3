"""The layering of the `registry` and `cro` packages, read from the source with `ast`.

Every import counts, the ones inside functions too (a function-local import is still an
edge: it only hides the cycle until the function runs).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("registry", "cro")
# Layers below the tasks: the tasks call them, never the other way round.
BELOW_THE_TASKS = ("registry.services", "registry.selectors", "registry.uftp")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
    }


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """Every module `module` imports (anywhere in it), resolved to a known module where possible.

    `from a.b import c` is an edge to a.b.c when that is a module, else to a.b.
    """
    package = module if _is_package(path) else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                targets.add(candidate if candidate in known else source)
    return targets


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {module: _imported(module, path, known) - {module} for module, path in sources.items()}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    internal = {module: {t for t in targets if t in graph} for module, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(internal[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in sorted(internal):
        if module not in index:
            visit(module)
    return components


def test_the_graph_sees_function_local_and_relative_imports(tmp_path):
    """The parser the other tests rely on finds imports hidden in a function body."""
    path = tmp_path / "probe.py"
    path.write_text("def later():\n    from registry import tasks\n    from ..selectors import web\n")
    known = {"registry.tasks", "registry.selectors.web"}
    assert _imported("registry.services.probe", path, known) == known


def test_the_graph_covers_the_packages():
    graph = _graph()
    assert {"registry.tasks", "registry.dispatch", "registry.services.processing", "cro.celery"} <= set(graph)
    assert "registry.services.processing" in graph["registry.tasks"]


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_services_selectors_and_codec_never_import_the_tasks():
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if any(_within(module, layer) for layer in BELOW_THE_TASKS)
        for target in targets
        if _within(target, "registry.tasks")
    )
    assert offenders == []


def test_the_codec_imports_neither_django_nor_the_rest_of_registry():
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if _within(module, "registry.uftp")
        for target in targets
        if _within(target, "django") or (_within(target, "registry") and not _within(target, "registry.uftp"))
    )
    assert offenders == []
