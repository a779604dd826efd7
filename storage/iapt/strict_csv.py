"""A CSV file of the published layout read strictly, and its cells parsed: every problem is an
`ImportRefused` naming the file, the line and the column (a cell's problem first comes as a
`CellError`, which the reader places)."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

from storage.iapt.records import SUPPRESSED, Value
from storage.import_problems import ImportProblemKind as Kind
from storage.import_problems import ImportRefused

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_FINANCIAL_YEAR = re.compile(r"^(\d{4})-(\d{2})$")
_MONTHLY_COLUMN = re.compile(r"^(M\d{3})_((Count|Percentage|Mean|Median)_\w+)$")
_MID_YEAR = re.compile(r"^mid-(\d{4})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CellError(ValueError):
    """A cell that is not what its column holds: the kind and facts of an ImportProblem, not yet placed."""

    def __init__(self, kind: Kind, **details: object) -> None:
        super().__init__(kind.value)
        self.kind = kind
        self.details = details


class StrictCsv:
    """A CSV file read strictly: known header, one record per line, errors with line and column."""

    def __init__(self, directory: Path, name: str, required: tuple[str, ...]) -> None:
        self.name = name
        self.path = directory / name
        if not self.path.is_file():
            raise ImportRefused.one(Kind.FILE_MISSING, name)
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            try:
                self.header = next(csv.reader(handle))
            except StopIteration:
                raise ImportRefused.one(Kind.FILE_EMPTY, name, line=1) from None
            except (csv.Error, UnicodeDecodeError) as error:
                raise ImportRefused.one(Kind.NOT_UTF8_CSV, name, line=1, detail=str(error)) from None
        missing = [c for c in required if c not in self.header]
        if missing:
            raise ImportRefused.one(Kind.HEADER_LACKS, name, line=1, columns=missing)
        if len(set(self.header)) != len(self.header):
            raise ImportRefused.one(Kind.HEADER_COLUMN_TWICE, name, line=1)

    def records(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(line where the record starts, cells by column name) for every record after the header."""
        header, width = self.header, len(self.header)
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            try:
                next(reader)
                previous_end = reader.line_num
                for cells in reader:
                    line = previous_end + 1  # a quoted cell may span lines; report where the record starts
                    previous_end = reader.line_num
                    if not cells:
                        continue
                    if len(cells) != width:
                        raise ImportRefused.one(Kind.WRONG_WIDTH, self.name, line=line,
                                                column=str(min(len(cells), width) + 1),
                                                expected=width, found=len(cells))
                    yield line, dict(zip(header, cells, strict=True))
            except (csv.Error, UnicodeDecodeError) as error:
                raise ImportRefused.one(Kind.NOT_UTF8_CSV, self.name, line=reader.line_num + 1,
                                        detail=str(error)) from None

    def column(self, name: str) -> str:
        return f"{self.header.index(name) + 1} ({name})"

    def fail(self, line: int, column: str, kind: Kind, **details: object) -> ImportRefused:
        return ImportRefused.one(kind, self.name, line=line, column=self.column(column), **details)

    def fail_cell(self, line: int, column: str, error: CellError) -> ImportRefused:
        return self.fail(line, column, error.kind, **error.details)


def cell_value(text: str, *, allow_suppressed: bool, allow_blank: bool) -> Value:
    if _NUMBER.match(text):
        return float(text)
    if allow_suppressed and text == SUPPRESSED:
        return SUPPRESSED
    if allow_blank and text == "":
        return None
    raise CellError(Kind.NOT_A_NUMBER, text=text[:40], suppressed=allow_suppressed, blank=allow_blank)


def parse_date(text: str) -> dt.date:
    if _ISO_DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise CellError(Kind.NOT_A_DATE, text=text[:40])


def financial_year(label: str) -> tuple[dt.date, dt.date]:
    match = _FINANCIAL_YEAR.match(label)
    if not match or (int(match.group(1)) + 1) % 100 != int(match.group(2)):
        raise CellError(Kind.NOT_A_FINANCIAL_YEAR, text=label[:40])
    year = int(match.group(1))
    return dt.date(year, 4, 1), dt.date(year + 1, 3, 31)


def month_span(label: str) -> tuple[dt.date, dt.date]:
    try:
        start = dt.datetime.strptime(label, "%Y-%m").date()
    except ValueError:
        raise CellError(Kind.NOT_A_MONTH, text=label[:40]) from None
    following = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, following - dt.timedelta(days=1)
