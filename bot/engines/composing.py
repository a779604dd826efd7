"""What a broadcast's recipients get: the organiser's text with the list's footer, within
Telegram's limits. Used by the engine when it sends, and by /broadcast and the terminal when an
organiser writes one, so the length is checked against exactly what will go out."""

from __future__ import annotations

import dataclasses

from bot.telegram_io.sending import Outgoing
from messages import render
from storage.broadcasts.status import check_length
from storage.broadcasts.tables import Broadcast, BroadcastKind, MediaKind
from storage.lists.models import MailingList


def compose_message(*, text: str, media_kind: str | None, media_file_id: str | None,
                    mailing_list: MailingList, support_pointer: bool = False) -> Outgoing:
    """What every recipient gets: the organiser's text and the list's footer (with
    `support_pointer`, SUPPORT_POINTER_UNDER_ALERTS, a line pointing to /support under it)."""
    footer = render("broadcast_footer.html", mailing_list=mailing_list, support_pointer=support_pointer)
    body = f"{text}\n\n{footer}"
    if media_kind == MediaKind.PHOTO.value:
        return Outgoing(body, photo=media_file_id)
    if media_kind == MediaKind.DOCUMENT.value:
        return Outgoing(body, document=media_file_id)
    return Outgoing(body)


def compose_broadcast(broadcast: Broadcast, mailing_list: MailingList, *, support_pointer: bool = False) -> Outgoing:
    if broadcast.kind == BroadcastKind.REPORT.value:
        return Outgoing(broadcast.text)  # to an organiser, about a broadcast: no list footer
    message = compose_message(text=broadcast.text, media_kind=broadcast.media_kind,
                              media_file_id=broadcast.media_file_id, mailing_list=mailing_list,
                              support_pointer=support_pointer)
    if broadcast.reply_markup:
        message = dataclasses.replace(message, reply_markup=broadcast.reply_markup)
    return message


def check_message_length(*, text: str, media_kind: str | None, mailing_list: MailingList,
                         support_pointer: bool = False) -> None:
    """Raises TextTooLong if the text with its footer (and the /support line when it is on) is
    over Telegram's limit for a message or caption."""
    composed = compose_message(text=text, media_kind=media_kind, media_file_id=None, mailing_list=mailing_list,
                               support_pointer=support_pointer)
    check_length(composed.text, media_kind=media_kind)
