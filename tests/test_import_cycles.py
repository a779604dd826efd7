"""Issue 12: no import cycle among the project's modules, counting imports made only for type
checking. The check is `tools/import_cycles.py`; here it runs on the repository and on a small
made-up package, so that a cycle hidden under TYPE_CHECKING is known to be seen."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "tools" / "import_cycles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_project_has_no_import_cycle():
    tool = _tool()
    graph = tool.import_graph(tool.project_modules(ROOT))
    assert "bot.engines.broadcaster" in graph and "bot.services" in graph
    assert tool.tangles(graph) == []


def test_a_cycle_made_only_for_type_checking_is_found(tmp_path):
    tool = _tool()
    package = tmp_path / "bot"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "services.py").write_text("from bot.engine import Engine\n")
    (package / "engine.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .services import Services\n"
    )
    (package / "handlers.py").write_text("from bot import services\n")
    graph = tool.import_graph(tool.project_modules(tmp_path))
    assert tool.tangles(graph) == [["bot.engine", "bot.services"]]
    assert tool.elementary_cycles(graph, ["bot.engine", "bot.services"]) == [
        ["bot.engine", "bot.services", "bot.engine"]
    ]
