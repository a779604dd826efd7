"""Broadcasts that wait for an organiser: the second pair of eyes (a broadcast to more than
APPROVAL_ABOVE recipients waits until another organiser approves it) and overdue ones (the bot
was down when they were due; an organiser sends or drops them).

What organisers are sent is a review (`storage.broadcasts.reviews`): what it is and why it waits,
and its exact preview with the buttons. Those buttons are declared organisers-only in `bot.app`,
so the guard checks the presser's role afresh at each press; the author's role is checked here
at approval, since someone removed since writing it should not have it sent.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import ContextTypes

import messages
from bot.engines.composing import compose_message
from bot.handlers.callback_data import BroadcastReviewAnswer
from bot.services import services_of
from bot.telegram_io.replies import reply
from messages import i18n
from storage.broadcasts import reviews
from storage.broadcasts.listings import BroadcastSummary, broadcast_summary
from storage.broadcasts.notices import record_notice
from storage.broadcasts.reviews import OwnBroadcast, Review
from storage.broadcasts.status import BroadcastError
from storage.broadcasts.tables import Broadcast
from storage.lists import organisers
from storage.lists.models import MailingList

# Reviews and their outcomes go to other organisers than the one whose update is answered, one
# text for all of them: in the source language, not the presser's, until notices are rendered per
# recipient. Answers to the presser go through `reply`, in their own language.
render = functools.partial(messages.render, language=i18n.SOURCE_LANGUAGE)
label = functools.partial(messages.label, language=i18n.SOURCE_LANGUAGE)


def _review(about: str, broadcast: Broadcast, mailing_list: MailingList, buttons, *,
            support_pointer: bool = False) -> Review:
    # The exact preview: with the /support line under it when SUPPORT_POINTER_UNDER_ALERTS is on.
    preview = compose_message(text=broadcast.text, media_kind=broadcast.media_kind,
                              media_file_id=broadcast.media_file_id, mailing_list=mailing_list,
                              support_pointer=support_pointer)
    return Review(about, preview.text, broadcast.media_kind, broadcast.media_file_id, buttons)


def overdue_reviewer(*, tz: ZoneInfo, overdue_after: dt.timedelta, now: Callable[[], dt.datetime],
                     support_pointer: bool = False) -> Callable[[BroadcastSummary, Broadcast, MailingList], Review]:
    """What organisers are sent about an overdue broadcast (the engine is given this)."""
    def review(summary: BroadcastSummary, broadcast: Broadcast, mailing_list: MailingList) -> Review:
        about = render("broadcast_overdue.html", broadcast=summary, now=now(), tz=tz,
                       minutes=int(overdue_after.total_seconds() // 60))
        buttons = [[(label("review_send", id=summary.id), BroadcastReviewAnswer.build("send", summary.id)),
                    (label("review_drop", id=summary.id), BroadcastReviewAnswer.build("drop", summary.id))]]
        return _review(about, broadcast, mailing_list, buttons, support_pointer=support_pointer)

    return review


def approval_review(summary: BroadcastSummary, broadcast: Broadcast, mailing_list: MailingList, *, count: int,
                    above: int, tz: ZoneInfo, support_pointer: bool = False) -> Review:
    about = render("broadcast_for_approval.html", broadcast=summary, count=count, above=above, tz=tz)
    approve = label("review_approve", id=summary.id, count=count)
    buttons = [[(approve, BroadcastReviewAnswer.build("approve", summary.id)),
                (label("review_reject", id=summary.id), BroadcastReviewAnswer.build("reject", summary.id))]]
    return _review(about, broadcast, mailing_list, buttons, support_pointer=support_pointer)


async def submit_for_approval(update: Update, context: ContextTypes.DEFAULT_TYPE, *, broadcast_id: int,
                              send_at: dt.datetime | None, count: int) -> None:
    """The author asked to send or schedule a broadcast too big for one organiser: it waits, and
    every other organiser is sent its review. With no other organiser it stays a draft."""
    services = services_of(context)
    settings = services.settings
    author = update.effective_user.id
    try:
        async with services.db.transaction() as session:
            others = [user_id for user_id in await organisers.all_organiser_ids(
                session, configured=settings.organiser_ids) if user_id != author]
            if others:
                broadcast = await reviews.submit_for_approval(session, broadcast_id=broadcast_id, send_at=send_at)
                summary = await broadcast_summary(session, broadcast_id=broadcast_id)
                mailing_list = await session.get(MailingList, broadcast.list_id)
                review = approval_review(summary, broadcast, mailing_list, count=count,
                                         above=settings.approval_above, tz=settings.tz,
                                         support_pointer=settings.support_pointer_under_alerts)
                await reviews.record_review(session, broadcast=broadcast, review=review, telegram_ids=others,
                                            now=services.clock.now())
    except BroadcastError:  # answered already, from another message
        await reply(update, "broadcast_no_longer_waiting.html", broadcast_id=broadcast_id)
        return
    if not others:
        await reply(update, "broadcast_no_approver.html", broadcast_id=broadcast_id, count=count,
                    above=settings.approval_above)
        return
    services.broadcaster.wake()
    await reply(update, "broadcast_submitted.html", broadcast=summary, count=count, above=settings.approval_above,
                asked=len(others), tz=settings.tz)


async def _decide(update: Update, context: ContextTypes.DEFAULT_TYPE, pressed: BroadcastReviewAnswer) -> str:
    """Applies the press and tells the author of an approval or a rejection; returns the outcome."""
    services = services_of(context)
    settings = services.settings
    presser = update.effective_user.id
    now = services.clock.now()
    async with services.db.transaction() as session:
        if pressed.answer in ("send", "drop"):
            await reviews.decide_overdue(session, broadcast_id=pressed.broadcast_id, send=pressed.answer == "send",
                                         now=now)
            return pressed.answer
        summary = await broadcast_summary(session, broadcast_id=pressed.broadcast_id)
        if pressed.answer == "approve" and summary is not None and summary.created_by is not None and not (
                await organisers.is_organiser(session, user_id=summary.created_by,
                                              configured=settings.organiser_ids)):
            return "author_gone"
        if pressed.answer == "approve":
            broadcast = await reviews.approve_broadcast(session, broadcast_id=pressed.broadcast_id, approver=presser,
                                                        now=now)
        else:
            broadcast = await reviews.reject_broadcast(session, broadcast_id=pressed.broadcast_id, now=now)
        outcome = pressed.answer if broadcast.send_at is None or broadcast.send_at <= now else f"{pressed.answer}_later"
        if broadcast.created_by is not None and broadcast.created_by != presser:
            summary = await broadcast_summary(session, broadcast_id=pressed.broadcast_id)
            await record_notice(session, list_id=broadcast.list_id, telegram_id=broadcast.created_by, now=now,
                                text=render("broadcast_review_outcome.html", broadcast=summary, outcome=outcome,
                                            by=presser, tz=settings.tz))
        return outcome


async def review_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Approve, Reject, Send now or Drop under a review's preview (a new message answers it: the
    preview may be a photo, whose text cannot be replaced)."""
    query = update.callback_query
    await query.answer()
    pressed = BroadcastReviewAnswer.parse(query.data)
    services = services_of(context)
    try:
        outcome = await _decide(update, context, pressed)
    except OwnBroadcast:
        outcome = "own"
    except BroadcastError:
        outcome = "decided"
    services.broadcaster.wake()
    async with services.db.transaction() as session:
        summary = await broadcast_summary(session, broadcast_id=pressed.broadcast_id)
    await reply(update, "broadcast_decided.html", outcome=outcome, broadcast_id=pressed.broadcast_id,
                broadcast=summary, tz=services.settings.tz)
