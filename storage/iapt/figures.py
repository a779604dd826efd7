"""The two kinds of number an answer to /stats holds, kept apart so that a template cannot show
a share campaign-bot calculated as if NHS Digital had published it: `Figure` (published) and
`Share` (derived here from published counts), with how each is written as digits."""

from __future__ import annotations

import dataclasses

from storage.iapt.tables import Unit


def format_number(value: float, unit: str) -> str:
    if unit == Unit.COUNT:
        return f"{round(value):,}"
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"


@dataclasses.dataclass(frozen=True)
class Figure:
    """One published figure: a value, or suppressed by NHS Digital, or absent from the data."""

    value: float | None
    suppressed: bool
    unit: str
    # The stored row holds something that is not a number (infinity, NaN, text): it is left out
    # of the answer and said to be unreadable, rather than failing the whole answer.
    unreadable: bool = False

    @property
    def available(self) -> bool:
        return self.value is not None

    @property
    def missing(self) -> bool:
        return self.value is None and not self.suppressed and not self.unreadable

    @property
    def number(self) -> str:
        """The value as digits ("10,270", "52.1"); empty when there is no value."""
        return "" if self.value is None else format_number(self.value, self.unit)

    @property
    def is_rate(self) -> bool:
        return self.unit == Unit.PERCENTAGE


ABSENT_COUNT = Figure(None, False, Unit.COUNT)


@dataclasses.dataclass(frozen=True)
class Share:
    """A percentage calculated by campaign-bot from published counts; never a published figure."""

    numerator: str  # measure keys, or "population"
    denominator: str
    value: float | None  # None when an input is suppressed or missing
    input_suppressed: bool = False

    @property
    def number(self) -> str:
        return "" if self.value is None else f"{self.value:.1f}"

    @staticmethod
    def of(numerator_key: str, numerator: Figure | int | None, denominator_key: str,
           denominator: Figure | int | None) -> Share:
        def value_of(x):
            return x.value if isinstance(x, Figure) else x

        top, bottom = value_of(numerator), value_of(denominator)
        suppressed = any(isinstance(x, Figure) and x.suppressed for x in (numerator, denominator))
        if top is None or bottom in (None, 0):
            return Share(numerator_key, denominator_key, None, suppressed)
        return Share(numerator_key, denominator_key, round(100 * top / bottom, 1))
