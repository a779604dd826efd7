"""Mailing lists: creating them, and finding one by short name, title or a near miss.

Only counts of subscribers leave this module: membership of a list can reveal health and
political opinions.
"""

from __future__ import annotations

import enum
import re

from rapidfuzz import fuzz, process, utils
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.lists.models import Chat, MailingList, Subscription

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_TITLE_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 500


class ListProblemKind(enum.StrEnum):
    BAD_SLUG = "bad_slug"
    BAD_TITLE = "bad_title"  # limit
    DESCRIPTION_TOO_LONG = "description_too_long"  # limit
    SLUG_TAKEN = "slug_taken"  # slug


class InvalidListError(ValueError):
    """A slug, title or description that cannot make a list: `kind` says why, `details` hold what
    the words need (messages/_list_problem.txt)."""

    def __init__(self, kind: ListProblemKind, **details: object) -> None:
        super().__init__(f"{kind.value} {details}" if details else kind.value)
        self.kind = kind
        self.details = details


def check_new_list(*, slug: str, title: str, description: str = "") -> None:
    if not SLUG_PATTERN.match(slug):
        raise InvalidListError(ListProblemKind.BAD_SLUG)
    if not title.strip() or len(title) > MAX_TITLE_LENGTH:
        raise InvalidListError(ListProblemKind.BAD_TITLE, limit=MAX_TITLE_LENGTH)
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidListError(ListProblemKind.DESCRIPTION_TOO_LONG, limit=MAX_DESCRIPTION_LENGTH)


async def create_list(session: AsyncSession, *, slug: str, title: str, description: str = "",
                      public: bool = True) -> MailingList:
    check_new_list(slug=slug, title=title, description=description)
    if await get_list_by_slug(session, slug=slug) is not None:
        raise InvalidListError(ListProblemKind.SLUG_TAKEN, slug=slug)
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


async def subscriber_count(session: AsyncSession, *, list_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Subscription)
        .join(Chat, Chat.id == Subscription.chat_id)
        .where(Subscription.list_id == list_id, Chat.active.is_(True))
    )
    return (await session.scalar(query)) or 0
