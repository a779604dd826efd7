"""What the bot's processes load: the heavy libraries only when something needs them (the
measured figures are in benchmarks/footprint.py and benchmarks/cli_startup.py)."""

from __future__ import annotations

import subprocess
import sys

LOADED_AFTER = """
import sys
{code}
print(" ".join(sorted({{name.split(".")[0] for name in sys.modules}})))
"""


def loaded_after(code: str) -> set[str]:
    process = subprocess.run([sys.executable, "-c", LOADED_AFTER.format(code=code)], capture_output=True, text=True,
                             timeout=120, check=True)
    return set(process.stdout.split())


def test_the_bot_starts_without_charts_calendars_or_migrations():
    loaded = loaded_after("import bot.app")
    assert "telegram" in loaded and "sqlalchemy" in loaded
    assert loaded.isdisjoint({"matplotlib", "numpy", "PIL", "icalendar", "alembic", "yaml"}), loaded


def test_matplotlib_comes_with_the_first_chart_drawn():
    assert "matplotlib" not in loaded_after("import messages.charts")
    loaded = loaded_after("from messages.charts import new_figure, png_bytes\n"
                          "assert png_bytes(new_figure(figsize=(1, 1))).startswith(b'\\x89PNG')")
    assert "matplotlib" in loaded


def test_a_bot_that_polls_goes_without_the_webhook_server():
    code = ("from bot.cli.support import leave_out_the_webhook_server\n"
            "leave_out_the_webhook_server()\n"
            "import bot.app\n"
            "from telegram.ext import _updater\n"
            "assert not _updater.WEBHOOKS_AVAILABLE and sys.modules['tornado'] is None")
    assert "curses" not in loaded_after(code)  # which tornado brings
    assert "tornado" in loaded_after("import bot.app")  # installed, for `run --webhook`
