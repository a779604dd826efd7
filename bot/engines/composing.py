"""What a broadcast's recipients get: the organiser's text with the list's footer, within
Telegram's limits. Used by the engine when it sends, and by /broadcast and the terminal when an
organiser writes one, so the length is checked against exactly what will go out.

A version in another language (storage/broadcasts/versions.py) is composed the same way with its
own text and the footer in its language; the original's footer is in the bot's source language,
wherever it is composed, so the preview an organiser sees is what goes out."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable

import messages
from bot.telegram_io.sending import Outgoing
from messages.i18n import SOURCE_LANGUAGE, available_languages
from storage.broadcasts.status import check_length
from storage.broadcasts.tables import Broadcast, BroadcastKind, MediaKind
from storage.broadcasts.versions import LocalisedText, Version
from storage.lists.models import MailingList

# What is composed here goes to other chats than the one whose update may be running: each text
# names its language (one version per language), and whatever does not is in the source language,
# never in the language of the organiser whose press is being answered.
render = functools.partial(messages.render, language=SOURCE_LANGUAGE)


def compose_message(*, text: str, media_kind: str | None, media_file_id: str | None,
                    mailing_list: MailingList | None, support_pointer: bool = False,
                    language: str | None = None) -> Outgoing:
    """What every recipient gets: the organiser's text and the list's footer (none without a
    list: a notice to an organiser; with `support_pointer`, SUPPORT_POINTER_UNDER_ALERTS, a line
    pointing to /support under it), the footer in `language` (None: the source language)."""
    footer = None if mailing_list is None else render("broadcast_footer.html", mailing_list=mailing_list,
                                                      support_pointer=support_pointer,
                                                      language=language or SOURCE_LANGUAGE)
    body = text if footer is None else f"{text}\n\n{footer}"
    if media_kind == MediaKind.PHOTO.value:
        return Outgoing(body, photo=media_file_id)
    if media_kind == MediaKind.DOCUMENT.value:
        return Outgoing(body, document=media_file_id)
    return Outgoing(body)


def compose_broadcast(broadcast: Broadcast, mailing_list: MailingList, *, support_pointer: bool = False,
                      version: Version | None = None) -> Outgoing:
    """The broadcast as sent: its original, or one of its versions, in that version's language."""
    language, text = (version.language, version.text) if version is not None else (None, broadcast.text)
    buttons = version.buttons if version is not None and version.buttons else broadcast.buttons
    if broadcast.kind == BroadcastKind.REPORT.value:
        # To an organiser, about a broadcast: no list footer; it may be the preview of an alert
        # (its photo or document, captioned) with the buttons that decide it.
        mailing_list = None
    message = compose_message(text=text, media_kind=broadcast.media_kind,
                              media_file_id=broadcast.media_file_id, mailing_list=mailing_list,
                              support_pointer=support_pointer, language=language)
    if buttons:
        # A notice one acts on: a report's Send now / Drop, or the 'Take the place' of an offer.
        rows = tuple(tuple((text, data) for text, data in row) for row in json.loads(buttons))
        message = dataclasses.replace(message, buttons=rows)
    return message


def check_message_length(*, text: str, media_kind: str | None, mailing_list: MailingList,
                         support_pointer: bool = False, language: str | None = None) -> None:
    """Raises TextTooLong if the text with its footer (and the /support line when it is on) is
    over Telegram's limit for a message or caption, TelegramHtmlError if Telegram could not
    parse it; the footer in `language`, as that version will be sent."""
    composed = compose_message(text=text, media_kind=media_kind, media_file_id=None, mailing_list=mailing_list,
                               support_pointer=support_pointer, language=language)
    check_length(composed.text, media_kind=media_kind)


def in_each_language(compose_one: Callable[[str], str]) -> LocalisedText:
    """A reminder or notice rendered once per language the bot speaks (not once per recipient):
    `compose_one(language)` gives the text in that language; the source language is the original
    and every other language a version, which the engine sends to the chats that speak it."""
    return LocalisedText(compose_one(SOURCE_LANGUAGE), {
        code: compose_one(code) for code in available_languages() if code != SOURCE_LANGUAGE})
