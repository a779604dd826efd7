"""What every handler needs, built once at start-up and kept in `application.bot_data`."""

from __future__ import annotations

import dataclasses

from telegram.ext import CallbackContext

from bot.settings import Settings
from storage.clock import Clock
from storage.db import Database


@dataclasses.dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock


def services_of(context: CallbackContext) -> Services:
    return context.application.bot_data["services"]
