"""Every text and picture the bot sends: Jinja2 templates, the one function that renders them,
and `charts.py`, which draws the /stats charts (matplotlib, imported when a chart is drawn).

Every sentence is translatable: templates mark it with `{{ _("...") }}` (Jinja2's i18n extension)
and `messages/i18n.py` picks the catalogue of the language being rendered; `formatting.py` writes
numbers and dates for that language. docs/languages.md says how a language is added.

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

from messages import i18n
from messages.formatting import FILTERS

TEMPLATE_DIR = Path(__file__).parent
# The gettext extension and the options its extractor must share (babel.cfg repeats them).
TEMPLATE_OPTIONS = {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": False}


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        **TEMPLATE_OPTIONS,
    )
    # Looked up at each call, so the language is the one being rendered now, not at start-up.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda message: i18n.current_translations().gettext(message),
        ngettext=lambda singular, plural, n: i18n.current_translations().ngettext(singular, plural, n),
        newstyle=True,
    )
    env.filters.update(FILTERS)
    # A stored language code as people read it: `{{ code | language_name }}` gives "বাংলা" for bn.
    env.filters["language_name"] = i18n.own_name
    # A text as the operator typed or a file holds it, in quotes and with any unprintable character
    # shown, for the terminal's refusals.
    env.filters["quoted"] = repr
    return env


def render(template: str, /, *, language: str | None = None, **context: object) -> str:
    """Render `template` (e.g. "welcome.html") and strip surrounding blank space: in `language`
    when given, else in the language of the update being answered (messages/i18n.py)."""
    if language is not None:
        with i18n.speaking(language):
            return environment().get_template(template).render(**context).strip()
    return environment().get_template(template).render(**context).strip()


def template_names() -> list[str]:
    return sorted(environment().list_templates(extensions=["html", "txt"]))


def label(name: str, /, *, language: str | None = None, **context: object) -> str:
    """A button label: the macro `name` of `buttons.txt` (plain text, no HTML)."""
    macro = getattr(environment().get_template("buttons.txt").module, name)
    if language is not None:
        with i18n.speaking(language):
            return str(macro(**context)).strip()
    return str(macro(**context)).strip()
