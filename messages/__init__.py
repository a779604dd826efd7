"""Every text and picture the bot sends: Jinja2 templates, the one function that renders them,
and `charts.py`, which draws the /stats trend chart (matplotlib).

`*.html` templates become Telegram messages sent with parse_mode=HTML, so they are autoescaped: a
list title such as "Rights & <Welfare>" cannot break the markup. `*.txt` templates are plain text
(button labels, CSV headers, terminal output) and are not escaped. Undefined variables are errors,
never silent blanks. messages/ imports nothing from bot/ and no `telegram`; the chart takes its
figures from `storage.iapt.report`, so the bot, the command line and the tests render alike.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).parent


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["thousands"] = lambda n: f"{n:,}" if isinstance(n, int) else n
    # A text as the operator typed or a file holds it, in quotes and with any unprintable character
    # shown, for the terminal's refusals.
    env.filters["quoted"] = repr
    return env


def render(template: str, /, **context: object) -> str:
    """Render `template` (e.g. "welcome.html") and strip surrounding blank space."""
    return environment().get_template(template).render(**context).strip()


def template_names() -> list[str]:
    return sorted(environment().list_templates(extensions=["html", "txt"]))


def label(name: str, **context: object) -> str:
    """A button label: the macro `name` of `buttons.txt` (plain text, no HTML)."""
    macro = getattr(environment().get_template("buttons.txt").module, name)
    return str(macro(**context)).strip()
