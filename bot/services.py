"""What every handler needs, built once at start-up and kept in `application.bot_data`."""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from typing import TYPE_CHECKING

from telegram.ext import CallbackContext

from bot.settings import Settings
from storage.clock import Clock
from storage.db import Database

if TYPE_CHECKING:
    from bot.engines.broadcaster import Broadcaster
    from bot.engines.reminders import ReminderScheduler
    from bot.engines.retention import RetentionSweeper
    from bot.engines.statistics import StatsService


@dataclasses.dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    # The broadcast engine, set at start-up (bot.engines.broadcaster.start_broadcasting); None until then.
    broadcaster: Broadcaster | None = None
    # This process among all that share the database: it names the process's leases and claims.
    process_name: str = dataclasses.field(default_factory=lambda: new_process_name())
    # The reminder scheduler, set at start-up (bot.engines.reminders.start_reminders); None until then.
    reminders: ReminderScheduler | None = None
    # The /stats desk and per-person limits, set at start-up (bot.engines.statistics.start_stats); None until then.
    stats: StatsService | None = None
    # The retention sweep, set at start-up (bot.engines.retention.start_retention); None until then.
    retention: RetentionSweeper | None = None


def new_process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def services_of(context: CallbackContext) -> Services:
    return context.application.bot_data["services"]
