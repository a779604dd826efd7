"""Who may broadcast, create lists and events: ORGANISER_IDS plus those added in Telegram."""

from __future__ import annotations

import dataclasses
import enum
import re

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.tables import Broadcast
from storage.lists.models import Organiser, OrganiserMenu

# Telegram user ids have at most 52 significant bits (Bot API, User.id).
MAX_USER_ID = 2**52
_USER_ID = re.compile(r"[0-9]{1,16}")


def parse_user_id(text: str) -> int | None:
    """A Telegram user id as an organiser types it ('123456789'), or None when `text` is not one:
    ASCII digits only (no sign, no '²'), from 1 to MAX_USER_ID."""
    if not _USER_ID.fullmatch(text):
        return None
    user_id = int(text)
    return user_id if 1 <= user_id <= MAX_USER_ID else None


class OrganiserChange(enum.StrEnum):
    ADDED = "added"
    ALREADY = "already"
    REMOVED = "removed"
    NOT_ORGANISER = "not_organiser"
    CONFIGURED = "configured"  # named in ORGANISER_IDS: only the operator can change that


async def is_organiser(session: AsyncSession, *, user_id: int, configured: frozenset[int]) -> bool:
    if user_id in configured:
        return True
    return await session.get(Organiser, user_id) is not None


async def add_organiser(session: AsyncSession, *, user_id: int, added_by: int,
                        configured: frozenset[int]) -> OrganiserChange:
    if user_id in configured or await session.get(Organiser, user_id) is not None:
        return OrganiserChange.ALREADY
    session.add(Organiser(user_id=user_id, added_by=added_by))
    await session.merge(OrganiserMenu(user_id=user_id))
    await session.flush()
    return OrganiserChange.ADDED


async def remove_organiser(session: AsyncSession, *, user_id: int, configured: frozenset[int]) -> OrganiserChange:
    if user_id in configured:
        return OrganiserChange.CONFIGURED
    organiser = await session.get(Organiser, user_id)
    if organiser is None:
        return OrganiserChange.NOT_ORGANISER
    await session.delete(organiser)
    await session.execute(delete(OrganiserMenu).where(OrganiserMenu.user_id == user_id))
    return OrganiserChange.REMOVED


async def all_organiser_ids(session: AsyncSession, *, configured: frozenset[int]) -> list[int]:
    stored = set(await session.scalars(select(Organiser.user_id)))
    return sorted(stored | configured)


async def forget_organiser(session: AsyncSession, *, user_id: int) -> bool:
    """The person asked to be forgotten: they stop being an organiser added in Telegram, and the
    rows that name them as who added an organiser or created a broadcast no longer do (the
    organisers and broadcasts themselves stay). Returns whether they were an organiser here.

    Someone named in ORGANISER_IDS stays an organiser (keeping the organisers' command menu):
    only the operator can change the setting.
    """
    removed = await session.execute(delete(Organiser).where(Organiser.user_id == user_id))
    # Even for someone in ORGANISER_IDS no row about them stays; the next start-up records the
    # menu of those the setting still names again.
    await session.execute(delete(OrganiserMenu).where(OrganiserMenu.user_id == user_id))
    await session.execute(update(Organiser).where(Organiser.added_by == user_id).values(added_by=None))
    await session.execute(update(Broadcast).where(Broadcast.created_by == user_id).values(created_by=None))
    return bool(removed.rowcount)


@dataclasses.dataclass(frozen=True)
class MenuChanges:
    """Whose private chat gets the organisers' command menu, and whose loses it."""

    show: list[int]
    hide: list[int]


async def settle_organiser_menus(session: AsyncSession, *, configured: frozenset[int]) -> MenuChanges:
    """At start-up: every organiser (ORGANISER_IDS and those added in Telegram) is to be shown the
    organisers' menu, again, since its text may have changed; everyone given it before who is no
    longer an organiser is to lose it. Records the new state."""
    organiser_ids = set(await all_organiser_ids(session, configured=configured))
    given = set(await session.scalars(select(OrganiserMenu.user_id)))
    hide = sorted(given - organiser_ids)
    if hide:
        await session.execute(delete(OrganiserMenu).where(OrganiserMenu.user_id.in_(hide)))
    for user_id in sorted(organiser_ids - given):
        session.add(OrganiserMenu(user_id=user_id))
    await session.flush()
    return MenuChanges(show=sorted(organiser_ids), hide=hide)


async def has_organiser_menu(session: AsyncSession, *, user_id: int) -> bool:
    """Whether the bot gave `user_id`'s private chat the organisers' command menu (for /mydata)."""
    return await session.get(OrganiserMenu, user_id) is not None
