"""Organisers: creating lists, adding and removing organisers, and refusals for everyone else."""

from __future__ import annotations

import logging

from tests.builders import make_list
from tests.conftest import ORGANISER_ID


async def test_newlist_creates_a_list_with_its_deep_link(organiser, supporter):
    answer = await organiser.say("/newlist protests Protests & demos")
    assert "Created <b>Protests &amp; demos</b>" in answer
    assert "https://t.me/campaign_bot?start=protests" in answer
    assert "you are on <b>Protests &amp; demos</b>" in await supporter.say("/start protests")


async def test_newlist_bad_input(organiser, running_bot):
    await make_list(running_bot.db, "protests", "Protests")
    assert "To create a list" in await organiser.say("/newlist")
    assert "exists already" in await organiser.say("/newlist protests Again")
    assert "short name uses" in await organiser.say("/newlist Bad!Slug Title")
    assert "short name uses" in await organiser.say("/newlist " + "x" * 50 + " Title")


async def test_non_organiser_is_refused_politely_and_logged_without_content(supporter, caplog):
    caplog.set_level(logging.WARNING)
    answer = await supporter.say("/newlist secret-plans Secret plans")
    assert "for the campaign's organisers" in answer
    refusals = [r.getMessage() for r in caplog.records if "refused organiser command" in r.getMessage()]
    assert refusals == [f"refused organiser command new_list from user {supporter.user_id}"]
    assert "secret" not in caplog.text
    assert "for the campaign's organisers" in await supporter.say("/organiser add 5")


async def test_organisers_add_and_remove(running_bot, organiser):
    newcomer = running_bot.person(333)
    assert "for the campaign's organisers" in await newcomer.say("/newlist a A")
    assert "<code>333</code> is now an organiser" in await organiser.say("/organiser add 333")
    assert "already an organiser" in await organiser.say("/organiser add 333")
    assert "Created" in await newcomer.say("/newlist branch Local branch")
    listing = await organiser.say("/organiser list")
    assert "<code>333</code>" in listing and f"<code>{ORGANISER_ID}</code> (from the settings)" in listing
    assert "no longer an organiser" in await organiser.say("/organiser remove 333")
    assert "for the campaign's organisers" in await newcomer.say("/newlist b B")
    assert "was not an organiser" in await organiser.say("/organiser remove 333")
    assert "by the bot's settings" in await organiser.say(f"/organiser remove {ORGANISER_ID}")
    assert "Usage" in await organiser.say("/organiser promote 333")
    assert "Usage" in await organiser.say("/organiser add someone")
