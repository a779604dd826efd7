"""The hand-made number filters write exactly what Babel's format_decimal writes, in every language
the bot ships, so that speeding them up changed no figure anyone reads."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from unittest import mock

import pytest
from babel.numbers import format_decimal
from hypothesis import example, given
from hypothesis import strategies as st

from messages.formatting import decimal, number
from messages.i18n import available_languages, locale_of, speaking

LANGUAGES = sorted(available_languages())
# Languages not shipped yet but with groupings or separators unlike English's, so that a
# translation added later is already covered: lakh grouping (pa), a space (fr), a dot (de).
PROBE_LANGUAGES = ["pa", "fr", "de", "pl", "ur"]


def babel_decimal(value: object, digits: int, code: str) -> str:
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=locale_of(code))


@contextlib.contextmanager
def in_language(code: str):
    # speaking() only switches to shipped languages; a probe language is made shipped for the block.
    with mock.patch("messages.i18n.available_languages", return_value=(*LANGUAGES, code)), speaking(code):
        yield


every_language = pytest.mark.parametrize("language", LANGUAGES + PROBE_LANGUAGES)


@every_language
@given(value=st.integers(min_value=-10**15, max_value=10**15))
@example(value=0)
@example(value=999)
@example(value=1000)
@example(value=1234567)
@example(value=-100000)
def test_whole_numbers_are_grouped_as_babel_groups_them(language, value):
    with in_language(language):
        assert number(value) == format_decimal(value, locale=locale_of(language))


@every_language
@given(value=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), digits=st.integers(0, 3))
@example(value=6.25, digits=1)   # half to even: 6.2
@example(value=6.35, digits=1)   # the float is a little under 6.35: 6.3
@example(value=0.05, digits=1)
@example(value=-0.04, digits=1)  # keeps its sign: -0.0
@example(value=-0.0, digits=2)
@example(value=1234567.25, digits=1)
@example(value=59.0, digits=1)
@example(value=99.95, digits=1)
@example(value=1e-7, digits=3)
@example(value=123456789.5, digits=0)
def test_figures_are_rounded_and_written_as_babel_writes_them(language, value, digits):
    with in_language(language):
        assert decimal(value, digits) == babel_decimal(value, digits, language)


@every_language
@given(value=st.integers(min_value=-10**12, max_value=10**12), digits=st.integers(0, 2))
def test_whole_numbers_given_places_show_them(language, value, digits):
    with in_language(language):
        assert decimal(value, digits) == babel_decimal(value, digits, language)


@every_language
@pytest.mark.parametrize("value", [Decimal("6.65"), Decimal("-12345.678"), Decimal("1E+3")])
def test_decimals_from_the_database_are_written_as_babel_writes_them(language, value):
    with in_language(language):
        assert decimal(value, 1) == babel_decimal(value, 1, language)


def test_values_that_are_not_whole_numbers_pass_through_unchanged():
    assert number("n/a") == "n/a"
    assert number(True) is True
    assert number(None) is None


def test_bengali_groups_lakhs_and_writes_latin_digits():
    with speaking("bn"):
        assert number(12345678) == "1,23,45,678"
        assert decimal(12345678.25, 1) == "12,345,678.2"
