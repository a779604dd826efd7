"""Templates compiled with their sentences translated (messages/translated_templates.py) say exactly
what Jinja2's own i18n extension says when it looks each sentence up while rendering."""

from __future__ import annotations

import pytest
from babel.support import NullTranslations
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from messages import TEMPLATE_OPTIONS, environment, i18n
from messages.i18n import available_languages
from messages.translated_templates import TranslatedEnvironment
from tests.test_messages import PLAIN_SAMPLES
from tests.test_templates_sent import SAMPLES


def reference_environment(language: str) -> Environment:
    """The stock extension, translating at render time: what the bot did before."""
    compiled = environment(language)
    env = Environment(loader=compiled.loader, autoescape=compiled.autoescape, undefined=StrictUndefined,
                      extensions=["jinja2.ext.i18n"], **TEMPLATE_OPTIONS)
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(compiled.filters)
    return env


REFERENCES = {language: reference_environment(language) for language in available_languages()}
CASES = [pytest.param(name, context, language, id=f"{language}-{name}-{n}")
         for language in available_languages()
         for name, contexts in {**SAMPLES, **PLAIN_SAMPLES}.items() for n, context in enumerate(contexts)]


@pytest.mark.parametrize(("name", "context", "language"), CASES)
def test_every_template_says_what_the_i18n_extension_says(name, context, language):
    with i18n.speaking(language):
        expected = REFERENCES[language].get_template(name).render(**context)
        assert environment(language).get_template(name).render(**context) == expected


class Catalogue(NullTranslations):
    def __init__(self, entries: dict[str, str]) -> None:
        super().__init__()
        self.entries = entries

    def gettext(self, message: str) -> str:
        return self.entries.get(message, message)


def compiled(entries: dict[str, str], templates: dict[str, str]) -> Environment:
    return TranslatedEnvironment(Catalogue(entries), loader=DictLoader(templates),
                                 autoescape=select_autoescape(enabled_extensions=("html",)),
                                 undefined=StrictUndefined, extensions=["jinja2.ext.i18n"])


def test_a_sentence_is_its_translation_with_its_own_markup_kept_and_values_escaped():
    env = compiled({"Hello <b>%(name)s</b>, 50%% off": "Salut <b>%(name)s</b>, 50%% moins"},
                   {"a.html": '{{ _("Hello <b>%(name)s</b>, 50%% off", name=who) }}',
                    "a.txt": '{{ _("Hello <b>%(name)s</b>, 50%% off", name=who) }}'})
    assert env.get_template("a.html").render(who="<Tom & Ann>") == "Salut <b>&lt;Tom &amp; Ann&gt;</b>, 50% moins"
    assert env.get_template("a.txt").render(who="<Tom & Ann>") == "Salut <b><Tom & Ann></b>, 50% moins"


def test_a_sentence_without_values_is_a_constant_and_still_a_format():
    env = compiled({"Recovered: 6.6%%": "Récupérés : 6,6 %%"}, {"a.html": '{{ _("Recovered: 6.6%%") }}'})
    template = env.get_template("a.html")
    assert template.render() == "Récupérés : 6,6 %"
    # Compiled in: the catalogue is no longer asked when the template is rendered.
    env.translations.entries.clear()
    assert template.render() == "Récupérés : 6,6 %"


def test_what_is_not_one_literal_sentence_is_translated_when_rendered():
    env = compiled({"Hello": "Salut"}, {"a.txt": '{{ _(word) }} {{ ngettext("%(num)s day", "%(num)s days", 2) }}'})
    assert env.get_template("a.txt").render(word="Hello") == "Salut 2 days"


def test_a_value_missing_from_a_sentence_is_still_an_error():
    env = compiled({}, {"a.txt": '{{ _("Hello %(name)s") }}'})
    with pytest.raises(KeyError):
        env.get_template("a.txt").render()
