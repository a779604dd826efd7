"""Lists the import cycles among the project's own modules (bot, storage, messages).

Every import counts, including those made only for type checking (under `if TYPE_CHECKING:`) and
those inside functions: a cycle hidden that way is still two modules that cannot be read, or
changed, one without the other.

    python tools/import_cycles.py            # every cycle; exit status 1 if there is any
    python tools/import_cycles.py bot.engines bot.services   # only cycles through these

Modules are found by reading the source (`ast`), nothing is imported. Importing `a.b.c` also runs
the `__init__` of `a` and `a.b`; those are not counted as edges unless they import something
themselves, since an empty package file ties nobody to anybody.

Each strongly connected group of modules is printed with its elementary cycles (each cycle
once, at most 50 a group, so the report stays readable however tangled the group).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("bot", "storage", "messages")
ROOT = Path(__file__).resolve().parent.parent


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every dotted name the module imports, with relative imports resolved."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            # `from a import b` imports the module a.b when there is one.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set()
        for name in _imported_names(tree, module, path.name == "__init__.py"):
            # The longest project module the name is, or lies in.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def tangles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return sorted(groups)


def elementary_cycles(graph: dict[str, set[str]], group: list[str], *, limit: int = 50) -> list[list[str]]:
    """Every cycle through the group that visits no module twice, each once (starting from its
    first module in sorted order), at most `limit` of them."""
    members = set(group)
    rank = {module: position for position, module in enumerate(sorted(group))}
    found: list[list[str]] = []

    def extend(path: list[str]) -> None:
        for successor in sorted(graph[path[-1]] & members):
            if len(found) >= limit:
                return
            if successor == path[0]:
                found.append([*path, successor])
            elif successor not in path and rank[successor] > rank[path[0]]:
                extend([*path, successor])

    for start in sorted(group):
        extend([start])
    return found


def main(argv: list[str]) -> int:
    graph = import_graph(project_modules())
    found = tangles(graph)
    if argv:
        found = [g for g in found if any(m == p or m.startswith(f"{p}.") for m in g for p in argv)]
    cycles = 0
    for group in found:
        print(f"{len(group)} modules tied together: {', '.join(group)}")
        for cycle in elementary_cycles(graph, group):
            cycles += 1
            print(f"    {' -> '.join(cycle)}")
    print(f"{cycles} import cycle(s) in {len(found)} group(s) among {len(graph)} modules"
          + (f" touching {', '.join(argv)}" if argv else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
