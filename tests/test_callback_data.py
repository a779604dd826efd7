"""Callback data (issue 12): each family of buttons declared once, built, matched and read back
by the same declaration, within Telegram's 1-64 bytes."""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import re
import typing

import pytest
from telegram.ext import CallbackQueryHandler, ConversationHandler

from bot.app import build_application
from bot.handlers import callback_data
from bot.handlers.callback_data import (
    BroadcastAddVersion,
    BroadcastScheduleAnswer,
    EditField,
    Family,
    LanguageChoice,
    QuietChoice,
    StatsChoice,
    StatsCompare,
)
from bot.settings import Settings
from storage.clock import ManualClock
from storage.db import Database
from storage.iapt.report import View

FAMILIES = sorted(Family.__subclasses__(), key=lambda family: family.__name__)
SAMPLE_TEXT = {EditField: ["time", "booked_elsewhere"], StatsChoice: ["", "2018-19"],
               QuietChoice: ["2200-0730", "0000-2359", "off", "default"], StatsCompare: ["", "2018-19"],
               BroadcastScheduleAnswer: ["1", "999999999999"], BroadcastAddVersion: ["bn", "xyz"],
               LanguageChoice: ["bn", "en", "xyz"]}


def _samples(family: type[Family]) -> list[dict[str, object]]:
    """Every combination of the words a family's fields allow, with the longest row ids."""
    hints = typing.get_type_hints(family, include_extras=True)
    choices = {}
    for name in family._readers:
        hint = hints[name]
        if hint is int:
            choices[name] = [1, 999_999_999]
        elif typing.get_origin(hint) is typing.Literal:
            choices[name] = list(typing.get_args(hint))
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            choices[name] = list(hint)
        else:
            choices[name] = SAMPLE_TEXT[family]
    return [dict(zip(choices, values, strict=True)) for values in itertools.product(*choices.values())]


def test_every_family_is_found():
    assert len(FAMILIES) == 26


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.__name__)
def test_what_a_family_builds_its_pattern_takes_and_parse_gives_back(family):
    for values in _samples(family):
        data = family.build(**values)
        assert 1 <= len(data.encode()) <= 64
        assert re.match(family.pattern, data), data
        assert family.parse(data) == family(**values)
        assert not re.match(family.pattern, data + "\n"), "a trailing newline is other data"


def test_families_do_not_take_each_others_data():
    for family, other in itertools.permutations(FAMILIES, 2):
        for values in _samples(family):
            assert not re.match(other.pattern, family.build(**values)), (family, other)


def test_data_over_64_bytes_is_refused_when_built():
    with pytest.raises(ValueError, match="bytes"):
        EditField.build("x" * 50)


def test_parse_reads_typed_values():
    pressed = StatsChoice.parse("stats:show:12:trend:")
    assert (pressed.action, pressed.area_id, pressed.view, pressed.year) == ("show", 12, View.TREND, "")
    assert callback_data.RsvpAnswer.parse("rsvp:going:7").event_date_id == 7


def test_every_button_handler_of_the_application_uses_a_declared_pattern():
    bot_settings = Settings(_env_file=None, telegram_bot_token="1:x", stats_load_bundle=False)
    application = build_application(bot_settings, Database.from_url("sqlite+aiosqlite:///unused.db"),
                                    ManualClock(dt.datetime(2018, 3, 1, 12, 0, tzinfo=dt.UTC)),
                                    token="1:x", api_url="http://127.0.0.1:9")
    patterns = []

    def collect(handlers) -> None:
        for handler in handlers:
            if isinstance(handler, ConversationHandler):
                collect([*handler.entry_points, *handler.fallbacks, *(h for s in handler.states.values() for h in s)])
            elif isinstance(handler, CallbackQueryHandler) and handler.pattern is not None:
                patterns.append(handler.pattern.pattern)

    for group in application.handlers.values():
        collect(group)
    # Each family is registered exactly once, and nothing else is.
    assert sorted(patterns) == sorted(family.pattern for family in FAMILIES)
