"""Every text and picture the bot sends: Jinja2 templates, the one function that renders them,
and `charts.py`, which draws the /stats charts (matplotlib, imported when a chart is drawn).

Every sentence is translatable: templates mark it with `{{ _("...") }}` (Jinja2's i18n extension)
and `messages/i18n.py` says which language is being rendered. Each language has its own
Environment whose templates are compiled with the sentences translated (`translated_templates.py`);
`formatting.py` writes numbers and dates for that language. docs/languages.md says how a language is added.

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
from messages.translated_templates import TranslatedEnvironment

TEMPLATE_DIR = Path(__file__).parent
# The gettext extension and the options its extractor must share (babel.cfg repeats them).
TEMPLATE_OPTIONS = {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": False}


def environment(language: str | None = None) -> Environment:
    """The templates of `language`, by default the language being rendered now (messages/i18n.py)."""
    return _environment(language if language is not None else i18n.current_language())


@cache
def _environment(language: str) -> Environment:
    # One per language, made when a text is first rendered in it: its templates are compiled with
    # their sentences translated (messages/translated_templates.py).
    env = TranslatedEnvironment(
        i18n.translations(language),
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        **TEMPLATE_OPTIONS,
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
    if language is not None:
        with i18n.speaking(language):
            return label(name, **context)
    return str(getattr(environment().get_template("buttons.txt").module, name)(**context)).strip()
