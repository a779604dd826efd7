"""An alert in several languages: the versions of a broadcast, and which one each recipient gets.

A version is the same alert in another language (`BroadcastVersion`). Organisers add them to a
draft at the preview; reminders and event notices get one per language the bot speaks. Which
version a recipient gets is decided once, when its delivery is queued: the version in its chat's
language (`Chat.language`), else the original, and the choice is stamped on the delivery row
(`Delivery.language`). So it is a pure function of stored data: a send resumed after a kill, or
by another process, picks the same version, and the engine only chooses among texts it composed
once per broadcast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.tables import Broadcast, BroadcastVersion, Delivery


@dataclasses.dataclass(frozen=True)
class LocalisedText:
    """A text in the bot's source language (the original) and in other languages (the versions),
    as a reminder or a notice is rendered once per language; `buttons` the notice's inline
    buttons (JSON, as `Broadcast.buttons`) per language, when their labels differ."""

    original: str
    versions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    buttons: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def texts(self) -> tuple[str, ...]:
        return (self.original, *self.versions.values())


@dataclasses.dataclass(frozen=True)
class Version:
    """One version as the engine composes it."""

    language: str
    text: str
    buttons: str | None = None  # None: the broadcast's own buttons


def as_localised(text: str | LocalisedText) -> LocalisedText:
    return text if isinstance(text, LocalisedText) else LocalisedText(text)


@dataclasses.dataclass(frozen=True)
class LanguageCount:
    language: str | None  # None: the original
    sent: int


async def add_versions(session: AsyncSession, *, broadcast_id: int, versions: Mapping[str, str],
                       buttons: Mapping[str, str] | None = None) -> None:
    """Stores versions of a broadcast being created (before its deliveries are queued)."""
    for language, text in versions.items():
        session.add(BroadcastVersion(broadcast_id=broadcast_id, language=language, text=text,
                                     buttons=(buttons or {}).get(language)))
    await session.flush()


async def versions_of(session: AsyncSession, *, broadcast_id: int) -> dict[str, str]:
    """Language -> text of each version, by language code (the original is not among them)."""
    rows = await session.execute(
        select(BroadcastVersion.language, BroadcastVersion.text)
        .where(BroadcastVersion.broadcast_id == broadcast_id).order_by(BroadcastVersion.language))
    return dict(rows.all())


async def versions_to_send(session: AsyncSession, *, broadcast_id: int) -> list[Version]:
    """Every version of the broadcast with its buttons, by language code, for the engine."""
    rows = await session.execute(
        select(BroadcastVersion.language, BroadcastVersion.text, BroadcastVersion.buttons)
        .where(BroadcastVersion.broadcast_id == broadcast_id).order_by(BroadcastVersion.language))
    return [Version(*row) for row in rows.all()]


async def sent_by_language(session: AsyncSession, *, broadcast_id: int) -> list[LanguageCount]:
    """How many were sent in each version, the original first; empty when there are no versions
    (from the counters, so the figures outlive the delivery rows)."""
    rows = (await session.execute(
        select(BroadcastVersion.language, BroadcastVersion.sent_count)
        .where(BroadcastVersion.broadcast_id == broadcast_id).order_by(BroadcastVersion.language))).all()
    if not rows:
        return []
    total = await session.scalar(select(Broadcast.sent_count).where(Broadcast.id == broadcast_id)) or 0
    in_versions = sum(count for _language, count in rows)
    return [LanguageCount(None, max(0, total - in_versions)),
            *[LanguageCount(language, count) for language, count in rows]]


async def count_version_sends(session: AsyncSession, broadcast_id: int, added: Mapping[str, int]) -> None:
    """Adds sends recorded in each version to its counter (in the batch's transaction)."""
    table = BroadcastVersion.__table__
    for language, count in added.items():
        if count:
            await session.execute(
                table.update().where(table.c.broadcast_id == broadcast_id, table.c.language == language)
                .values(sent_count=table.c.sent_count + count))


async def languages_queued(session: AsyncSession, *, broadcast_id: int) -> dict[str | None, int]:
    """Deliveries by the version they were queued in (for checks and tests)."""
    rows = await session.execute(select(Delivery.language, func.count())
                                 .where(Delivery.broadcast_id == broadcast_id).group_by(Delivery.language))
    return dict(rows.all())
