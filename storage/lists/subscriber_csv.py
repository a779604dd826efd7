"""Subscribers in and out as CSV, for the operator at the terminal (`campaign-bot import` and
`export`): the only place where who is on a list leaves the database."""

from __future__ import annotations

import csv
import dataclasses
import io

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.lists.models import Chat, ChatKind, MailingList, Subscription
from storage.lists.subscriptions import JoinOutcome, join_list


@dataclasses.dataclass(frozen=True)
class CsvProblem:
    line: int
    message: str


class SubscriberImportError(ValueError):
    def __init__(self, problems: list[CsvProblem]) -> None:
        super().__init__("; ".join(f"line {p.line}: {p.message}" for p in problems))
        self.problems = problems


def parse_subscriber_csv(text: str) -> list[int]:
    """Chat ids, one a row (a header row `chat_id` is allowed). Raises SubscriberImportError,
    and only that, reporting every bad row."""
    ids: list[int] = []
    problems: list[CsvProblem] = []
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as error:
        # A file the csv module cannot read at all (a cell past its size limit): nothing is imported.
        raise SubscriberImportError([CsvProblem(reader.line_num, f"not readable as CSV ({error})")]) from None
    for line_number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if line_number == 1 and cells[0].lower() in {"chat_id", "telegram_id", "id"}:
            continue
        if len(cells) != 1:
            problems.append(CsvProblem(line_number, f"expected one chat id, found {len(cells)} cells"))
            continue
        try:
            chat_id = int(cells[0])
        except ValueError:
            problems.append(CsvProblem(line_number, f"{cells[0][:40]!r} is not a Telegram chat id"))
            continue
        if chat_id == 0 or abs(chat_id) >= 10**15:
            problems.append(CsvProblem(line_number, f"{chat_id} is out of range for a Telegram chat id"))
            continue
        ids.append(chat_id)
    if problems:
        raise SubscriberImportError(problems)
    return ids


async def import_subscribers(session: AsyncSession, *, chat_ids: list[int], mailing_list: MailingList) -> int:
    """Subscribes every chat id; returns how many were new to the list."""
    joined = 0
    for chat_id in dict.fromkeys(chat_ids):
        kind = ChatKind.PRIVATE if chat_id > 0 else ChatKind.GROUP
        if await join_list(session, telegram_id=chat_id, kind=kind, mailing_list=mailing_list) is JoinOutcome.JOINED:
            joined += 1
    return joined


async def export_subscribers(session: AsyncSession, *,
                             mailing_list: MailingList | None = None) -> list[tuple[int, str]]:
    """(chat id, list slug) of every active subscription, for the operator's terminal only."""
    query = (
        select(Chat.telegram_id, MailingList.slug)
        .join(Subscription, Subscription.chat_id == Chat.id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Chat.active.is_(True))
        .order_by(MailingList.slug, Chat.telegram_id)
    )
    if mailing_list is not None:
        query = query.where(MailingList.id == mailing_list.id)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]
