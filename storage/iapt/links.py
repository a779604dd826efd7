"""The deep link back to a full /stats answer: t.me/<bot>?start=stats-<area>-<view>[-<year>].

The short form shared from inline mode carries it, and `/start stats-…` in a private chat
answers the full form. Telegram allows 1 to 64 characters from A-Z, a-z, 0-9, _ and - in a start
parameter, so the area is its type as one letter and its ODS code (stable across imports, unlike
the database id), the view one letter, and the financial year its six digits:
"stats-C08V-s-201819" is Tower Hamlets CCG's 2018-19 summary, "stats-PRWK53-w" its service's waits.
"""

from __future__ import annotations

import dataclasses
import re

from storage.iapt.answer_parts import AreaRef
from storage.iapt.answers import AreaAnswer, HeadlineAnswer, View, WaitsAnswer
from storage.iapt.tables import OrgType

PREFIX = "stats-"
MAX_START_PARAMETER = 64
TYPE_LETTERS = {OrgType.ENGLAND: "E", OrgType.REGION: "R", OrgType.STP: "S", OrgType.CCG: "C", OrgType.ICB: "I",
                OrgType.PROVIDER: "P"}
VIEW_LETTERS = {View.SUMMARY: "s", View.ETHNICITY: "e", View.TREND: "t", View.WAITS: "w"}
_TYPES = {letter: org_type for org_type, letter in TYPE_LETTERS.items()}
_VIEWS = {letter: view for view, letter in VIEW_LETTERS.items()}
_CODE = re.compile(r"^[A-Za-z0-9]{1,20}$")
_PARAMETER = re.compile(r"^stats-([A-Z])([A-Za-z0-9]{1,20})-([a-z])(?:-(\d{4})(\d{2}))?$")


@dataclasses.dataclass(frozen=True)
class StatsLink:
    org_type: str
    code: str
    view: View
    year: str | None  # "2018-19"


def start_parameter(area: AreaRef, view: View, year: str | None = None) -> str | None:
    """The start parameter of the link to this answer; None if the area's code cannot be written in one."""
    letter = TYPE_LETTERS.get(area.org_type)
    if letter is None or not _CODE.match(area.code) or view not in VIEW_LETTERS:
        return None
    parameter = f"{PREFIX}{letter}{area.code}-{VIEW_LETTERS[view]}"
    if year:
        match = re.match(r"^(\d{4})-(\d{2})$", year)
        if match is None:
            return None
        parameter += f"-{match.group(1)}{match.group(2)}"
    return parameter if len(parameter) <= MAX_START_PARAMETER else None


def read_start_parameter(text: str) -> StatsLink | None:
    """What a start parameter made by `start_parameter` asks for; None for anything else."""
    match = _PARAMETER.match(text.strip())
    if match is None or match.group(1) not in _TYPES or match.group(3) not in _VIEWS:
        return None
    first, second = match.group(4), match.group(5)
    if first is not None and (int(first) + 1) % 100 != int(second):
        return None
    year = f"{first}-{second}" if first else None
    return StatsLink(_TYPES[match.group(1)].value, match.group(2), _VIEWS[match.group(3)], year)


# The answers that have a short form (a headline to share from inline mode): the figures of a
# year, England's headline, and the waiting times. Others are shared whole.
ShortFormAnswer = AreaAnswer | HeadlineAnswer | WaitsAnswer


def short_form_link(answer: object) -> str | None:
    """The start parameter of the full answer behind the answer's short form; None when it has none."""
    if isinstance(answer, HeadlineAnswer):
        return start_parameter(answer.england.area, View.SUMMARY)
    if isinstance(answer, AreaAnswer) and answer.period is not None:
        return start_parameter(answer.area, View.SUMMARY, None if answer.latest else answer.period.label)
    if isinstance(answer, WaitsAnswer) and answer.services and answer.latest is not None:
        return start_parameter(answer.area, View.WAITS)
    return None
