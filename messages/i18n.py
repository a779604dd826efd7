"""Which language a text is rendered in, and the catalogues that translate it.

English is the source: the templates are written in it and need no catalogue. Every other
language is a gettext catalogue under `messages/locale/<code>/LC_MESSAGES/messages.po`, compiled
to `messages.mo` by `make catalogues` (part of `make setup`). A language is offered as soon as
its compiled catalogue is there: adding one is a translation and a restart, no code.

The language of the text being rendered is a context variable, so a handler sets it once for
the update it answers (bot/telegram_io/update_processor.py) and every template, button label
and number it renders follows, while the engines that send to many chats set it per recipient
with `speaking(code)`. Each asyncio task has its own copy, so two chats answered at the same
time never see each other's language.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel import Locale
from babel.support import NullTranslations, Translations

SOURCE_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_current: ContextVar[str] = ContextVar("language", default=SOURCE_LANGUAGE)


@cache
def available_languages() -> tuple[str, ...]:
    """English first, then every language whose compiled catalogue is present, by code."""
    compiled = sorted(path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (SOURCE_LANGUAGE, *[code for code in compiled if code != SOURCE_LANGUAGE])


def translated_languages() -> frozenset[str]:
    """The languages with a catalogue: those a chat's Telegram language is adopted in (English,
    the source, is what a chat with no language gets anyway)."""
    return frozenset(available_languages()) - {SOURCE_LANGUAGE}


def own_name(code: str) -> str:
    """A language's name in itself ("বাংলা" for bn), as the /language buttons show it."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def english_name(code: str) -> str:
    """A language's name in English ("Bangla" for bn), which /language also accepts typed."""
    return Locale.parse(code).get_display_name(SOURCE_LANGUAGE) or code


def choose_language(stored: str | None, telegram_code: str | None) -> str:
    """The chat's own choice if it made one we can still speak; else the Telegram app's language
    ("bn", "bn-BD", "en-GB"...) when there is a catalogue for it; else English."""
    available = available_languages()
    if stored in available:
        return stored
    if telegram_code:
        primary = telegram_code.replace("_", "-").split("-")[0].lower()
        if primary in available:
            return primary
    return SOURCE_LANGUAGE


def current_language() -> str:
    return _current.get()


@contextlib.contextmanager
def speaking(code: str | None) -> Iterator[None]:
    """Render in `code` (None or an unknown code: English) inside the block."""
    token = _current.set(code if code in available_languages() else SOURCE_LANGUAGE)
    try:
        yield
    finally:
        _current.reset(token)


def set_language(code: str | None) -> None:
    """Render in `code` from here to the end of the current task (one update being answered)."""
    _current.set(code if code in available_languages() else SOURCE_LANGUAGE)


@cache
def translations(code: str) -> NullTranslations:
    if code == SOURCE_LANGUAGE:
        return NullTranslations()
    return Translations.load(LOCALE_DIR, [code], DOMAIN)


def current_locale() -> Locale:
    return locale_of(_current.get())


@cache
def locale_of(code: str) -> Locale:
    # English as written here is British English: "21 March 2018", "8.15am".
    return Locale.parse("en_GB" if code == SOURCE_LANGUAGE else code)
