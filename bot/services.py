"""What every handler needs, kept in `application.bot_data["services"]`.

The caller gives the settings, the database and the clock; `bot.app.build_application` then
builds every engine on them, once, before the Application can run a handler or a job, so a
handler finds each one there and never checks for a missing one. The engines take their parts
(database, clock, job queue, a `wake` callable) as arguments and never see this object.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid

from telegram.ext import CallbackContext

from bot.engines.broadcaster import Broadcaster
from bot.engines.reminders import ReminderScheduler
from bot.engines.retention import RetentionSweeper
from bot.engines.statistics import StatsService
from bot.settings import Settings
from storage.clock import Clock
from storage.db import Database
from storage.events.offers import Offering


@dataclasses.dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    # This process among all that share the database: it names the process's leases and claims.
    process_name: str = dataclasses.field(default_factory=lambda: new_process_name())
    # The engines, built by bot.app.build_application (they need the Application's job queue and
    # bot); started in on_startup and stopped in on_shutdown, in the order written there.
    broadcaster: Broadcaster = dataclasses.field(init=False)
    reminders: ReminderScheduler = dataclasses.field(init=False)
    retention: RetentionSweeper = dataclasses.field(init=False)
    stats: StatsService = dataclasses.field(init=False)
    # How places freed on a full event are offered to the waiting list (PLACE_OFFER_HOURS).
    offering: Offering = dataclasses.field(init=False)


def new_process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def services_of(context: CallbackContext) -> Services:
    return context.application.bot_data["services"]
