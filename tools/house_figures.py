"""The figures of the house the restructuring issue asks for, from the source as it is now:

- the largest modules of `bot/`, `storage/` and `messages/` (migrations left out), by lines;
- how many import cycles there are (tools/import_cycles.py counts them the same way);
- the longest handlers: the functions of `bot/handlers/`, by lines, with a docstring counted.

    python tools/house_figures.py            # five of each
    python tools/house_figures.py --most 10

Nothing is imported or run: the files are read as text and parsed with `ast`.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_cycles import ROOT, import_graph, project_modules, tangles


def largest_modules(most: int) -> list[tuple[int, str]]:
    sizes = []
    for package in ("bot", "storage", "messages"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            sizes.append((lines, str(path.relative_to(ROOT))))
    return sorted(sizes, reverse=True)[:most]


def longest_handlers(most: int) -> list[tuple[int, str]]:
    lengths = []
    for path in (ROOT / "bot" / "handlers").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])
                lengths.append((node.end_lineno - first + 1, f"{path.relative_to(ROOT)}:{node.name}"))
    return sorted(lengths, reverse=True)[:most]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--most", type=int, default=5)
    most = parser.parse_args().most
    print("largest modules (lines):")
    for lines, name in largest_modules(most):
        print(f"  {lines:5}  {name}")
    modules = project_modules()
    groups = tangles(import_graph(modules))
    print(f"import cycles: {len(groups)} group(s) of modules tied in a circle, among {len(modules)} modules")
    print("longest handler functions (lines):")
    for lines, name in longest_handlers(most):
        print(f"  {lines:5}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
