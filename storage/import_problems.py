"""What a file the operator imports at the terminal can be refused for: the published IAPT files
and their bundle (`campaign-bot stats import`, `build-bundle`, and the bot's first load), and a CSV
file of subscribers (`campaign-bot subscribers import`).

Either way the file is taken whole or not at all, so a refusal is one shape: `ImportRefused`,
holding each problem found with where it is (file, line, column) and a kind with the few facts
its words need. messages/_import_problem.txt words each kind, so no sentence is written here.
(An events file is refused differently, `storage.events.yaml_files.EventsFileError`: its problems
are the events domain's own refusals, placed by event and date rather than by line.)
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any


class ImportProblemKind(enum.StrEnum):
    # A file or folder as a whole.
    NOT_A_DIRECTORY = "not_a_directory"
    FILE_MISSING = "file_missing"
    FILE_EMPTY = "file_empty"
    NOT_UTF8_CSV = "not_utf8_csv"  # detail: the csv module's or the decoder's own account
    HEADER_LACKS = "header_lacks"  # columns
    HEADER_COLUMN_TWICE = "header_column_twice"
    WRONG_WIDTH = "wrong_width"  # expected, found
    # One cell (storage.iapt.strict_csv.CellError).
    NOT_A_NUMBER = "not_a_number"  # text, suppressed and blank: whether '*' and a blank would do
    NOT_A_DATE = "not_a_date"  # text
    NOT_A_FINANCIAL_YEAR = "not_a_financial_year"  # text
    NOT_A_MONTH = "not_a_month"  # text
    NOT_A_REFERENCE_DATE = "not_a_reference_date"  # text
    NOT_A_WHOLE_NUMBER = "not_a_whole_number"  # text
    # A row of the published figures, against the file's other rows or the layout.
    PERIOD_DATES = "period_dates"  # label, start, end, found
    PERIOD_BOTH_FREQUENCIES = "period_both_frequencies"  # label
    UNKNOWN_ORG_TYPE = "unknown_org_type"  # text
    EMPTY_CODE = "empty_code"
    UNEXPECTED_BREAKDOWN = "unexpected_breakdown"  # allowed, text
    TOTAL_WITH_VARIABLES = "total_with_variables"  # empty: the word for none in this file ("NULL", "empty")
    FIGURES_DIFFER = "figures_differ"  # earlier: the line of the same area, period and breakdown
    ENGLAND_ONLY = "england_only"
    UNKNOWN_MEASURE = "unknown_measure"  # measure
    FIGURE_TWICE = "figure_twice"  # earlier
    NO_GROUP_FOR = "no_group_for"  # member
    BREAKDOWN_TWICE = "breakdown_twice"  # breakdown, period
    MONTHLY_COLUMN_NAME = "monthly_column_name"
    MEASURE_NOT_DEFINED = "measure_not_defined"  # definitions: the metadata file, column
    PROVIDER_MONTH_TWICE = "provider_month_twice"  # earlier
    NO_DEFINITION = "no_definition"  # nhs_name, key
    ONS_CODE_TWICE = "ons_code_twice"  # ons, first, second
    LINK_TO_UNKNOWN_AREA = "link_to_unknown_area"  # from_area, to_area, missing
    # The embedded bundle.
    BUNDLE_UNREADABLE = "bundle_unreadable"  # detail
    BUNDLE_DAMAGED = "bundle_damaged"  # detail
    BUNDLE_VERSION = "bundle_version"
    BUNDLE_UNKNOWN_TABLE = "bundle_unknown_table"  # key, table_file
    BUNDLE_LACKS_TABLES = "bundle_lacks_tables"  # tables
    # A row of a subscribers CSV file.
    CSV_UNREADABLE = "csv_unreadable"  # detail
    NOT_ONE_CELL = "not_one_cell"  # cells: how many
    NOT_A_CHAT_ID = "not_a_chat_id"  # text
    CHAT_ID_OUT_OF_RANGE = "chat_id_out_of_range"  # chat_id


@dataclasses.dataclass(frozen=True)
class ImportProblem:
    """One problem and where it is: the file (None for a subscribers file, named by the command),
    the line and the column, as far as they are known."""

    kind: ImportProblemKind
    file: str | None = None
    line: int | None = None
    column: str | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class ImportRefused(ValueError):
    """A file that cannot be imported, with every problem found in it: nothing was written."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__("; ".join(_located(p) for p in problems))
        self.problems = problems

    @classmethod
    def one(cls, kind: ImportProblemKind, file: str | None = None, *, line: int | None = None,
            column: str | None = None, **details: Any) -> ImportRefused:
        return cls([ImportProblem(kind, file, line, column, details)])

    @property
    def first(self) -> ImportProblem:
        return self.problems[0]


def _located(problem: ImportProblem) -> str:
    """For logs and tracebacks only; what a person reads is the template's."""
    where = ", ".join(str(part) for part in (problem.file, problem.line, problem.column) if part is not None)
    return f"{where}: {problem.kind.value}" if where else problem.kind.value
