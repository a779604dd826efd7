"""The catalogues say every sentence the templates hold, in every language the bot ships.

`messages/locale/messages.pot` must list exactly what the templates mark for translation today
(`make extract` rewrites it), and each shipped language's `.po` must translate every entry,
keep each placeholder, and be compiled (`make catalogues`) as it now reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from messages import i18n, render

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = i18n.LOCALE_DIR / "messages.pot"
SHIPPED = sorted(path.parent.parent.name for path in i18n.LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"))
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalogue(path: Path):
    with path.open("rb") as file:
        return read_po(file)


def _extracted_now() -> set[str]:
    with (REPO / "messages" / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)
    found = set()
    for _filename, _line, message, _comments, _context in extract_from_dir(
            str(REPO), method_map, options_map, directory_filter=lambda path: ".venv" not in path):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _complete(string: str | tuple[str, ...]) -> bool:
    """A translation with every plural form written."""
    return all(string) if isinstance(string, tuple) else bool(string)


def _ids(catalogue) -> set[str]:
    return {message.id if isinstance(message.id, str) else message.id[0] for message in catalogue if message.id}


def test_bengali_is_shipped():
    assert "bn" in SHIPPED
    assert "bn" in i18n.available_languages(), "messages.mo missing: run `make catalogues`"


def test_catalogue_template_lists_what_the_templates_say():
    extracted, listed = _extracted_now(), _ids(_catalogue(TEMPLATE))
    assert extracted, "no template marks anything for translation"
    assert not extracted - listed, f"not in messages.pot (run `make extract`): {sorted(extracted - listed)[:5]}"
    assert not listed - extracted, f"in messages.pot but no longer said: {sorted(listed - extracted)[:5]}"


@pytest.mark.parametrize("language", SHIPPED)
def test_every_message_is_translated(language):
    catalogue = _catalogue(i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po")
    translated = {message.id if isinstance(message.id, str) else message.id[0]: message
                  for message in catalogue if message.id}
    missing = [message_id for message_id in _ids(_catalogue(TEMPLATE))
               if message_id not in translated or not _complete(translated[message_id].string)
               or translated[message_id].fuzzy]
    assert not missing, f"{len(missing)} untranslated in {language}, such as: {missing[:3]}"


@pytest.mark.parametrize("language", SHIPPED)
def test_translations_keep_their_placeholders(language):
    catalogue = _catalogue(i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po")
    for message in catalogue:
        if not message.id or not message.string:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set().union(*(PLACEHOLDER.findall(source) for source in sources))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == wanted, (message.id, string)
            assert string.count("%") - 2 * string.count("%%") == len(PLACEHOLDER.findall(string)), \
                f"a lone % in {string!r}: write %% for a per cent sign"


@pytest.mark.parametrize("language", SHIPPED)
def test_compiled_catalogue_is_the_one_written(language):
    catalogue = _catalogue(i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po")
    compiled = i18n.translations(language)
    for message in catalogue:
        if message.id and message.string and not message.fuzzy and isinstance(message.id, str):
            assert compiled.gettext(message.id) == message.string, "messages.mo is stale: run `make catalogues`"


def test_a_template_speaks_the_language_asked_for():
    english = render("stopped.html", lists=[], retention_days=30)
    bengali = render("stopped.html", lists=[], retention_days=30, language="bn")
    assert "nothing changed" in english
    assert "কিছুই বদলায়নি" in bengali and "nothing changed" not in bengali


def test_a_language_without_a_catalogue_falls_back_to_english():
    assert i18n.choose_language(None, "fr") == "en"
    assert i18n.choose_language(None, "bn-BD") == "bn"
    assert i18n.choose_language("en", "bn") == "en"
    assert i18n.choose_language("xx", None) == "en"
    assert render("stopped.html", lists=[], retention_days=30, language="xx") == \
        render("stopped.html", lists=[], retention_days=30)
