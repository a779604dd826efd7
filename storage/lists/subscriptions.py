"""Subscriptions: what supporters join and leave, by button or by a list's name.

Functions take the session first and keyword-only arguments, and say in their name what they do.
Membership of a list can reveal health and political opinions, so nothing here ever returns
one subscriber's data to another (chats.py shows a chat its own; subscriber_csv.py is for the
operator at the terminal).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import utcnow
from storage.lists.chats import get_chat, record_chat
from storage.lists.languages import adopt_app_language
from storage.lists.mailing_lists import find_list, get_list_by_id, nearest_lists, public_lists
from storage.lists.models import Chat, ChatKind, MailingList, Subscription


class JoinOutcome(enum.StrEnum):
    JOINED = "joined"
    ALREADY = "already"
    LEFT = "left"
    NOT_MEMBER = "not_member"


@dataclasses.dataclass(frozen=True)
class ListMembership:
    mailing_list: MailingList
    subscribed: bool


async def lists_with_membership(session: AsyncSession, *, telegram_id: int) -> list[ListMembership]:
    chat = await get_chat(session, telegram_id=telegram_id)
    joined = set(await _subscribed_list_ids(session, chat)) if chat is not None else set()
    return [ListMembership(item, item.id in joined) for item in await public_lists(session)]


# ------------------------------------------------------------------ subscriptions


async def _subscribed_list_ids(session: AsyncSession, chat: Chat | None) -> list[int]:
    if chat is None:
        return []
    result = await session.scalars(select(Subscription.list_id).where(Subscription.chat_id == chat.id))
    return list(result)


async def join_list(session: AsyncSession, *, telegram_id: int, kind: ChatKind,
                    mailing_list: MailingList, app_language: str | None = None) -> JoinOutcome:
    """Puts the chat on the list; `app_language` is stored with a chat that has no language
    (storage/lists/languages.py `adopt_app_language`)."""
    chat = await record_chat(session, telegram_id=telegram_id, kind=kind)
    chat.left_at = None
    adopt_app_language(chat, app_language)
    if await session.get(Subscription, (chat.id, mailing_list.id)) is not None:
        return JoinOutcome.ALREADY
    session.add(Subscription(chat_id=chat.id, list_id=mailing_list.id))
    await session.flush()
    return JoinOutcome.JOINED


async def _note_if_on_no_list(session: AsyncSession, chat: Chat, now: dt.datetime | None) -> None:
    """The chat's retention period starts when its last subscription ends."""
    await session.flush()
    if chat.left_at is None and not await _subscribed_list_ids(session, chat):
        chat.left_at = now or utcnow()


async def leave_list(session: AsyncSession, *, telegram_id: int, mailing_list: MailingList,
                     now: dt.datetime | None = None) -> JoinOutcome:
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is None:
        return JoinOutcome.NOT_MEMBER
    subscription = await session.get(Subscription, (chat.id, mailing_list.id))
    if subscription is None:
        return JoinOutcome.NOT_MEMBER
    await session.delete(subscription)
    await _note_if_on_no_list(session, chat, now)
    return JoinOutcome.LEFT


async def leave_all_lists(session: AsyncSession, *, telegram_id: int,
                          now: dt.datetime | None = None) -> list[MailingList]:
    """Ends every subscription of the chat and returns the lists it left."""
    lists = await lists_of_chat(session, telegram_id=telegram_id)
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is not None:
        await session.execute(delete(Subscription).where(Subscription.chat_id == chat.id))
        await _note_if_on_no_list(session, chat, now)
    return lists


async def lists_of_chat(session: AsyncSession, *, telegram_id: int) -> list[MailingList]:
    query = (
        select(MailingList)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .join(Chat, Chat.id == Subscription.chat_id)
        .where(Chat.telegram_id == telegram_id)
        .order_by(MailingList.title)
    )
    return list(await session.scalars(query))


# ------------------------------------------------------------------ by name, for commands


@dataclasses.dataclass(frozen=True)
class ListName:
    """A list's names, detached from the session (it outlives the rolled-back transaction)."""

    slug: str
    title: str


class ListNotFound(Exception):
    """No public list has that name; `suggestions` are the nearest ones."""

    def __init__(self, name: str, suggestions: list[ListName]) -> None:
        super().__init__(name)
        self.name = name
        self.suggestions = suggestions


async def _list_named(session: AsyncSession, name: str) -> MailingList:
    mailing_list = await find_list(session, name=name)
    if mailing_list is None:
        nearest = await nearest_lists(session, name=name)
        raise ListNotFound(name, [ListName(item.slug, item.title) for item in nearest])
    return mailing_list


async def join_list_named(session: AsyncSession, *, telegram_id: int, kind: ChatKind,
                          name: str, app_language: str | None = None) -> tuple[JoinOutcome, MailingList]:
    """Joins the public list called `name`; raises ListNotFound with suggestions."""
    mailing_list = await _list_named(session, name)
    outcome = await join_list(session, telegram_id=telegram_id, kind=kind, mailing_list=mailing_list,
                              app_language=app_language)
    return outcome, mailing_list


async def leave_list_named(session: AsyncSession, *, telegram_id: int, name: str,
                           now: dt.datetime | None = None) -> tuple[JoinOutcome, MailingList]:
    mailing_list = await _list_named(session, name)
    return await leave_list(session, telegram_id=telegram_id, mailing_list=mailing_list, now=now), mailing_list


async def toggle_list(session: AsyncSession, *, telegram_id: int, kind: ChatKind, list_id: int,
                      join: bool, now: dt.datetime | None = None,
                      app_language: str | None = None) -> list[ListMembership]:
    """A join/leave button was pressed: apply it and return the lists as they now stand."""
    mailing_list = await get_list_by_id(session, list_id=list_id)
    if mailing_list is not None and mailing_list.public:
        if join:
            await join_list(session, telegram_id=telegram_id, kind=kind, mailing_list=mailing_list,
                            app_language=app_language)
        else:
            await leave_list(session, telegram_id=telegram_id, mailing_list=mailing_list, now=now)
    return await lists_with_membership(session, telegram_id=telegram_id)
