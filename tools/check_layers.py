"""The import-layer contract of `tunekite` (design rule 14), checked by `make lint`.

Dependencies point one way: cli -> launcher -> recipes -> resolvers -> plugin host ->
data types and engines. Every `import` of a tunekite module found by `ast` counts,
at module top level or inside a function (a function-level import is still a
dependency; only imports under `if TYPE_CHECKING:` are left out). A module may import
from its own layer or any layer below; an import of a layer above is a back-edge and
fails the check, as does any import cycle between modules, and any use of the
process-wide plugin host (`get_host`, `registry`) below the top layer: a run carries
its host (`run.plugin_host`), and the layers below take it from there.

    python tools/check_layers.py [SOURCE_ROOT]     (default: core/)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "tunekite"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # the ways in: `tk`, the plugin API, the test tooling, the installation-wide argument check
    ("cli", ("tunekite.cli", "tunekite.__main__", "tunekite.api", "tunekite.testing",
             "tunekite.arguments.readers")),
    ("launcher", ("tunekite.launcher",)),
    # what `tk run NAME` and `tk check`/`tk data` start, core's own plugin, and the
    # training scaffolding the trainers share
    ("recipes", ("tunekite.trainers", "tunekite.tasks", "tunekite.serving", "tunekite.training",
                 "tunekite.builtins", "tunekite.templates.check")),
    ("resolvers", ("tunekite.templates.resolve", "tunekite.models", "tunekite.data")),
    ("plugin host", ("tunekite.plugin_host", "tunekite.registry", "tunekite.catalog",
                     "tunekite.entry_points")),
    # argument model, registrations, hook specs, errors, the template encoder, the
    # inference engines, the peft helpers: everything else
    ("data types and engines", ("tunekite",)),
)
"""Highest first; a module belongs to the layer of its longest matching prefix."""


def layer_of(module: str) -> int:
    best, index = -1, len(LAYERS) - 1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    return index


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package under `root`."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import outside `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                stack.extend(child.orelse)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield child.lineno, alias.name
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".")[: len(module.split(".")) - child.level + is_package]
                    base = ".".join([*anchor, base] if base else anchor)
                yield child.lineno, base
                for alias in child.names:  # `from tunekite import catalog` imports a module
                    yield child.lineno, f"{base}.{alias.name}"
            stack.append(child)


def graph(root: Path) -> dict[str, dict[str, int]]:
    """module -> {imported tunekite module: first line}, only modules that exist."""
    known = modules(root)
    edges: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        out: dict[str, int] = {}
        for line, target in _imports(tree, name, path.name == "__init__.py"):
            if target in known and target != name and not name.startswith(target + "."):
                out.setdefault(target, line)
        edges[name] = out
    return edges


def back_edges(edges: dict[str, dict[str, int]], root: Path) -> list[str]:
    problems = []
    for source, targets in sorted(edges.items()):
        for target, line in sorted(targets.items()):
            if layer_of(target) < layer_of(source):
                path = modules(root)[source].relative_to(root)
                problems.append(
                    f"{path}:{line}: {source} ({LAYERS[layer_of(source)][0]}) imports "
                    f"{target} ({LAYERS[layer_of(target)][0]}), a layer above it"
                )
    return problems


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


PROCESS_HOST = ("get_host", "registry")
"""`tunekite.plugin_host`'s functions that reach the process-wide host."""


def process_host_uses(root: Path) -> list[str]:
    """Imports of the process-wide host's functions outside the top layer."""
    problems = []
    for name, path in modules(root).items():
        if layer_of(name) == 0 or name == "tunekite.plugin_host":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "tunekite.plugin_host":
                for alias in node.names:
                    if alias.name in PROCESS_HOST:
                        problems.append(
                            f"{path.relative_to(root)}:{node.lineno}: {name} imports the process-wide "
                            f"{alias.name}; take the run's host (run.plugin_host) or a host argument"
                        )
    return problems


def check(root: Path) -> list[str]:
    """Every violation of the contract, one line each; empty when the tree keeps it."""
    edges = graph(root)
    problems = back_edges(edges, root) + process_host_uses(root)
    problems += [f"import cycle: {' <-> '.join(group)}" for group in cycles(edges)]
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "core"
    problems = check(root)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} import-layer violation(s); layers, highest first: "
              + " -> ".join(name for name, _ in LAYERS), file=sys.stderr)
        return 1
    print(f"import layers kept by {len(modules(root))} modules of {PACKAGE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
