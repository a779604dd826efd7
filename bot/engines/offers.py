"""What a place offered from a waiting list sends: the notice, in `TIMEZONE`, with its 'Take the
place' button (the offers themselves, their deadlines and their expiry are in
`storage.events.offers`; the reminder scheduler expires them when due)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Callable
from zoneinfo import ZoneInfo

import messages
from bot.engines.composing import in_each_language
from messages.i18n import SOURCE_LANGUAGE
from storage.events.offers import OfferComposer, Offering, OfferNotice
from storage.events.tables import Event, EventDate

# The button's callback data for a date: the wiring passes the handlers' declaration of it
# (bot.handlers.callback_data.TakePlace.build), so no engine imports a handler module.
TakePlaceData = Callable[[int], str]

# The notice goes to someone else than whoever freed the place: it is rendered once per language
# (in_each_language), and whatever names no language is in the source language, never in that of
# the person whose press is being answered.
render = functools.partial(messages.render, language=SOURCE_LANGUAGE)
label = functools.partial(messages.label, language=SOURCE_LANGUAGE)


def take_place_button(event_date_id: int, take_place_data: TakePlaceData, *, language: str = SOURCE_LANGUAGE) -> str:
    """The notice's one button, as `Broadcast.buttons` keeps them, labelled in `language`."""
    return json.dumps([[[label("event_take_place", language=language), take_place_data(event_date_id)]]],
                      ensure_ascii=False)


def compose_offer(tz: ZoneInfo, take_place_data: TakePlaceData) -> OfferComposer:
    """The offer in each language the bot speaks, its button too (rendered once per language)."""
    def compose(event: Event, event_date: EventDate, expires_at: dt.datetime, open_to_all: bool) -> OfferNotice:
        text = in_each_language(lambda language: render(
            "event_place_offered.html", language=language, event=event, date=event_date, expires_at=expires_at,
            open_to_all=open_to_all, tz=tz))
        buttons = {code: take_place_button(event_date.id, take_place_data, language=code) for code in text.versions}
        return OfferNotice(dataclasses.replace(text, buttons=buttons),
                           take_place_button(event_date.id, take_place_data))

    return compose


def place_offering(*, tz: ZoneInfo, hold: dt.timedelta, take_place_data: TakePlaceData) -> Offering:
    return Offering(hold=hold, compose=compose_offer(tz, take_place_data))
