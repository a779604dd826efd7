"""Broadcasts that wait for an organiser's decision: one too big for one organiser alone (FOR_APPROVAL,
until a second organiser approves or rejects it) and one the bot could not start in time (OVERDUE,
until an organiser sends or drops it).

Each organiser asked is sent a review: what it is and why it waits, and its exact preview with
the buttons that decide it, queued as notices (`notices.py`) in the transaction that made it
wait, so a kill loses none. The first decision wins: every change is conditional on the status.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.listings import list_to_broadcast_to
from storage.broadcasts.notices import record_notice
from storage.broadcasts.status import BroadcastError, BroadcastProblemKind, begin_sending, change_broadcast
from storage.broadcasts.tables import Broadcast, BroadcastStatus, get_broadcast


@dataclasses.dataclass(frozen=True)
class Review:
    """What one organiser is sent about a waiting broadcast: `about` (Telegram HTML) and the
    preview (text or caption, with its media) with `buttons` (rows of (label, callback_data))."""

    about: str
    preview_text: str
    media_kind: str | None
    media_file_id: str | None
    buttons: list[list[tuple[str, str]]]


class OwnBroadcast(BroadcastError):
    """An organiser pressed Approve under their own broadcast."""

    def __init__(self) -> None:
        super().__init__(BroadcastProblemKind.OWN_BROADCAST)


async def record_review(session: AsyncSession, *, broadcast: Broadcast, review: Review, telegram_ids: list[int],
                        now: dt.datetime) -> int:
    """Queues the review to each organiser in `telegram_ids`; returns how many were queued."""
    buttons = json.dumps([[list(button) for button in row] for row in review.buttons])
    queued = 0
    for telegram_id in telegram_ids:
        await record_notice(session, list_id=broadcast.list_id, telegram_id=telegram_id, text=review.about, now=now)
        await record_notice(session, list_id=broadcast.list_id, telegram_id=telegram_id, text=review.preview_text,
                            media_kind=broadcast.media_kind, media_file_id=broadcast.media_file_id,
                            buttons=buttons, now=now)
        queued += 1
    return queued


async def recipients_needing_approval(session: AsyncSession, *, broadcast_id: int, above: int) -> int | None:
    """How many the draft would reach now, if that is more than `above` (0: approval is off);
    None when one organiser may send it alone."""
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if not above or broadcast is None:
        return None
    choice = await list_to_broadcast_to(session, list_id=broadcast.list_id)
    return choice.subscribers if choice is not None and choice.subscribers > above else None


async def submit_for_approval(session: AsyncSession, *, broadcast_id: int, send_at: dt.datetime | None) -> Broadcast:
    """A draft waits FOR_APPROVAL, to be sent at `send_at` (None: as soon as it is approved).
    Raises BroadcastError if it is no longer a draft."""
    if not await change_broadcast(session, broadcast_id=broadcast_id, action="submit"):
        raise BroadcastError(BroadcastProblemKind.NOT_A_DRAFT)
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    await session.refresh(broadcast)
    broadcast.send_at = send_at
    await session.flush()
    return broadcast


async def approve_broadcast(session: AsyncSession, *, broadcast_id: int, approver: int,
                            now: dt.datetime) -> Broadcast:
    """The second organiser's approval: it is scheduled for its time if that is still to come,
    and sends now otherwise (its time passed while it waited: the approver has just read it, so
    it is not stale the way an overdue one may be). Raises OwnBroadcast for its author,
    BroadcastError if it no longer waits."""
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.state is not BroadcastStatus.FOR_APPROVAL:
        raise BroadcastError(BroadcastProblemKind.NO_LONGER_WAITING)
    if broadcast.created_by == approver:
        raise OwnBroadcast()
    broadcast.approved_by = approver
    if broadcast.send_at is not None and broadcast.send_at > now:
        scheduled = await session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id,
                                    Broadcast.status == BroadcastStatus.FOR_APPROVAL.value)
            .values(status=BroadcastStatus.SCHEDULED.value, approved_by=approver)
        )
        if scheduled.rowcount != 1:
            raise BroadcastError(BroadcastProblemKind.NO_LONGER_WAITING)
        await session.refresh(broadcast)
    elif not await begin_sending(session, broadcast, now=now):
        raise BroadcastError(BroadcastProblemKind.NO_LONGER_WAITING)
    await session.flush()
    return broadcast


async def reject_broadcast(session: AsyncSession, *, broadcast_id: int, now: dt.datetime) -> Broadcast:
    """Rejected: cancelled, never sent. Raises BroadcastError if it no longer waits."""
    if not await change_broadcast(session, broadcast_id=broadcast_id, action="reject", now=now):
        raise BroadcastError(BroadcastProblemKind.NO_LONGER_WAITING)
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    await session.refresh(broadcast)
    return broadcast


async def decide_overdue(session: AsyncSession, *, broadcast_id: int, send: bool, now: dt.datetime) -> Broadcast:
    """Send now or Drop under an overdue broadcast's preview. Raises BroadcastError if it is no
    longer overdue (another organiser decided first)."""
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.state is not BroadcastStatus.OVERDUE:
        raise BroadcastError(BroadcastProblemKind.NO_LONGER_WAITING)
    if send:
        if not await begin_sending(session, broadcast, now=now):
            raise BroadcastError(BroadcastProblemKind.NO_LONGER_WAITING)
    elif not await change_broadcast(session, broadcast_id=broadcast_id, action="cancel", now=now):
        raise BroadcastError(BroadcastProblemKind.NO_LONGER_WAITING)
    else:
        await session.refresh(broadcast)
    await session.flush()
    return broadcast
