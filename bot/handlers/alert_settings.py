"""A chat's own say over its alerts: /quiet (quiet hours, when alerts arrive silently) and /pause
(a break from ordinary alerts), each with buttons for the common choices."""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import ContextTypes

from bot.handlers.callback_data import PauseChoice, QuietChoice
from bot.handlers.common import argument_text, chat_kind
from bot.services import services_of
from bot.telegram_io.replies import Keyboard, edit_or_reply, label, reply
from storage.lists import alert_settings
from storage.lists.alert_settings import MAX_PAUSE_DAYS, AlertSettings, QuietHours, QuietHoursProblem

# The common choices offered as buttons under /quiet, besides "off" and the bot's default.
COMMON_QUIET_HOURS = ("21:00-08:00", "22:00-07:30", "23:00-07:00")
PAUSE_DAYS = ("1", "7", "30")
_DAYS = re.compile(r"^(\d{1,3})\s*(?:d|days?)?$", re.IGNORECASE)


def _quiet_buttons() -> Keyboard:
    spans = [QuietHours.parse(text) for text in COMMON_QUIET_HOURS]
    return [[(str(hours), QuietChoice.build(hours.code)) for hours in spans],
            [(label("quiet_off"), QuietChoice.build("off")), (label("quiet_default"), QuietChoice.build("default"))]]


def _pause_buttons(paused: bool) -> Keyboard:
    rows = [[(label("pause_days", days=int(days)), PauseChoice.build(days)) for days in PAUSE_DAYS]]
    if paused:
        rows.append([(label("pause_end"), PauseChoice.build("off"))])
    return rows


async def _show_quiet(update: Update, context: ContextTypes.DEFAULT_TYPE, chosen: AlertSettings, *,
                      changed: bool) -> None:
    services = services_of(context)
    policy = services.settings.quiet_policy
    await edit_or_reply(update, "quiet.html", own=chosen.quiet_hours is not None,
                        hours=policy.hours_of(chosen.quiet_hours), default=policy.default,
                        timezone=services.settings.timezone, changed=changed, buttons=_quiet_buttons())


async def _set_quiet(update: Update, context: ContextTypes.DEFAULT_TYPE, hours: QuietHours | None | str) -> None:
    services = services_of(context)
    async with services.db.transaction() as session:
        chosen = await alert_settings.set_quiet_hours(session, telegram_id=update.effective_chat.id,
                                                      kind=chat_kind(update), hours=hours, now=services.clock.now())
    await _show_quiet(update, context, chosen, changed=True)


async def quiet_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/quiet shows the chat's quiet hours; /quiet 22:00-07:30, /quiet off, /quiet default set them."""
    typed = argument_text(context)[:64]
    if not typed:
        async with services_of(context).db.transaction() as session:
            chosen = await alert_settings.alert_settings(session, telegram_id=update.effective_chat.id)
        await _show_quiet(update, context, chosen, changed=False)
        return
    try:
        hours = alert_settings.quiet_choice(typed)
    except QuietHoursProblem as problem:
        await reply(update, "quiet_bad.html", text=typed, problem=problem)
        return
    await _set_quiet(update, context, hours)


async def quiet_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button under /quiet."""
    await update.callback_query.answer()
    choice = QuietChoice.parse(update.callback_query.data).choice
    await _set_quiet(update, context, alert_settings.quiet_choice(choice))


async def _set_pause(update: Update, context: ContextTypes.DEFAULT_TYPE, days: int | None) -> None:
    services = services_of(context)
    async with services.db.transaction() as session:
        chosen = await alert_settings.pause_alerts(session, telegram_id=update.effective_chat.id,
                                                   kind=chat_kind(update), days=days, now=services.clock.now())
    await _show_pause(update, context, chosen, changed=True)


async def _show_pause(update: Update, context: ContextTypes.DEFAULT_TYPE, chosen: AlertSettings, *,
                      changed: bool) -> None:
    services = services_of(context)
    paused = chosen.paused_at(services.clock.now())
    await edit_or_reply(update, "pause.html", until=chosen.paused_until if paused else None,
                        tz=services.settings.tz, changed=changed, buttons=_pause_buttons(paused))


async def pause_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/pause shows the pause; /pause 7 holds ordinary alerts for 7 days; /pause off ends it."""
    typed = argument_text(context)[:64]
    if not typed:
        async with services_of(context).db.transaction() as session:
            chosen = await alert_settings.alert_settings(session, telegram_id=update.effective_chat.id)
        await _show_pause(update, context, chosen, changed=False)
        return
    if typed.lower() in ("off", "end", "stop"):
        await _set_pause(update, context, None)
        return
    match = _DAYS.match(typed)
    if match is None or not 1 <= int(match[1]) <= MAX_PAUSE_DAYS:
        await reply(update, "pause_bad.html", text=typed, most=MAX_PAUSE_DAYS)
        return
    await _set_pause(update, context, int(match[1]))


async def pause_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button under /pause."""
    await update.callback_query.answer()
    days = PauseChoice.parse(update.callback_query.data).days
    await _set_pause(update, context, None if days == "off" else int(days))
