"""The broadcast engine as one process among several of one bot on one database: at start-up it
takes its share of the sending rate (the others learn of it at their next lease renewal, in
bot/engines/leadership.py), and at shutdown it finishes and records what it has in flight."""

from __future__ import annotations

import datetime as dt

from bot.engines.broadcaster import Broadcaster
from bot.engines.leadership import RENEW_EVERY
from bot.telegram_io.sending import TelegramSender
from storage.leases import live_workers


async def start_broadcasting(broadcaster: Broadcaster) -> None:
    """Called from `on_startup`: connects the sender, takes this process's part of the rate, starts."""
    sender = broadcaster.sender
    if isinstance(sender, TelegramSender):
        await sender.bot.initialize()
    async with broadcaster.db.transaction() as session:
        others = len(await live_workers(session, now=dt.datetime.now(dt.UTC)) - {broadcaster.claimer})
    if others and isinstance(sender, TelegramSender):
        # The processes already sending learn of this one at their next lease renewal; until
        # then their shares still add up to the whole rate, so this one waits that long.
        broadcaster.share_rate_with(others + 1)
        sender.throttle.hold(RENEW_EVERY + 1.0)
    broadcaster.start()


async def stop_broadcasting(broadcaster: Broadcaster) -> None:
    """Called from `on_shutdown`, before the database closes: sends in flight finish and are recorded."""
    await broadcaster.stop()
    if isinstance(broadcaster.sender, TelegramSender):
        await broadcaster.sender.bot.shutdown()
