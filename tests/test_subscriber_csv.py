"""Subscribers in and out in bulk: a whole file joins a list as if each chat had pressed Join,
and a file with any bad row is refused with every bad row named by its line."""

from __future__ import annotations

import datetime as dt

import pytest

from storage.import_problems import ImportRefused
from storage.lists import subscriber_csv
from storage.lists.chats import mark_chat_unreachable
from storage.lists.mailing_lists import get_list_by_slug
from storage.lists.subscriber_csv import export_subscribers, import_subscribers, parse_subscriber_csv
from tests.builders import chat_row, make_list, slugs_of, subscribe
from tests.conftest import invoke
from tests.template_samples import import_problem_words

NOW = dt.datetime(2018, 3, 1, 12, 0, tzinfo=dt.UTC)


async def import_ids(db, chat_ids: list[int], slug: str) -> int:
    async with db.transaction() as session:
        mailing_list = await get_list_by_slug(session, slug=slug)
        return await import_subscribers(session, chat_ids=chat_ids, mailing_list=mailing_list, now=NOW)


async def exported(db, slug: str | None = None) -> list[tuple[int, str]]:
    async with db.transaction() as session:
        mailing_list = None if slug is None else await get_list_by_slug(session, slug=slug)
        return [row async for row in export_subscribers(session, mailing_list=mailing_list)]


async def test_an_import_joins_like_the_button_does_across_several_batches(database, monkeypatch):
    monkeypatch.setattr(subscriber_csv, "IMPORT_BATCH", 3)
    await make_list(database, "protests", "Protests")
    await make_list(database, "groups", "Groups")
    await subscribe(database, 1001, "protests")  # on the list already: not counted again
    await subscribe(database, 1002, "groups")  # known, on another list
    await subscribe(database, 1003, "groups")
    async with database.transaction() as session:
        await mark_chat_unreachable(session, telegram_id=1003, now=NOW)  # blocked us once: writable again
    ids = [1001, 1002, 1003, 1004, -100500, 1004, 1005, 1006]

    assert await import_ids(database, ids, "protests") == 6
    assert await import_ids(database, ids, "protests") == 0

    assert await slugs_of(database, 1002) == ["groups", "protests"]
    assert await slugs_of(database, 1003) == ["protests"]
    reactivated, group, new = (await chat_row(database, 1003), await chat_row(database, -100500),
                               await chat_row(database, 1006))
    assert reactivated.active and reactivated.left_at is None
    assert (group.kind, new.kind) == ("group", "private")
    assert new.active and new.left_at is None and new.first_seen_at == NOW
    assert [chat_id for chat_id, _ in await exported(database, "protests")] == [
        -100500, 1001, 1002, 1003, 1004, 1005, 1006]


async def test_an_export_streams_every_active_subscription_in_order(database, monkeypatch):
    monkeypatch.setattr(subscriber_csv, "EXPORT_BATCH", 2)
    await make_list(database, "protests", "Protests")
    await make_list(database, "groups", "Groups")
    await import_ids(database, [5, 3, 1, 4, 2], "protests")
    await import_ids(database, [2, 9], "groups")
    async with database.transaction() as session:
        await mark_chat_unreachable(session, telegram_id=4, now=NOW)
    assert await exported(database) == [(2, "groups"), (9, "groups"), (1, "protests"), (2, "protests"),
                                        (3, "protests"), (5, "protests")]
    assert await exported(database, "groups") == [(2, "groups"), (9, "groups")]


def test_every_bad_row_of_a_large_file_is_reported_by_its_line():
    lines = ["chat_id", *(str(1_000_000 + n) for n in range(100_000))]
    lines[25_000] = "not-a-number"
    lines[50_000] = "1,2"
    lines[99_999] = "0"
    lines[100_000] = str(10**15)
    with pytest.raises(ImportRefused) as refused:
        parse_subscriber_csv("\n".join(lines) + "\n")
    assert [(problem.line, import_problem_words(problem)) for problem in refused.value.problems] == [
        (25_001, "'not-a-number' is not a Telegram chat id"),
        (50_001, "expected one chat id, found 2 cells"),
        (100_000, "0 is out of range for a Telegram chat id"),
        (100_001, f"{10**15} is out of range for a Telegram chat id"),
    ]


def test_a_large_file_with_bad_rows_imports_nothing_and_names_each(cli_env, tmp_path):
    invoke("lists", "create", "protests", "--title", "Protests")
    lines = [str(2_000_000 + n) for n in range(30_000)]
    lines[9_999] = "12x"
    lines[29_999] = "-"
    csv_file = tmp_path / "ids.csv"
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("subscribers", "import", str(csv_file), "--list", "protests")
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == ["  line 10000: '12x' is not a Telegram chat id",
                                              "  line 30000: '-' is not a Telegram chat id"]
    assert invoke("subscribers", "export").output.splitlines() == ["chat_id,list"]

    lines[9_999], lines[29_999] = "2009999", "2029999"
    csv_file.write_text("\ufeffchat_id\r\n" + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    result = invoke("subscribers", "import", str(csv_file), "--list", "protests")
    assert result.exit_code == 0 and "30000 rows read; 30000 chats newly added" in result.output
    assert len(invoke("subscribers", "export").output.splitlines()) == 30_001
