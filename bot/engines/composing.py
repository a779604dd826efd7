"""What a broadcast's recipients get: the organiser's text with the list's footer, within
Telegram's limits. Used by the engine when it sends, and by /broadcast and the terminal when an
organiser writes one, so the length is checked against exactly what will go out."""

from __future__ import annotations

import dataclasses
import functools
import json

import messages
from bot.telegram_io.sending import Outgoing
from messages.i18n import SOURCE_LANGUAGE
from storage.broadcasts.status import check_length
from storage.broadcasts.tables import Broadcast, BroadcastKind, MediaKind
from storage.lists.models import MailingList

# The footer goes to every recipient, so it is not in the language of the organiser previewing it
# (the preview shows it exactly as sent): the source language, until alerts come per language.
render = functools.partial(messages.render, language=SOURCE_LANGUAGE)


def compose_message(*, text: str, media_kind: str | None, media_file_id: str | None,
                    mailing_list: MailingList | None, support_pointer: bool = False) -> Outgoing:
    """What every recipient gets: the organiser's text and the list's footer (none without a
    list: a notice to an organiser; with `support_pointer`, SUPPORT_POINTER_UNDER_ALERTS, a line
    pointing to /support under it)."""
    footer = None if mailing_list is None else render("broadcast_footer.html", mailing_list=mailing_list,
                                                      support_pointer=support_pointer)
    body = text if footer is None else f"{text}\n\n{footer}"
    if media_kind == MediaKind.PHOTO.value:
        return Outgoing(body, photo=media_file_id)
    if media_kind == MediaKind.DOCUMENT.value:
        return Outgoing(body, document=media_file_id)
    return Outgoing(body)


def compose_broadcast(broadcast: Broadcast, mailing_list: MailingList, *, support_pointer: bool = False) -> Outgoing:
    if broadcast.kind == BroadcastKind.REPORT.value:
        # To an organiser, about a broadcast: no list footer; it may be the preview of an alert
        # (its photo or document, captioned) with the buttons that decide it.
        mailing_list = None
    message = compose_message(text=broadcast.text, media_kind=broadcast.media_kind,
                              media_file_id=broadcast.media_file_id, mailing_list=mailing_list,
                              support_pointer=support_pointer)
    if broadcast.buttons:
        # A notice one acts on: a report's Send now / Drop, or the 'Take the place' of an offer.
        rows = tuple(tuple((text, data) for text, data in row) for row in json.loads(broadcast.buttons))
        message = dataclasses.replace(message, buttons=rows)
    return message


def check_message_length(*, text: str, media_kind: str | None, mailing_list: MailingList,
                         support_pointer: bool = False) -> None:
    """Raises TextTooLong if the text with its footer (and the /support line when it is on) is
    over Telegram's limit for a message or caption."""
    composed = compose_message(text=text, media_kind=media_kind, media_file_id=None, mailing_list=mailing_list,
                               support_pointer=support_pointer)
    check_length(composed.text, media_kind=media_kind)
