"""A /broadcast draft: made from an organiser's message, previewed, then sent, scheduled or dropped.

The draft is a Broadcast row in DRAFT status, so it survives a restart; these functions are what
the organiser's message and the buttons under the preview do to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.listings import BroadcastSummary, ListChoice, broadcast_summary, list_to_broadcast_to
from storage.broadcasts.status import (
    BroadcastError,
    BroadcastProblemKind,
    change_broadcast,
    create_broadcast,
    send_broadcast_now,
)
from storage.broadcasts.tables import Broadcast, BroadcastStatus, BroadcastVersion, MediaKind, get_broadcast
from storage.broadcasts.versions import versions_of
from storage.lists.models import MailingList


class DraftAnswer(enum.StrEnum):
    """The organiser's answer to a draft's preview."""

    SEND = "send"
    SCHEDULE = "schedule"  # asks for the time next; the draft stays a draft until it is given
    DROP = "drop"


@dataclasses.dataclass(frozen=True)
class DraftContent:
    """What the organiser sent: Telegram HTML text (a caption, with a photo or a document)."""

    text: str
    media_kind: MediaKind | None = None
    file_id: str | None = None
    # The version's language (its footer is in it); None: the original.
    language: str | None = None


@dataclasses.dataclass(frozen=True)
class NewDraft:
    broadcast: Broadcast
    mailing_list: MailingList
    choice: ListChoice  # the list, with how many chats the draft would reach
    # Its versions in other languages (language -> text), added at the preview.
    versions: dict[str, str] = dataclasses.field(default_factory=dict)


# Raises if the text, composed as the recipients will get it on that list, cannot be sent
# (TextTooLong, TelegramHtmlError); composing is the bot's business, so it is handed in.
LengthCheck = Callable[[DraftContent, MailingList], None]


async def create_draft(session: AsyncSession, *, list_id: int, content: DraftContent, created_by: int,
                       now: dt.datetime, check_length: LengthCheck) -> NewDraft | None:
    """A DRAFT broadcast of `content` to the list, for the preview; None if the list is gone.
    Raises what `check_length` raises, having stored nothing."""
    mailing_list = await session.get(MailingList, list_id)
    choice = await list_to_broadcast_to(session, list_id=list_id)
    if mailing_list is None or choice is None:
        return None
    check_length(content, mailing_list)
    draft = await create_broadcast(
        session, list_id=list_id, text=content.text, created_by=created_by, draft=True,
        photo_file_id=content.file_id if content.media_kind is MediaKind.PHOTO else None,
        document_file_id=content.file_id if content.media_kind is MediaKind.DOCUMENT else None, now=now)
    return NewDraft(draft, mailing_list, choice)


async def answer_draft(session: AsyncSession, *, broadcast_id: int, answer: DraftAnswer,
                       now: dt.datetime) -> BroadcastSummary:
    """Send starts it now, Drop cancels it, Schedule leaves it as it is (the time comes next).
    Raises BroadcastError if it is no longer a draft (answered already, from another message)."""
    draft = await broadcast_summary(session, broadcast_id=broadcast_id)
    if draft is None or draft.status is not BroadcastStatus.DRAFT:
        raise BroadcastError(BroadcastProblemKind.NOT_A_DRAFT)
    if answer is DraftAnswer.SEND:
        await send_broadcast_now(session, broadcast_id=broadcast_id, now=now)
    elif answer is DraftAnswer.DROP:
        await change_broadcast(session, broadcast_id=broadcast_id, action="cancel", now=now)
    return draft


async def set_urgency(session: AsyncSession, *, broadcast_id: int, urgent: bool) -> NewDraft:
    """Marks a draft urgent (it rings even in the recipients' quiet hours) or ordinary (silent
    then). Raises BroadcastError if it is no longer a draft."""
    draft = await get_broadcast(session, broadcast_id=broadcast_id)
    mailing_list = await session.get(MailingList, draft.list_id) if draft is not None else None
    choice = await list_to_broadcast_to(session, list_id=draft.list_id) if draft is not None else None
    if draft is None or draft.state is not BroadcastStatus.DRAFT or mailing_list is None or choice is None:
        raise BroadcastError(BroadcastProblemKind.NOT_A_DRAFT)
    draft.urgent = urgent
    await session.flush()
    return NewDraft(draft, mailing_list, choice, await versions_of(session, broadcast_id=broadcast_id))


async def set_version(session: AsyncSession, *, broadcast_id: int, language: str, text: str,
                      check_length: LengthCheck) -> NewDraft:
    """Adds (or replaces) the `language` version of a draft: the same alert, in another language,
    for the recipients whose chat speaks it. Checked like the original (`check_length` raises
    TextTooLong or TelegramHtmlError, with the draft's media kind, having stored nothing).
    Returns the draft with all its versions. Raises BroadcastError if it is no longer a draft:
    once its deliveries are queued, which version each recipient gets is fixed."""
    draft = await get_broadcast(session, broadcast_id=broadcast_id)
    mailing_list = await session.get(MailingList, draft.list_id) if draft is not None else None
    choice = await list_to_broadcast_to(session, list_id=draft.list_id) if draft is not None else None
    if draft is None or draft.state is not BroadcastStatus.DRAFT or mailing_list is None or choice is None:
        raise BroadcastError(BroadcastProblemKind.NOT_A_DRAFT)
    media_kind = MediaKind(draft.media_kind) if draft.media_kind else None
    check_length(DraftContent(text, media_kind, draft.media_file_id, language=language), mailing_list)
    await session.execute(delete(BroadcastVersion).where(BroadcastVersion.broadcast_id == broadcast_id,
                                                         BroadcastVersion.language == language))
    session.add(BroadcastVersion(broadcast_id=broadcast_id, language=language, text=text))
    await session.flush()
    return NewDraft(draft, mailing_list, choice, await versions_of(session, broadcast_id=broadcast_id))
