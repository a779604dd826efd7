"""Every HTML template, rendered with sample data in each of its branches, is a message Telegram takes.

Each rendering is sent with sendMessage (parse mode HTML) through python-telegram-bot to the
project's Bot API server, which refuses what Telegram refuses. Names and titles in the samples
carry `&`, `<`, `>` and quotes, so a template that forgot to escape something fails here.
Partials (`_*.html`) are sent as part of the templates that include them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from telegram import Bot
from telegram.error import BadRequest

from bot.local_api.server import LocalBotApi
from messages import render, template_names
from messages.i18n import available_languages
from storage.broadcasts.status import TextTooLong
from storage.broadcasts.tables import BroadcastStatus
from storage.dates import DateProblem, DateProblemKind
from storage.events.problems import NoticeNotComposable
from storage.iapt.answers import (
    ChoicesAnswer,
    ComparePromptAnswer,
    EthnicityAnswer,
    HeadlineAnswer,
    NotFoundAnswer,
    RankAnswer,
    TrendAnswer,
    YearMissingAnswer,
)
from storage.lists.alert_settings import QuietHours, QuietHoursProblem
from storage.retention import Forgotten
from storage.telegram_html import Position, TelegramHtmlError
from tests.template_samples import (
    AREA,
    AT,
    BY_LANGUAGE,
    CHOICE,
    COMPARE_ANSWER,
    COMPARE_PROMPT,
    COMPOSE_FAILURES,
    DATE,
    ENGLAND,
    ETHNIC_ROWS,
    EVENT,
    EVENT_PROBLEMS,
    HOSTILE,
    LATER,
    LINEAGE,
    LIST_PROBLEMS,
    LONG_DATE,
    MAILING_LIST,
    MONTHLY,
    NEXT_DAY,
    NO_COMMON_YEAR,
    PLAIN_EVENT,
    RANK_ANSWER,
    RANKING,
    ROWS,
    RULES,
    SERVICE,
    TREND,
    TZ,
    WAITS_ANSWERS,
    YEAR,
    Sample,
    area_answer,
    broadcast,
    card,
)

TOKEN = "1:secret"
QUIET = QuietHours.parse("22:00-07:30")
MYDATA_EXTRA = {"default_quiet": QUIET, "now": AT}


# ------------------------------------------------------------------ the samples: template -> its renderings

SAMPLES: dict[str, list[dict]] = {
    "alert_example.html": [{}],
    "broadcast_ask_text.html": [{"choice": CHOICE}],
    "broadcast_ask_time.html": [{"broadcast_id": 7, "timezone": "Europe/London"}],
    "broadcast_bad_html.html": [{"problem": TelegramHtmlError('Unsupported start tag "div"',
                                                              Position.in_text("<b>x\n <div>", 6))}],
    "broadcast_bad_time.html": [
        {"problem": DateProblem(kind, HOSTILE, [AT, NEXT_DAY], weekday=AT), "tz": TZ,
         "timezone": "Europe/London"} for kind in DateProblemKind],
    "broadcast_choose_list.html": [{}],
    "broadcast_confirm.html": [{"count": 1, "title": HOSTILE, "urgent": False, "quiet": QUIET},
                               {"count": 1234, "title": HOSTILE, "urgent": True, "quiet": QUIET},
                               {"count": 2, "title": HOSTILE, "urgent": False, "quiet": None}],
    "broadcast_dropped.html": [{}],
    "broadcast_decided.html": [{"outcome": outcome, "broadcast_id": 7, "tz": TZ,
                                "broadcast": broadcast(BroadcastStatus.SCHEDULED)}
                               for outcome in ("approve", "approve_later", "reject", "send", "drop", "own",
                                               "author_gone", "decided")]
    + [{"outcome": "decided", "broadcast_id": 7, "broadcast": None, "tz": TZ}],
    "broadcast_for_approval.html": [{"broadcast": broadcast(BroadcastStatus.FOR_APPROVAL, urgent=urgent,
                                                            send_at=send_at), "count": 1234, "above": 500, "tz": TZ}
                                    for urgent, send_at in ((False, None), (True, NEXT_DAY))],
    "broadcast_no_approver.html": [{"broadcast_id": 7, "count": 1234, "above": 500}],
    "broadcast_overdue.html": [{"broadcast": broadcast(BroadcastStatus.OVERDUE), "now": LATER, "tz": TZ,
                                "minutes": 30}],
    "broadcast_review_outcome.html": [{"broadcast": broadcast(BroadcastStatus.SENDING), "outcome": outcome, "by": 901,
                                       "tz": TZ} for outcome in ("approve", "approve_later", "reject")],
    "broadcast_submitted.html": [{"broadcast": broadcast(BroadcastStatus.FOR_APPROVAL, send_at=send_at), "count": 1234,
                                  "above": 500, "asked": asked, "tz": TZ} for send_at, asked in ((None, 1),
                                                                                                 (NEXT_DAY, 3))],
    "broadcast_footer.html": [{"mailing_list": MAILING_LIST, "support_pointer": pointer} for pointer in (False, True)],
    "broadcast_no_lists.html": [{}],
    "broadcast_no_longer_waiting.html": [{"broadcast_id": 7}],
    "broadcast_not_text.html": [{}],
    "broadcast_report.html": [{"broadcast": broadcast(BroadcastStatus.DONE), "tz": TZ},
                              {"broadcast": broadcast(BroadcastStatus.CANCELLED, gone=0, skipped=0), "tz": TZ},
                              {"broadcast": broadcast(BroadcastStatus.DONE, paused=12, silent=300, approved_by=901),
                               "tz": TZ},
                              {"broadcast": broadcast(BroadcastStatus.DONE, urgent=True, created_by=None), "tz": TZ},
                              {"broadcast": broadcast(BroadcastStatus.DONE, by_language=BY_LANGUAGE), "tz": TZ}],
    "broadcast_ask_version.html": [{"broadcast_id": 7, "language_name": "বাংলা"}],
    "broadcast_version_too_long.html": [{"problem": TextTooLong(5000, 4096), "language_name": "বাংলা"}],
    "broadcast_version_bad_html.html": [{"problem": TelegramHtmlError('Unsupported start tag "div"',
                                                                      Position.in_text("<b>x\n <div>", 6)),
                                         "language_name": "বাংলা"}],
    "broadcast_confirm_versions.html": [{"count": 2, "title": HOSTILE, "urgent": False, "quiet": QUIET,
                                         "languages": ["বাংলা"]},
                                        {"count": 1234, "title": HOSTILE, "urgent": True, "quiet": None,
                                         "languages": ["বাংলা", HOSTILE]}],
    "broadcast_confirm_time.html": [{"broadcast_id": 7, "title": HOSTILE, "send_at": NEXT_DAY, "tz": TZ}],
    "broadcast_scheduled.html": [{"broadcast_id": 7, "title": HOSTILE, "send_at": NEXT_DAY, "tz": TZ}],
    "broadcast_started.html": [{"broadcast_id": 7, "title": HOSTILE}],
    "broadcast_too_long.html": [{"problem": TextTooLong(5000, 4096)}, {"problem": TextTooLong(1100, 1024)}],
    "broadcast_unknown_list.html": [{"name": HOSTILE}],
    "broadcasts.html": [{"items": [], "tz": TZ, "rate": 25}] + [
        {"items": [broadcast(status, recipients=recipients) for status in BroadcastStatus], "tz": TZ, "rate": 25}
        for recipients in (1300, 5000, 200_000)] + [
        {"items": [broadcast(status, send_at=None, approved_by=901) for status in BroadcastStatus], "tz": TZ,
         "rate": 25}],
    "error.html": [{}],
    "event_ask.html": [{"step": step, "list_title": HOSTILE, "dates_so_far": 2} for step in (
        "list", "title", "start", "end", "more_dates", "venue", "address", "meeting_point", "nearest_station", "map",
        "details", "contact", "capacity")] + [{"step": "end", "starts_at": AT, "tz": TZ}],
    "event_attendees_caption.html": [{"event": EVENT}],
    "event_cancel_confirm.html": [{"event": EVENT, "date": DATE, "tz": TZ}],
    "event_cancel_done.html": [{"change": None, "tz": TZ},
                               {"change": Sample(told=True, event=EVENT, date=DATE), "tz": TZ},
                               {"change": Sample(told=False, event=EVENT, date=DATE), "tz": TZ}],
    "event_cancel_kept.html": [{}],
    "event_cancelled.html": [{"event": EVENT, "date": DATE, "tz": TZ}],
    "event_card.html": [
        {"card": card(), "tz": TZ, "organiser": True},
        {"card": card(event=PLAIN_EVENT, date=LONG_DATE, changed=False, places_left=0, fully_booked=True,
                      my_status="waiting", reminders={}), "tz": TZ, "organiser": True},
        {"card": card(places_left=None, my_status="not_going"), "tz": TZ, "organiser": False},
        {"card": card(places_left=1, my_status=None), "tz": TZ, "organiser": False},
        {"card": card(my_status="waiting", my_offer=Sample(open_to_all=False, expires_at=NEXT_DAY)), "tz": TZ,
         "organiser": False},
        {"card": card(my_status="waiting", my_offer=Sample(open_to_all=True, expires_at=AT)), "tz": TZ,
         "organiser": False},
    ],
    "event_confirm.html": [
        {"draft": Sample(title=HOSTILE, venue_name=EVENT.venue_name, address="35 <Powis> Sq", postcode="W11 2AY",
                         meeting_point="Gate & fence", nearest_station="Notting <Hill>", latitude=51.51,
                         longitude=-0.2, details=EVENT.details, contact=EVENT.contact, capacity=40,
                         accessibility=EVENT.accessibility, refreshments=EVENT.refreshments, cost=EVENT.cost),
         "list_title": HOSTILE, "dates": [DATE, LONG_DATE], "tz": TZ, "rules": RULES, "first_due": [NEXT_DAY, None]},
        {"draft": Sample(title="Vigil", venue_name="Hall", address="1 Road", postcode="E1 1AA", meeting_point=None,
                         nearest_station=None, latitude=None, longitude=None, details=None, contact=None,
                         capacity=None, accessibility="", refreshments="", cost=""),
         "list_title": HOSTILE, "dates": [DATE], "tz": TZ, "rules": [],
         "first_due": []},
    ],
    "event_date_problem.html": [
        {"problem": DateProblem(kind, HOSTILE, [AT, NEXT_DAY], weekday=AT), "tz": TZ}
        for kind in DateProblemKind] + [{"problem": DateProblem(DateProblemKind.PAST, HOSTILE), "tz": TZ}],
    "event_discarded.html": [{}],
    "event_edit_ask.html": [{"field": field, "current": HOSTILE} for field in (
        "time", "reminders", "capacity", "booked_elsewhere", "map", "details")] + [{"field": "contact", "current": ""}],
    "event_edit_fields.html": [{"event": EVENT, "date": DATE, "tz": TZ}],
    "event_edited.html": [{"told": True, "promoted": 0, "starts_at": AT, "tz": TZ},
                          {"told": False, "promoted": 1, "starts_at": None, "tz": TZ},
                          {"told": True, "promoted": 2, "starts_at": None, "tz": TZ}],
    "event_attendees_ask_privately.html": [{}],
    "event_ics_caption.html": [{"title": HOSTILE}],
    "event_invalid.html": [{"problem": problem} for problem in EVENT_PROBLEMS],
    "event_moved.html": [{"event": EVENT, "old_starts_at": AT, "date": LONG_DATE, "tz": TZ},
                         {"event": PLAIN_EVENT, "old_starts_at": AT, "date": DATE, "tz": TZ}],
    "event_name_shared.html": [{"shared": True, "name": HOSTILE}, {"shared": False, "name": HOSTILE}],
    "event_no_lists.html": [{}],
    "event_none.html": [{"on_no_list": True}, {"on_no_list": False}],
    "event_pick.html": [{"dates": [DATE], "action": "edit"}, {"dates": [DATE], "action": "cancel"},
                        {"dates": [], "action": "edit"}, {"dates": [], "action": "cancel"}],
    "event_private_only.html": [{}],
    "event_promoted.html": [{"event": EVENT, "date": DATE, "tz": TZ}],
    "event_place_offered.html": [{"event": EVENT, "date": DATE, "tz": TZ, "expires_at": NEXT_DAY, "open_to_all": False},
                                 {"event": PLAIN_EVENT, "date": DATE, "tz": TZ, "expires_at": AT, "open_to_all": True}],
    "event_take_result.html": [{"outcome": outcome} for outcome in ("taken", "gone", "closed")],
    "event_published.html": [{"event": EVENT, "skipped": 0}, {"event": EVENT, "skipped": 1},
                             {"event": EVENT, "skipped": 2}],
    "event_reminder.html": [{"event": EVENT, "date": DATE, "tz": TZ, "going_only": True},
                            {"event": PLAIN_EVENT, "date": LONG_DATE, "tz": TZ, "going_only": False}],
    "event_reminders_missed.html": [{"missed": [Sample(event=EVENT, date=DATE, rule=rule) for rule in rules],
                                     "tz": TZ, "listed": listed} for rules, listed in ((RULES, 8), (RULES[:1], 8),
                                                                                       (RULES, 1))],
    "event_reminders_failed.html": [{"failed": [Sample(due=Sample(event=EVENT, date=DATE, rule=rule), reason=HOSTILE)
                                                for rule in rules],
                                     "tz": TZ, "listed": listed} for rules, listed in ((RULES, 8), (RULES[:1], 8),
                                                                                       (RULES, 1))],
    "event_rsvp_closed.html": [{}],
    "event_rsvp_private.html": [{}],
    "forget_cancelled.html": [{}],
    "forget_confirm.html": [{}],
    "forgotten.html": [{"forgotten": Forgotten(chat_erased=erased, organiser_removed=removed,
                                               still_configured=configured)}
                       for erased, removed, configured in ((True, False, False), (False, False, False),
                                                           (True, True, False), (False, False, True))],
    "help.html": [{"private": private, "organiser": organiser, "approval_above": above} for private in (True, False)
                  for organiser in (True, False) for above in (0, 500)],
    "joined.html": [{"outcome": "joined", "mailing_list": MAILING_LIST},
                    {"outcome": "already", "mailing_list": MAILING_LIST}],
    "left.html": [{"outcome": "left", "mailing_list": MAILING_LIST},
                  {"outcome": "not_on", "mailing_list": MAILING_LIST}],
    "lists.html": [{"lists": []}, {"lists": [Sample(subscribed=True, mailing_list=MAILING_LIST),
                                             Sample(subscribed=False, mailing_list=Sample(
                                                 title="Vigils", slug="vigils", description=None))]}],
    "mydata.html": [
        {"data": None, "tz": TZ, "retention_days": 30, **MYDATA_EXTRA},
        {"data": Sample(telegram_id=101, kind="private", active=True, first_seen_at=AT,
                        subscriptions=[(MAILING_LIST, AT)], alerts_received=3, reports_received=1,
                        event_answers=[Sample(title=HOSTILE, starts_at=AT, status=status, shared_name=HOSTILE)
                                       for status in ("going", "waiting", "not_going")],
                        places_offered=[Sample(title=HOSTILE, starts_at=AT, status=status, expires_at=AT)
                                        for status in ("open", "taken", "expired", "withdrawn")],
                        erased_after=lambda days: None, quiet_hours=None, paused_until=NEXT_DAY,
                        organiser_menu=True, language="bn"),
         "tz": TZ, "retention_days": 30, **MYDATA_EXTRA},
        {"data": Sample(telegram_id=-5, kind="group", active=False, first_seen_at=AT, subscriptions=[],
                        alerts_received=0, reports_received=0, event_answers=[], places_offered=[],
                        erased_after=lambda days: AT + dt.timedelta(days=days), quiet_hours="off",
                        paused_until=AT, organiser_menu=False, language=None),
         "tz": TZ, "retention_days": 30, "default_quiet": None, "now": LATER},
        {"data": Sample(telegram_id=-5, kind="group", active=False, first_seen_at=AT, subscriptions=[],
                        alerts_received=0, reports_received=0, event_answers=[], places_offered=[],
                        erased_after=lambda days: None, quiet_hours="21:00-07:00", paused_until=None,
                        organiser_menu=False, language="en"),
         "tz": TZ, "retention_days": 30, **MYDATA_EXTRA},
    ],
    "language.html": [{"changed": changed, "chosen": chosen, "group": group, "own_name": "বাংলা",
                       "example_code": "en"} for changed, chosen, group in (
                           (True, True, False), (False, True, True), (False, False, False))],
    "language_unknown.html": [{"code": HOSTILE, "languages": [{"code": "en", "name": "English"},
                                                              {"code": "bn", "name": "বাংলা"}]}],
    "quiet.html": [{"own": own, "hours": hours, "default": default, "timezone": "Europe/London", "changed": changed}
                   for own, hours, default, changed in ((False, QUIET, QUIET, False), (True, None, QUIET, True),
                                                        (True, QUIET, None, True))],
    "quiet_bad.html": [{"text": HOSTILE, "problem": QuietHoursProblem(kind)} for kind in ("form", "range", "empty")],
    "pause.html": [{"until": until, "tz": TZ, "changed": changed} for until, changed in (
        (NEXT_DAY, True), (NEXT_DAY, False), (None, True), (None, False))],
    "pause_bad.html": [{"text": HOSTILE, "most": 365}],
    "mylists.html": [{"lists": []}, {"lists": [MAILING_LIST]}],
    "need_list_name.html": [{"command": "subscribe"}],
    "newlist_done.html": [{"mailing_list": MAILING_LIST, "bot_username": "campaign_bot"}],
    "newlist_invalid.html": LIST_PROBLEMS,
    "newlist_usage.html": [{}],
    "organiser_changed.html": [{"change": change, "user_id": 42} for change in (
        "added", "already", "removed", "configured", "not_organiser")],
    "organiser_list.html": [{"ids": [42, 900], "configured": {900}}],
    "organiser_usage.html": [{}],
    "privacy.html": [{"retention_days": 30}],
    "support.html": [{}],
    "refused_group_admin.html": [{}],
    "refused_organiser.html": [{}],
    "stale_button.html": [{}],
    "stats_area.html": [{"answer": area_answer()}, {"answer": area_answer(ENGLAND, lineage=(), rounded=False)},
                        {"answer": area_answer(period=None, monthly=MONTHLY)},
                        {"answer": area_answer(population=None, england_population=None, monthly=None, latest=False)},
                        {"answer": area_answer(ranking=RANKING, newest_year=YEAR, lineage=LINEAGE[:2])}],
    "stats_choices.html": [{"answer": ChoicesAnswer(HOSTILE, (AREA, SERVICE, ENGLAND), "area", None)},
                           {"answer": ChoicesAnswer(HOSTILE, (AREA, SERVICE), "summary", None, compare_with=AREA)}],
    "stats_rank.html": [{"answer": RANK_ANSWER}, {"answer": RankAnswer(ENGLAND, None, (), False)},
                        {"answer": RankAnswer(SERVICE, None, (), True)}],
    "stats_compare.html": [{"answer": COMPARE_ANSWER}, {"answer": NO_COMMON_YEAR}],
    "stats_compare_prompt.html": [{"answer": COMPARE_PROMPT}, {"answer": ComparePromptAnswer(ENGLAND, None, ())}],
    "stats_ethnicity.html": [
        {"answer": EthnicityAnswer(AREA, YEAR, ETHNIC_ROWS, 1, LINEAGE, (), True)},
        {"answer": EthnicityAnswer(ENGLAND, YEAR, (), 0, (), (), False)},
        {"answer": EthnicityAnswer(AREA, YEAR, ETHNIC_ROWS, 3, (), (), True)},
    ],
    "stats_headline.html": [{"answer": HeadlineAnswer(area_answer(ENGLAND, lineage=()))},
                            {"answer": HeadlineAnswer(area_answer(ENGLAND, monthly=None))}],
    "stats_loading.html": [{}],
    "stats_unavailable.html": [{"answer": Sample(area_name=HOSTILE)}, {"answer": Sample(area_name=None)}],
    "event_notice_impossible.html": [{"problem": NoticeNotComposable(failure)} for failure in COMPOSE_FAILURES],
    "flood_slow_down.html": [{"limit": 20, "seconds": 10.0}, {"limit": 5, "seconds": 2.5}],
    "stats_chart_failed.html": [{"answer": area_answer()}],
    "stats_no_figures.html": [{}],
    "stats_not_found.html": [{"answer": NotFoundAnswer(HOSTILE, (AREA, SERVICE))},
                             {"answer": NotFoundAnswer(HOSTILE, ())}],
    "stats_slow_down.html": [{"answer": Sample(limit=10, retry_after=1)}, {"answer": Sample(limit=10, retry_after=30)}],
    "stats_too_long.html": [{"limit": 100}],
    "stats_trend.html": [{"answer": TrendAnswer(AREA, TREND, LINEAGE, (), True)},
                         {"answer": TrendAnswer(ENGLAND, TREND[:1], (), (), False)},
                         {"answer": TrendAnswer(AREA, (), (), (), True)}],
    "stats_waits.html": [{"answer": answer} for answer in WAITS_ANSWERS],
    "stats_short.html": [{"answer": answer, "link": "https://t.me/campaign_bot?start=stats-C08V-s"}
                         for answer in (area_answer(), area_answer(ENGLAND, rows=ROWS[:1]), *WAITS_ANSWERS[:4],
                                        HeadlineAnswer(area_answer(ENGLAND, lineage=())))],
    "stats_year_missing.html": [
        {"answer": YearMissingAnswer(AREA, "2019", ("2018-19",), ("2018-19", "2019-20"), LINEAGE, (), "area")},
        {"answer": YearMissingAnswer(AREA, "2030-31", ("2017-18", "2018-19"), (), (), (), "area")},
        {"answer": YearMissingAnswer(AREA, "2030-31", (), (), (), (), "area")},
    ],
    "stopped.html": [{"lists": [MAILING_LIST, MAILING_LIST], "retention_days": 30},
                     {"lists": [], "retention_days": 30}],
    "text_expected.html": [{}],
    "too_long.html": [{"limit": 64}],
    "unknown_command.html": [{"command": "lsts", "nearest": ["lists", "mylists"]}, {"command": "x", "nearest": []}],
    "unknown_list.html": [{"deep_link": True, "name": HOSTILE, "suggestions": [MAILING_LIST]},
                          {"deep_link": False, "name": HOSTILE, "suggestions": []}],
    "welcome.html": [{"lists": [Sample(subscribed=False, mailing_list=MAILING_LIST)]}, {"lists": []}],
    "welcome_group.html": [{"lists": [Sample(subscribed=True, mailing_list=MAILING_LIST)]}, {"lists": []}],
}

RENDERINGS = [pytest.param(name, context, language, id=f"{language}-{name}-{n}")
              for language in available_languages()
              for name, contexts in SAMPLES.items() for n, context in enumerate(contexts)]


def test_every_html_template_has_samples():
    html_templates = {name for name in template_names() if name.endswith(".html") and not name.startswith("_")}
    assert set(SAMPLES) == html_templates


@pytest.fixture
async def bot():
    server = LocalBotApi(token=TOKEN)
    await server.start()
    async with Bot(TOKEN, base_url=f"{server.url}/bot") as bot:
        yield bot
    await server.stop()


@pytest.mark.parametrize(("name", "context", "language"), RENDERINGS)
async def test_template_is_a_message_telegram_takes(bot, name, context, language):
    text = render(name, language=language, **context)
    try:
        sent = await bot.send_message(101, text, parse_mode="HTML")
    except BadRequest as refused:
        pytest.fail(f"Telegram would refuse {name}: {refused.message}\n{text}")
    assert sent.text == text
    assert HOSTILE not in text, "a sample value reached the message unescaped"
