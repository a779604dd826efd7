"""Chats, mailing lists and subscriptions: what supporters join and leave (erasure, and how long
anything is kept, are in storage/retention.py).

Functions take the session first and keyword-only arguments, and say in their name what they do.
Membership of a list can reveal health and political opinions, so nothing here ever returns
one subscriber's data to another: only counts leave this module, except `chat_data` (for the
chat itself) and `export_subscribers` (for the operator at the terminal).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import enum
import io
import re

from rapidfuzz import fuzz, process, utils
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import utcnow
from storage.lists.models import Chat, ChatKind, MailingList, Subscription

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_TITLE_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 500


class JoinOutcome(enum.StrEnum):
    JOINED = "joined"
    ALREADY = "already"
    LEFT = "left"
    NOT_MEMBER = "not_member"


@dataclasses.dataclass(frozen=True)
class ListMembership:
    mailing_list: MailingList
    subscribed: bool


@dataclasses.dataclass(frozen=True)
class ChatData:
    """Everything stored about one chat, for /mydata."""

    telegram_id: int
    kind: str
    active: bool
    first_seen_at: dt.datetime
    subscriptions: list[tuple[MailingList, object]]
    extra: dict[str, list[str]]
    # On no list and no coming event answered since then (see storage/retention.py); None otherwise.
    idle_since: dt.datetime | None = None

    def erased_after(self, days: int) -> dt.datetime | None:
        """When the retention sweep will erase this chat unless it joins a list or answers an event."""
        return self.idle_since + dt.timedelta(days=days) if self.idle_since is not None else None


class InvalidListError(ValueError):
    """A slug, title or description that cannot make a list; the message says why."""


# ------------------------------------------------------------------ chats


async def get_chat(session: AsyncSession, *, telegram_id: int) -> Chat | None:
    return await session.scalar(select(Chat).where(Chat.telegram_id == telegram_id))


async def record_chat(session: AsyncSession, *, telegram_id: int, kind: ChatKind,
                      now: dt.datetime | None = None) -> Chat:
    """The chat's row, created on first contact; a chat that writes to us is reachable again.

    A new chat is on no list yet (`left_at` set): joining one clears that.
    """
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is None:
        chat = Chat(telegram_id=telegram_id, kind=kind.value, active=True, left_at=now or utcnow())
        session.add(chat)
        await session.flush()
    elif not chat.active:
        chat.active = True
    return chat


async def mark_chat_unreachable(session: AsyncSession, *, telegram_id: int, now: dt.datetime | None = None) -> bool:
    """The chat blocked us, was deleted or removed us: stop writing to it and end its subscriptions.

    Ending the subscriptions is deliberate: if the person unblocks the bot later they are not
    silently put back on any list; they choose again. A blocked chat has left, so its retention
    period starts now (unless it was on no list already). Returns whether the chat was known.
    """
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is None:
        return False
    chat.active = False
    await session.execute(delete(Subscription).where(Subscription.chat_id == chat.id))
    if chat.left_at is None:
        chat.left_at = now or utcnow()
    return True


async def mark_chat_reachable(session: AsyncSession, *, telegram_id: int) -> None:
    """The chat unblocked or re-added the bot: writable again, but on no list until it chooses.

    A chat we never stored stays unstored: being able to write to someone is no reason to.
    """
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is not None:
        chat.active = True


async def move_chat(session: AsyncSession, *, old_telegram_id: int, new_telegram_id: int) -> None:
    """A group became a supergroup and Telegram gave it a new id: keep its subscriptions."""
    existing = await get_chat(session, telegram_id=new_telegram_id)
    if existing is not None:
        return
    await session.execute(
        update(Chat)
        .where(Chat.telegram_id == old_telegram_id)
        .values(telegram_id=new_telegram_id, kind=ChatKind.SUPERGROUP.value)
    )


# ------------------------------------------------------------------ lists


def check_new_list(*, slug: str, title: str, description: str = "") -> None:
    if not SLUG_PATTERN.match(slug):
        raise InvalidListError(
            "a list's short name uses 1 to 40 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    if not title.strip() or len(title) > MAX_TITLE_LENGTH:
        raise InvalidListError(f"a list's title has 1 to {MAX_TITLE_LENGTH} characters")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidListError(f"a list's description has at most {MAX_DESCRIPTION_LENGTH} characters")


async def create_list(session: AsyncSession, *, slug: str, title: str, description: str = "",
                      public: bool = True) -> MailingList:
    check_new_list(slug=slug, title=title, description=description)
    if await get_list_by_slug(session, slug=slug) is not None:
        raise InvalidListError(f"a list called {slug!r} exists already")
    mailing_list = MailingList(slug=slug, title=title.strip(), description=description.strip(), public=public)
    session.add(mailing_list)
    await session.flush()
    return mailing_list


async def get_list_by_slug(session: AsyncSession, *, slug: str) -> MailingList | None:
    return await session.scalar(select(MailingList).where(MailingList.slug == slug))


async def get_list_by_id(session: AsyncSession, *, list_id: int) -> MailingList | None:
    return await session.get(MailingList, list_id)


async def public_lists(session: AsyncSession) -> list[MailingList]:
    result = await session.scalars(select(MailingList).where(MailingList.public.is_(True)).order_by(MailingList.title))
    return list(result)


async def find_list(session: AsyncSession, *, name: str) -> MailingList | None:
    """The public list whose short name or title is `name`, ignoring case and spacing."""
    wanted = utils.default_process(name)
    for mailing_list in await public_lists(session):
        if wanted in (utils.default_process(mailing_list.slug), utils.default_process(mailing_list.title)):
            return mailing_list
    return None


async def nearest_lists(session: AsyncSession, *, name: str, limit: int = 3) -> list[MailingList]:
    """The public lists whose names come closest to `name`, best first, for "did you mean".

    Only reasonable matches are offered; an unrelated word gets no suggestion.
    """
    lists = await public_lists(session)
    choices = {index: f"{item.slug} {item.title}" for index, item in enumerate(lists)}
    matches = process.extract(name, choices, scorer=fuzz.WRatio, processor=utils.default_process,
                              limit=limit, score_cutoff=60)
    return [lists[index] for _choice, _score, index in matches]


async def lists_with_membership(session: AsyncSession, *, telegram_id: int) -> list[ListMembership]:
    chat = await get_chat(session, telegram_id=telegram_id)
    joined = set(await _subscribed_list_ids(session, chat)) if chat is not None else set()
    return [ListMembership(item, item.id in joined) for item in await public_lists(session)]


async def subscriber_count(session: AsyncSession, *, list_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Subscription)
        .join(Chat, Chat.id == Subscription.chat_id)
        .where(Subscription.list_id == list_id, Chat.active.is_(True))
    )
    return (await session.scalar(query)) or 0


# ------------------------------------------------------------------ subscriptions


async def _subscribed_list_ids(session: AsyncSession, chat: Chat | None) -> list[int]:
    if chat is None:
        return []
    result = await session.scalars(select(Subscription.list_id).where(Subscription.chat_id == chat.id))
    return list(result)


async def join_list(session: AsyncSession, *, telegram_id: int, kind: ChatKind,
                    mailing_list: MailingList) -> JoinOutcome:
    chat = await record_chat(session, telegram_id=telegram_id, kind=kind)
    chat.left_at = None
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


# ------------------------------------------------------------------ the chat's own data


# Later features register here what they keep about a chat, so /mydata shows it (erasure finds
# their tables by their foreign keys to chats): each entry maps a heading to
# `async (session, chat) -> list of readable lines`.
CHAT_DATA_SECTIONS: dict[str, object] = {}


async def chat_data(session: AsyncSession, *, telegram_id: int) -> ChatData | None:
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is None:
        return None
    query = (
        select(MailingList, Subscription.subscribed_at)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .where(Subscription.chat_id == chat.id)
        .order_by(MailingList.title)
    )
    subscriptions = [(row[0], row[1]) for row in (await session.execute(query)).all()]
    extra = {}
    for heading, describe in CHAT_DATA_SECTIONS.items():
        lines = await describe(session, chat)  # type: ignore[operator]
        if lines:
            extra[heading] = lines
    return ChatData(chat.telegram_id, chat.kind, chat.active, chat.first_seen_at, subscriptions, extra,
                    idle_since=chat.left_at if not subscriptions else None)


# ------------------------------------------------------------------ import and export


@dataclasses.dataclass(frozen=True)
class CsvProblem:
    line: int
    message: str


class SubscriberImportError(ValueError):
    def __init__(self, problems: list[CsvProblem]) -> None:
        super().__init__("; ".join(f"line {p.line}: {p.message}" for p in problems))
        self.problems = problems


def parse_subscriber_csv(text: str) -> list[int]:
    """Chat ids, one a row (a header row `chat_id` is allowed). Raises SubscriberImportError,
    and only that, reporting every bad row."""
    ids: list[int] = []
    problems: list[CsvProblem] = []
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as error:
        # A file the csv module cannot read at all (a cell past its size limit): nothing is imported.
        raise SubscriberImportError([CsvProblem(reader.line_num, f"not readable as CSV ({error})")]) from None
    for line_number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if line_number == 1 and cells[0].lower() in {"chat_id", "telegram_id", "id"}:
            continue
        if len(cells) != 1:
            problems.append(CsvProblem(line_number, f"expected one chat id, found {len(cells)} cells"))
            continue
        try:
            chat_id = int(cells[0])
        except ValueError:
            problems.append(CsvProblem(line_number, f"{cells[0][:40]!r} is not a Telegram chat id"))
            continue
        if chat_id == 0 or abs(chat_id) >= 10**15:
            problems.append(CsvProblem(line_number, f"{chat_id} is out of range for a Telegram chat id"))
            continue
        ids.append(chat_id)
    if problems:
        raise SubscriberImportError(problems)
    return ids


async def import_subscribers(session: AsyncSession, *, chat_ids: list[int], mailing_list: MailingList) -> int:
    """Subscribes every chat id; returns how many were new to the list."""
    joined = 0
    for chat_id in dict.fromkeys(chat_ids):
        kind = ChatKind.PRIVATE if chat_id > 0 else ChatKind.GROUP
        if await join_list(session, telegram_id=chat_id, kind=kind, mailing_list=mailing_list) is JoinOutcome.JOINED:
            joined += 1
    return joined


async def export_subscribers(session: AsyncSession, *,
                             mailing_list: MailingList | None = None) -> list[tuple[int, str]]:
    """(chat id, list slug) of every active subscription, for the operator's terminal only."""
    query = (
        select(Chat.telegram_id, MailingList.slug)
        .join(Subscription, Subscription.chat_id == Chat.id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Chat.active.is_(True))
        .order_by(MailingList.slug, Chat.telegram_id)
    )
    if mailing_list is not None:
        query = query.where(MailingList.id == mailing_list.id)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


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
                          name: str) -> tuple[JoinOutcome, MailingList]:
    """Joins the public list called `name`; raises ListNotFound with suggestions."""
    mailing_list = await _list_named(session, name)
    return await join_list(session, telegram_id=telegram_id, kind=kind, mailing_list=mailing_list), mailing_list


async def leave_list_named(session: AsyncSession, *, telegram_id: int, name: str,
                           now: dt.datetime | None = None) -> tuple[JoinOutcome, MailingList]:
    mailing_list = await _list_named(session, name)
    return await leave_list(session, telegram_id=telegram_id, mailing_list=mailing_list, now=now), mailing_list


async def toggle_list(session: AsyncSession, *, telegram_id: int, kind: ChatKind, list_id: int,
                      join: bool, now: dt.datetime | None = None) -> list[ListMembership]:
    """A join/leave button was pressed: apply it and return the lists as they now stand."""
    mailing_list = await get_list_by_id(session, list_id=list_id)
    if mailing_list is not None and mailing_list.public:
        if join:
            await join_list(session, telegram_id=telegram_id, kind=kind, mailing_list=mailing_list)
        else:
            await leave_list(session, telegram_id=telegram_id, mailing_list=mailing_list, now=now)
    return await lists_with_membership(session, telegram_id=telegram_id)
