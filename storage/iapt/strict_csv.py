"""A CSV file of the published layout read strictly, and its cells parsed: every problem is an
IaptImportError naming the file, the line and the column."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

from storage.iapt.records import SUPPRESSED, IaptImportError, Value

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_FINANCIAL_YEAR = re.compile(r"^(\d{4})-(\d{2})$")
_MONTHLY_COLUMN = re.compile(r"^(M\d{3})_((Count|Percentage|Mean|Median)_\w+)$")
_MID_YEAR = re.compile(r"^mid-(\d{4})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CellError(ValueError):
    pass


class StrictCsv:
    """A CSV file read strictly: known header, one record per line, errors with line and column."""

    def __init__(self, directory: Path, name: str, required: tuple[str, ...]) -> None:
        self.name = name
        self.path = directory / name
        if not self.path.is_file():
            raise IaptImportError(name, "the file is missing from the directory")
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            try:
                self.header = next(csv.reader(handle))
            except StopIteration:
                raise IaptImportError(name, "the file is empty", line=1) from None
            except (csv.Error, UnicodeDecodeError) as error:
                raise IaptImportError(name, f"not readable as UTF-8 CSV: {error}", line=1) from None
        missing = [c for c in required if c not in self.header]
        if missing:
            raise IaptImportError(name, f"the header lacks the column(s) {', '.join(missing)}", line=1)
        if len(set(self.header)) != len(self.header):
            raise IaptImportError(name, "the header names a column twice", line=1)

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
                        raise IaptImportError(self.name, f"expected {width} cells, found {len(cells)}", line=line,
                                              column=str(min(len(cells), width) + 1))
                    yield line, dict(zip(header, cells, strict=True))
            except (csv.Error, UnicodeDecodeError) as error:
                raise IaptImportError(self.name, f"not readable as UTF-8 CSV: {error}",
                                      line=reader.line_num + 1) from None

    def column(self, name: str) -> str:
        return f"{self.header.index(name) + 1} ({name})"

    def fail(self, line: int, column: str, problem: str) -> IaptImportError:
        return IaptImportError(self.name, problem, line=line, column=self.column(column))


def cell_value(text: str, *, allow_suppressed: bool, allow_blank: bool) -> Value:
    if _NUMBER.match(text):
        return float(text)
    if allow_suppressed and text == SUPPRESSED:
        return SUPPRESSED
    if allow_blank and text == "":
        return None
    expected = "a number" + (" or '*'" if allow_suppressed else "") + (" or blank" if allow_blank else "")
    raise CellError(f"expected {expected}, found {text[:40]!r}")


def parse_date(text: str) -> dt.date:
    if _ISO_DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise CellError(f"expected a date YYYY-MM-DD, found {text[:40]!r}")


def financial_year(label: str) -> tuple[dt.date, dt.date]:
    match = _FINANCIAL_YEAR.match(label)
    if not match or (int(match.group(1)) + 1) % 100 != int(match.group(2)):
        raise CellError(f"expected a financial year such as 2018-19, found {label[:40]!r}")
    year = int(match.group(1))
    return dt.date(year, 4, 1), dt.date(year + 1, 3, 31)


def month_span(label: str) -> tuple[dt.date, dt.date]:
    try:
        start = dt.datetime.strptime(label, "%Y-%m").date()
    except ValueError:
        raise CellError(f"expected a month such as 2026-03, found {label[:40]!r}") from None
    following = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, following - dt.timedelta(days=1)
