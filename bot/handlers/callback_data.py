"""Every family of inline-button data the bot makes, declared once: how it is built, the pattern
its handler is registered with, and how a press is read back.

A family is a frozen dataclass whose `layout` names its fields between braces; each field's type
says what the client may send back in its place:

- `int`: a row id (`ROW_ID`);
- `Literal["a", "b"]` or a `StrEnum`: one of those words;
- `Annotated[str, regex]`: whatever the regex allows.

`Family.build(...)` makes the data (at most 64 bytes, Telegram's bound), `Family.pattern` is the
regex for the CallbackQueryHandler, and `Family.parse(data)` gives the typed fields back. Data a
client sends is anything it likes, so only what matched `pattern` is ever parsed.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import typing
from typing import Annotated, ClassVar, Literal, Self

from storage.broadcasts.drafts import DraftAnswer
from storage.iapt.report import View

# A row id in callback data: a client may send back any 1-64 bytes, and ids are INTEGER columns
# (32 bits on PostgreSQL), which ten digits can overflow.
ROW_ID = r"\d{1,9}"
MAX_DATA_BYTES = 64  # Telegram's bound on callback_data
_FIELD = re.compile(r"\{(\w+)\}")


def _shape(hint: object) -> tuple[str, typing.Callable[[str], object]]:
    """The regex of one field and how its text becomes the typed value."""
    if hint is int:
        return ROW_ID, int
    if typing.get_origin(hint) is Annotated:
        _base, regex = typing.get_args(hint)
        return regex, str
    if typing.get_origin(hint) is Literal:
        return "|".join(re.escape(word) for word in typing.get_args(hint)), str
    if isinstance(hint, type) and issubclass(hint, enum.StrEnum):
        return "|".join(re.escape(member.value) for member in hint), hint
    raise TypeError(f"no callback data shape for {hint!r}")


def _text_of(value: object) -> str:
    return value.value if isinstance(value, enum.Enum) else str(value)


class Family:
    """The base of each family; subclasses are frozen dataclasses and give `layout=` when declared."""

    layout: ClassVar[str]
    pattern: ClassVar[str]
    _readers: ClassVar[dict[str, typing.Callable[[str], object]]]

    def __init_subclass__(cls, *, layout: str, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        hints = typing.get_type_hints(cls, include_extras=True)
        regex, readers, at = "^", {}, 0
        for match in _FIELD.finditer(layout):
            name = match[1]
            shape, readers[name] = _shape(hints[name])
            regex += re.escape(layout[at:match.start()]) + f"(?P<{name}>{shape})"
            at = match.end()
        # \Z, not $: a "$" also matches before a final newline, which a client may send.
        cls.layout, cls.pattern, cls._readers = layout, regex + re.escape(layout[at:]) + r"\Z", readers

    def data(self) -> str:
        values = {name: _text_of(getattr(self, name)) for name in self._readers}
        data = self.layout.format(**values)
        if not 1 <= len(data.encode()) <= MAX_DATA_BYTES:
            raise ValueError(f"callback data of {type(self).__name__} is {len(data.encode())} bytes")
        return data

    @classmethod
    def build(cls, *args: object, **kwargs: object) -> str:
        return cls(*args, **kwargs).data()

    @classmethod
    def parse(cls, data: str) -> Self:
        """The fields of `data`, which matched `pattern` (its handler saw to that)."""
        match = re.match(cls.pattern, data)
        if match is None:
            raise ValueError(f"not {cls.__name__} data")
        return cls(**{name: read(match[name]) for name, read in cls._readers.items()})


# ------------------------------------------------------------------ supporters


@dataclasses.dataclass(frozen=True)
class ListToggle(Family, layout="{action}:{list_id}"):
    """A list's button under /start or /lists: join it, or leave it if already joined."""

    action: Literal["join", "leave"]
    list_id: int


@dataclasses.dataclass(frozen=True)
class ForgetAnswer(Family, layout="forget:{answer}"):
    """Confirm or cancel under /forget."""

    answer: Literal["yes", "no"]


@dataclasses.dataclass(frozen=True)
class QuietChoice(Family, layout="quiet:{choice}"):
    """A common choice under /quiet: a span as digits ("2200-0730"), "off", or the bot's "default"."""

    choice: Annotated[str, r"(?:[01]\d|2[0-3])[0-5]\d-(?:[01]\d|2[0-3])[0-5]\d|off|default"]


@dataclasses.dataclass(frozen=True)
class PauseChoice(Family, layout="pause:{days}"):
    """1, 7 or 30 days under /pause, or ending the pause."""

    days: Literal["1", "7", "30", "off"]


@dataclasses.dataclass(frozen=True)
class LanguageChoice(Family, layout="lang:{code}"):
    """A language under /language, by its code ("bn"); one without a catalogue is answered as a
    code typed after /language would be."""

    code: Annotated[str, r"[a-z]{2,3}"]


# ------------------------------------------------------------------ broadcasts


@dataclasses.dataclass(frozen=True)
class BroadcastList(Family, layout="bcast:list:{list_id}"):
    """A list to broadcast to, under /broadcast."""

    list_id: int


@dataclasses.dataclass(frozen=True)
class BroadcastDraftAnswer(Family, layout="bcast:{answer}:{broadcast_id}"):
    """Send now, Schedule or Drop under a broadcast's preview."""

    answer: DraftAnswer
    broadcast_id: int


@dataclasses.dataclass(frozen=True)
class BroadcastUrgency(Family, layout="bcast:ring:{ring}:{broadcast_id}"):
    """Under a preview: "Rings even in quiet hours" (urgent), or back to silent in them (ordinary)."""

    ring: Literal["urgent", "ordinary"]
    broadcast_id: int


@dataclasses.dataclass(frozen=True)
class BroadcastAddVersion(Family, layout="bcast:lang:{language}:{broadcast_id}"):
    """Under a preview: "Add <language> version", the same alert in another language the bot speaks."""

    language: Annotated[str, r"[a-z]{2,3}"]
    broadcast_id: int


@dataclasses.dataclass(frozen=True)
class BroadcastScheduleAnswer(Family, layout="bcast:at:{answer}:{broadcast_id}:{send_at}"):
    """Under the time an organiser typed, echoed in full: schedule the broadcast then, or give
    another time. `send_at` is the moment in Unix seconds, so the press needs nothing remembered."""

    answer: Literal["yes", "other"]
    broadcast_id: int
    send_at: Annotated[str, r"\d{1,12}"]


@dataclasses.dataclass(frozen=True)
class BroadcastControl(Family, layout="bcast:{action}:{broadcast_id}"):
    """Pause, Resume or Cancel under /broadcasts."""

    action: Literal["pause", "resume", "cancel"]
    broadcast_id: int


@dataclasses.dataclass(frozen=True)
class BroadcastReviewAnswer(Family, layout="review:{answer}:{broadcast_id}"):
    """Under the preview an organiser is asked about: Approve or Reject (a broadcast for approval),
    Send now or Drop (an overdue one)."""

    answer: Literal["approve", "reject", "send", "drop"]
    broadcast_id: int


# ------------------------------------------------------------------ events: cards


@dataclasses.dataclass(frozen=True)
class RsvpAnswer(Family, layout="rsvp:{answer}:{event_date_id}"):
    """'Going' or 'Can't go' under an event card."""

    answer: Literal["going", "no"]
    event_date_id: int


@dataclasses.dataclass(frozen=True)
class TakePlace(Family, layout="offer:take:{event_date_id}"):
    """'Take the place' under the notice of a place offered from the waiting list (and on the card)."""

    event_date_id: int


@dataclasses.dataclass(frozen=True)
class ShareName(Family, layout="rsvp:name:{event_date_id}"):
    """'Share my first name with the organisers' under a card one is going to."""

    event_date_id: int


@dataclasses.dataclass(frozen=True)
class CalendarFile(Family, layout="ics:{event_date_id}"):
    """'Add to calendar' under a card."""

    event_date_id: int


@dataclasses.dataclass(frozen=True)
class Attendees(Family, layout="attendees:{event_id}"):
    """The attendance file, under a card an organiser sees."""

    event_id: int


# ------------------------------------------------------------------ events: organisers' work


@dataclasses.dataclass(frozen=True)
class CancelPick(Family, layout="cancelevent:pick:{event_date_id}"):
    """A date in /cancelevent's pick list."""

    event_date_id: int


@dataclasses.dataclass(frozen=True)
class CancelAnswer(Family, layout="cancelevent:{answer}:{event_date_id}"):
    """Confirm or keep, once a date to cancel is picked."""

    answer: Literal["yes", "no"]
    event_date_id: int


@dataclasses.dataclass(frozen=True)
class NewEventList(Family, layout="newevent:list:{list_id}"):
    """The list a new event is for, when there are several."""

    list_id: int


@dataclasses.dataclass(frozen=True)
class NewEventDatesDone(Family, layout="newevent:dates_done"):
    """'No more dates' while /newevent collects dates."""


@dataclasses.dataclass(frozen=True)
class NewEventConfirm(Family, layout="newevent:{answer}"):
    """Publish or Discard under the new event's summary."""

    answer: Literal["publish", "discard"]


@dataclasses.dataclass(frozen=True)
class EditDate(Family, layout="editevent:date:{event_date_id}"):
    """A date in /editevent's pick list."""

    event_date_id: int


@dataclasses.dataclass(frozen=True)
class EditField(Family, layout="editevent:field:{field}"):
    """The field to change. Any word is taken (an unknown one ends the conversation quietly)."""

    field: Annotated[str, r"\w+"]


# ------------------------------------------------------------------ /stats


@dataclasses.dataclass(frozen=True)
class StatsChoice(Family, layout="stats:{action}:{area_id}:{view}:{year}"):
    """An area, a view or a year under a /stats answer. "pick" answers a question (which area?
    which year?) in place of it; "show" adds a message. An empty year is the area's latest."""

    action: Literal["pick", "show"]
    area_id: int
    view: View
    year: Annotated[str, r"(?:20\d\d-\d\d)?"]


@dataclasses.dataclass(frozen=True)
class StatsCompare(Family, layout="stats:vs:{area_id}:{other_id}:{year}"):
    """Under "Compare ... with which area?": set `other_id` beside `area_id` (in that order) in
    the year given, or the latest year both have when it is empty."""

    area_id: int
    other_id: int
    year: Annotated[str, r"(?:20\d\d-\d\d)?"]
