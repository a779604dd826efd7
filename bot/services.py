"""What every handler needs, kept in `application.bot_data["services"]`.

`bot.app.build_application` makes it once, whole, from the settings, the database and the clock
the caller gives and the engines it builds on them, before the Application can run a handler or a
job: a handler finds every part there and never checks for a missing one. The engines take their
parts (database, clock, job queue, a `wake` callable) as arguments and never see this object.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid

from telegram.ext import Application, CallbackContext

from bot.engines.broadcaster import Broadcaster
from bot.engines.reminders import ReminderScheduler
from bot.engines.retention import RetentionSweeper
from bot.engines.statistics import StatsService
from bot.settings import Settings
from storage.clock import Clock
from storage.db import Database
from storage.events.offers import Offering
from storage.lists.languages import ChatLanguages


@dataclasses.dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    # This process among all that share the database: it names the process's leases and claims.
    process_name: str
    # The engines, started in on_startup and stopped in on_shutdown, in the order written there.
    broadcaster: Broadcaster
    reminders: ReminderScheduler
    retention: RetentionSweeper
    stats: StatsService
    # How places freed on a full event are offered to the waiting list (PLACE_OFFER_HOURS).
    offering: Offering
    # Each chat's stored language, cached in this process (storage/lists/languages.py).
    languages: ChatLanguages


def new_process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def services_in(application: Application) -> Services:
    return application.bot_data["services"]


def services_of(context: CallbackContext) -> Services:
    return services_in(context.application)
