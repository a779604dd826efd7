"""Sample values for rendering templates: what handlers and the report pass, made to break
unescaped HTML (names and titles carry `&`, `<`, `>` and quotes)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace as Sample
from zoneinfo import ZoneInfo

from storage.broadcasts.deliveries import BroadcastCounts
from storage.broadcasts.listings import BroadcastSummary
from storage.broadcasts.status import TextTooLong
from storage.broadcasts.tables import BroadcastStatus
from storage.dates import parse_reminder_rules
from storage.events.problems import EventProblemKind, InvalidEventError
from storage.events.reminders import ComposeFailure
from storage.iapt.answer_parts import (
    AreaRef,
    CompareRow,
    EthnicRow,
    Lineage,
    MeasureRow,
    MonthlyBlock,
    PeerRank,
    PeerRanking,
    PeerValue,
    Population,
    ServiceWaits,
    ShareRow,
    TrendPoint,
    WaitsMonth,
    WaitsRoute,
)
from storage.iapt.answers import AreaAnswer, CompareAnswer, ComparePromptAnswer, RankAnswer, WaitsAnswer
from storage.iapt.figures import Figure, Share
from storage.iapt.records import Period
from storage.iapt.tables import LinkKind, OrgType, Unit
from storage.import_problems import ImportProblem, ImportProblemKind
from storage.lists.mailing_lists import InvalidListError, ListProblemKind

TZ = ZoneInfo("Europe/London")
# Every text a person or an import can put into a message, made to break unescaped HTML.
HOSTILE = 'Rights & <Welfare> "now"'
AT = dt.datetime(2018, 3, 21, 8, 15, tzinfo=dt.UTC)
LATER = dt.datetime(2018, 3, 21, 10, 0, tzinfo=dt.UTC)
NEXT_DAY = dt.datetime(2018, 3, 22, 18, 30, tzinfo=dt.UTC)

MAILING_LIST = Sample(title=HOSTILE, slug="rights", description=f"Alerts about {HOSTILE}")
CHOICE = Sample(id=1, title=HOSTILE, subscribers=1234)
EVENT = Sample(title=HOSTILE, key="demo-<2018>", venue_name="The Tab & Co", full_address="35 Powis Sq <W11>",
               meeting_point="By the <gate>", nearest_station="Notting Hill & Gate", details="Bring <banners> & food",
               contact="Sam <sam@example.org>", accessibility="Step-free <ramp> & hearing loop",
               refreshments="Café on site; please don't bring <food>", cost="Free & donations <welcome>")
PLAIN_EVENT = Sample(title="Vigil", key="vigil", venue_name="Hall", full_address="1 Road", meeting_point=None,
                     nearest_station=None, details=None, contact=None, accessibility="", refreshments="", cost="")
DATE = Sample(starts_at=AT, ends_at=LATER, booked_elsewhere=3)
LONG_DATE = Sample(starts_at=AT, ends_at=NEXT_DAY, booked_elsewhere=0)
RULES = parse_reminder_rules("1 day before at 19:00 to everyone; 90 minutes before to going")


def broadcast(status: BroadcastStatus, *, send_at: dt.datetime | None = NEXT_DAY, urgent: bool = False,
              approved_by: int | None = None, created_by: int | None = 900, **counts: int) -> BroadcastSummary:
    numbers = {"recipients": 5000, "sent": 1200, "blocked": 3, "gone": 2, "failed": 1, "skipped": 4} | counts
    return BroadcastSummary(id=7, status=status, list_slug="rights", list_title=HOSTILE, text="<b>Demo</b>",
                            media_kind=None, created_by=created_by, send_at=send_at, created_at=AT, started_at=AT,
                            finished_at=LATER, counts=BroadcastCounts(**numbers), possible_duplicates=2,
                            urgent=urgent, approved_by=approved_by)


def card(**changes) -> Sample:
    base = dict(event=EVENT, date=DATE, changed=True, places_left=3, fully_booked=False, my_status="going",
                my_waiting_position=2, list_title=HOSTILE, going=10, waiting=2, not_going=1,
                reminders={"sent": 2, "pending": 1}, my_offer=None)
    return Sample(**(base | changes))


# ------------------------------------------------------------------ statistics answers, as the report builds them

def count(value: float | None, *, suppressed: bool = False) -> Figure:
    return Figure(None if value is None else float(value), suppressed, Unit.COUNT)


def rate(value: float | None) -> Figure:
    return Figure(None if value is None else float(value), False, Unit.PERCENTAGE)


YEAR = Period("2018-19", "annual", dt.date(2018, 4, 1), dt.date(2019, 3, 31), "Psychological Therapies, 2018-19 & more")
MONTH = Period("March 2019", "monthly", dt.date(2019, 3, 1), dt.date(2019, 3, 31), "Monthly <statistics>")
ENGLAND = AreaRef(1, OrgType.ENGLAND, "ENG", "England", "2016-17", "2018-19", "March 2019")
AREA = AreaRef(2, OrgType.CCG, "08V", "KINGSTON DRUG & ALCOHOL <SERVICE>", "2016-17", "2018-19", None)
SERVICE = AreaRef(3, OrgType.PROVIDER, "RY9", "Talking <Therapies> & Co", "2017-18", "2018-19", "March 2019")
LINEAGE = tuple(Lineage(kind, outgoing, SERVICE, dt.date(2019, 4, 1) if outgoing else None)
                for kind in LinkKind for outgoing in (True, False))
ROWS = (
    MeasureRow("referrals_received_count", count(10270), None, count(1_600_000), None),
    MeasureRow("recovery_count", count(None, suppressed=True), rate(52.1), count(500_000), rate(50.8)),
    MeasureRow("improvement_count", count(None), rate(None), None, None),
)
MONTHLY = MonthlyBlock(MONTH, (MeasureRow("M001", count(900), None, count(140_000), None),
                               MeasureRow("M031", count(700), None, None, None)))
POPULATION = Population(180_000, "mid-2018", dt.date(2018, 6, 30), "estimate", "ONS <mid-year>", "secondary",
                        "Kingston & Richmond")


def area_answer(area: AreaRef = AREA, **changes) -> AreaAnswer:
    values = dict(area=area, period=YEAR, latest=True, rows=ROWS,
                  shares=(ShareRow("finished_of_referrals", Share("a", "b", 41.2), Share("a", "b", 40.0)),
                          ShareRow("recovered_of_referrals", Share("a", "b", None, True), None),
                          ShareRow("referred_of_population", Share("a", "b", None), None)),
                  population=POPULATION, england_population=POPULATION, monthly=MONTHLY, lineage=LINEAGE,
                  offers=(SERVICE,), rounded=True)
    return AreaAnswer(**(values | changes))


ETHNIC_ROWS = (
    EthnicRow("Ethnic Group", "White & Other", "All", count(500), count(300), count(150), rate(50), rate(51),
              Share("a", "b", 30.0), Share("a", "b", 21.0)),
    EthnicRow("Ethnic Group", "White & Other", "<British>", count(400), count(250), count(120), rate(48), None),
    EthnicRow("BME Group", "BME", "", count(None, suppressed=True), count(5), count(None), rate(None), None,
              Share("a", "b", None, True), None),
)
TREND = tuple(TrendPoint(YEAR, count(10270), count(5000), rate(52.1), rate(50.8)) for _ in range(2))


def days(value: float | None) -> Figure:
    return Figure(None if value is None else float(value), False, Unit.DAYS)


def waits_month(entered: float | None = 540, within_6: float | None = 455, waiting: float | None = 940,
                period: Period = MONTH) -> WaitsMonth:
    return WaitsMonth(period, count(entered), count(within_6), count(entered),
                      Share.of("M036", count(within_6), "M031", count(entered)),
                      Share.of("M037", count(entered), "M031", count(entered)), days(29.1), days(1), count(waiting))


def waits_series(area: AreaRef, months: int = 12, **month) -> ServiceWaits:
    return ServiceWaits(area, tuple(waits_month(**month) for _ in range(months)))


def waits_answer(area: AreaRef = AREA, route: WaitsRoute = WaitsRoute.LOCAL_SERVICE, **changes) -> WaitsAnswer:
    values = dict(area=area, route=route, via=None, services=(waits_series(SERVICE),), quiet=(),
                  england=waits_series(ENGLAND, entered=96682, within_6=None, waiting=None), charted=1, listed=1,
                  offers=(SERVICE,))
    return WaitsAnswer(**(values | changes))


# Every branch of the waits templates: one service, several (some only named, one without figures
# in the latest month), England alone for an area with no service, England itself, no months at all.
WAITS_ANSWERS = (
    waits_answer(),
    waits_answer(route=WaitsRoute.ICB_LOOKUP, via=SERVICE, quiet=(SERVICE,), charted=2, listed=2,
                 services=(waits_series(SERVICE), waits_series(SERVICE, entered=None, within_6=None, waiting=None),
                           waits_series(SERVICE, entered=0))),
    waits_answer(route=WaitsRoute.NONE, services=(waits_series(ENGLAND),), england=None),
    waits_answer(ENGLAND, route=WaitsRoute.ITSELF, services=(waits_series(ENGLAND),), england=None),
    waits_answer(SERVICE, route=WaitsRoute.ITSELF, services=(), quiet=(SERVICE,), england=None, charted=0,
                 listed=0),
)


def _event_problems() -> list[InvalidEventError]:
    """One refusal of every kind the events domain has, with hostile details, so each kind's
    words are rendered (and checked as Telegram HTML) at least once."""
    failure = ComposeFailure(TextTooLong(4200, 4096), None,
                             [InvalidEventError(EventProblemKind.TOO_LONG, field="venue_name", length=6000, limit=200)])
    details = dict(text=HOSTILE, most=999_999, field="meeting_point", length=201, limit=200, key=HOSTILE,
                   fields=["title", HOSTILE], slug=HOSTILE, failure=failure, detail=HOSTILE, rule=HOSTILE,
                   value=HOSTILE, why="morning_or_evening")
    return [InvalidEventError(kind, **details) for kind in EventProblemKind]


EVENT_PROBLEMS = _event_problems()
COMPOSE_FAILURES = [
    ComposeFailure(TextTooLong(4200, 4096), None, []),
    ComposeFailure(None, f"KeyError: {HOSTILE}",
                   [InvalidEventError(EventProblemKind.TOO_LONG, field=field, length=6000, limit=200)
                    for field in ("venue_name", "details")]),
]
LIST_PROBLEMS = [{"problem": InvalidListError(kind, limit=80, slug=HOSTILE)} for kind in ListProblemKind]


def peer_rank(key: str, value: float | None, *, published: bool = False, joint: bool = False) -> PeerRank:
    others = tuple(PeerValue(area, v) for area, v in ((SERVICE, 61.0), (AREA, 52.0), (ENGLAND, 52.0), (SERVICE, 9.6)))
    return PeerRank(key, published, value, value is None, None if value is None else 2, joint, others, 3, 1, 51.4)


RANKING = PeerRanking(AREA, OrgType.CCG, YEAR, (
    peer_rank("recovery_percentage", 52.0, published=True, joint=True),
    peer_rank("finished_of_referrals", 41.2),
    peer_rank("recovered_of_referrals", None),
    peer_rank("referred_of_population", 3.9),
))
RANK_ANSWER = RankAnswer(AREA, RANKING, (SERVICE,), True)
COMPARE_ROWS = (
    CompareRow("referrals_received_count", True, count(10270), count(8000), count(1_600_000), Unit.COUNT),
    CompareRow("recovery_percentage", True, rate(49), rate(None), rate(52.1), Unit.PERCENTAGE),
    CompareRow("recovered_of_referrals", False, Share("a", "b", 7.2), Share("a", "b", 9.5), None, "share"),
)
COMPARE_ANSWER = CompareAnswer(AREA, SERVICE, YEAR, None, COMPARE_ROWS, ("2018-19",), ("2017-18", "2018-19"), True)
NO_COMMON_YEAR = CompareAnswer(AREA, ENGLAND, None, "2030-31", (), ("2018-19",), (), True)
COMPARE_PROMPT = ComparePromptAnswer(AREA, "2018-19", (SERVICE, ENGLAND))


def import_problem_words(problem: ImportProblem) -> str:
    """How messages/_import_problem.txt words one problem of a refused import."""
    from messages import environment

    return str(environment().get_template("_import_problem.txt").module.problem(problem))


# One problem of each kind, with the facts its words need (hostile text where a cell's text goes).
IMPORT_FACTS = {
    "not_utf8_csv": {"detail": "line contains NUL"}, "header_lacks": {"columns": ["org_code", HOSTILE]},
    "wrong_width": {"expected": 23, "found": 24},
    "not_a_number": {"text": HOSTILE, "suppressed": True, "blank": False},
    "not_a_date": {"text": HOSTILE}, "not_a_financial_year": {"text": "2018-20"}, "not_a_month": {"text": "2026"},
    "not_a_reference_date": {"text": HOSTILE}, "not_a_whole_number": {"text": "about 300k"},
    "period_dates": {"label": "2021-01", "start": dt.date(2021, 1, 1), "end": dt.date(2021, 1, 31),
                     "found": dt.date(2021, 1, 30)},
    "period_both_frequencies": {"label": "2018-19"}, "unknown_org_type": {"text": "Borough"},
    "unexpected_breakdown": {"allowed": ["BME Group", "Ethnic Group"], "text": HOSTILE},
    "total_with_variables": {"empty": "NULL"}, "figures_differ": {"earlier": 12},
    "unknown_measure": {"measure": HOSTILE},
    "figure_twice": {"earlier": 12}, "no_group_for": {"member": HOSTILE},
    "breakdown_twice": {"breakdown": ("Ethnic Group", "Asian", "All"), "period": "2013-14"},
    "measure_not_defined": {"definitions": "metadata_measures_monthly.csv", "measure": "M999_Count_Other"},
    "provider_month_twice": {"earlier": 40}, "no_definition": {"nhs_name": "Count_Recovery", "key": "recovery_count"},
    "ons_code_twice": {"ons": "E38000001", "first": "00C", "second": "00D"},
    "link_to_unknown_area": {"from_area": ("CCG", "08V"), "to_area": ("PROVIDER", "RWK53"),
                             "missing": ("PROVIDER", "RWK53")},
    "bundle_unreadable": {"detail": "Not a gzipped file"}, "bundle_damaged": {"detail": "KeyError('areas')"},
    "bundle_unknown_table": {"key": "weekly", "table_file": HOSTILE},
    "bundle_lacks_tables": {"tables": ["annual_totals", "monthly_providers"]},
    "csv_unreadable": {"detail": "field larger than field limit (131072)"}, "not_one_cell": {"cells": 2},
    "not_a_chat_id": {"text": HOSTILE}, "chat_id_out_of_range": {"chat_id": 10**15},
}
IMPORT_PROBLEMS = [ImportProblem(kind, "iapt_annual_totals.csv", 3, "21 (recovery_percentage)",
                                 IMPORT_FACTS.get(kind.value, {})) for kind in ImportProblemKind]

