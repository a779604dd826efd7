"""What every handler needs, built once at start-up and kept in `application.bot_data`."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from telegram.ext import CallbackContext

from bot.settings import Settings
from storage.clock import Clock
from storage.db import Database

if TYPE_CHECKING:
    from bot.broadcaster import Broadcaster
    from bot.reminders import ReminderScheduler
    from bot.stats_service import StatsService


@dataclasses.dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    # The broadcast engine, set at start-up (bot.broadcaster.start_broadcasting); None until then.
    broadcaster: Broadcaster | None = None
    # The reminder scheduler, set at start-up (bot.reminders.start_reminders); None until then.
    reminders: ReminderScheduler | None = None
    # The /stats desk and per-person limits, set at start-up (bot.stats_service.start_stats); None until then.
    stats: StatsService | None = None


def services_of(context: CallbackContext) -> Services:
    return context.application.bot_data["services"]
