"""What the events domain refuses, as exceptions the bot and the CLI answer."""

from __future__ import annotations


class InvalidEventError(ValueError):
    """An event that cannot be published as given; the message says why."""


class NoticeNotComposable(InvalidEventError):
    """A change people must hear about was refused, changing nothing, because its notice could
    not be composed from the event as stored (an over-long field, most likely); the message says why."""
