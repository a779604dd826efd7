"""What a place offered from a waiting list sends: the notice, in `TIMEZONE`, with its 'Take the
place' button (the offers themselves, their deadlines and their expiry are in
`storage.events.offers`; the reminder scheduler expires them when due)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from zoneinfo import ZoneInfo

import messages
from messages.i18n import SOURCE_LANGUAGE
from storage.events.offers import OfferComposer, Offering, OfferNotice
from storage.events.tables import Event, EventDate

# The button's callback data for a date: the wiring passes the handlers' declaration of it
# (bot.handlers.callback_data.TakePlace.build), so no engine imports a handler module.
TakePlaceData = Callable[[int], str]

# The notice goes to someone else than whoever freed the place, so it is not in their language
# (the one current while their press is answered): in the source language, until notices are
# rendered per recipient.
render = functools.partial(messages.render, language=SOURCE_LANGUAGE)
label = functools.partial(messages.label, language=SOURCE_LANGUAGE)


def take_place_button(event_date_id: int, take_place_data: TakePlaceData) -> str:
    """The notice's one button, as `Broadcast.buttons` keeps them."""
    return json.dumps([[[label("event_take_place"), take_place_data(event_date_id)]]], ensure_ascii=False)


def compose_offer(tz: ZoneInfo, take_place_data: TakePlaceData) -> OfferComposer:
    def compose(event: Event, event_date: EventDate, expires_at: dt.datetime, open_to_all: bool) -> OfferNotice:
        text = render("event_place_offered.html", event=event, date=event_date, expires_at=expires_at,
                      open_to_all=open_to_all, tz=tz)
        return OfferNotice(text, take_place_button(event_date.id, take_place_data))

    return compose


def place_offering(*, tz: ZoneInfo, hold: dt.timedelta, take_place_data: TakePlaceData) -> Offering:
    return Offering(hold=hold, compose=compose_offer(tz, take_place_data))
