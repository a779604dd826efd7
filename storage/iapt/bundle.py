"""The embedded bundle: the normalised data of the published files as one gzip JSON file
(the default under storage/iapt/data/), and reading it back into the same `IaptData`.

A database filled from the bundle and one filled from the files hold the same rows and the same
content hashes. The bot loads the bundle at its first start in many short transactions instead
(storage.iapt.loading, reading it a row at a time through storage.iapt.bundle_stream).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

from storage.iapt.reading import read_iapt_directory
from storage.iapt.records import (
    AreaKey,
    Breakdown,
    FigureTable,
    IaptData,
    LinkRecord,
    MeasureRecord,
    Period,
    PopulationRecord,
    Value,
)
from storage.iapt.tables import OGL_ATTRIBUTION, OGL_LICENCE
from storage.import_problems import ImportProblemKind as Kind
from storage.import_problems import ImportRefused

BUNDLE_PATH = Path(__file__).with_name("data") / "iapt_figures.json.gz"
BUNDLE_FORMAT = "campaign-bot/iapt-bundle"
BUNDLE_VERSION = 1


def _encode_value(value: Value) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def bundle_document(data: IaptData) -> dict[str, Any]:
    area_keys = sorted(data.areas)
    area_index = {key: i for i, key in enumerate(area_keys)}
    breakdowns = sorted(data.breakdowns())
    breakdown_index = {b: i for i, b in enumerate(breakdowns)}
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "licence": OGL_LICENCE,
        "attribution": OGL_ATTRIBUTION,
        "areas": [[*key, data.areas[key]] for key in area_keys],
        "periods": [[p.label, p.frequency, p.start_date.isoformat(), p.end_date.isoformat(), p.publication]
                    for p in sorted(data.periods.values(), key=lambda p: p.label)],
        "measures": [dataclasses.astuple(m) for m in sorted(data.measures.values(), key=lambda m: m.key)],
        "breakdowns": [list(b) for b in breakdowns],
        "aliases": sorted([area_index[area], kind, alias] for area, kind, alias in data.aliases),
        "links": [[area_index[link.from_area], area_index[link.to_area], link.kind,
                   link.effective_on.isoformat() if link.effective_on else None, link.cited_from]
                  for link in data.links],
        "populations": [[area_index[p.area] if p.area else None, p.geography_code, p.geography_name, p.reference,
                         p.reference_date.isoformat() if p.reference_date else None, p.value, p.kind, p.source,
                         p.source_detail, p.confidence] for p in data.populations],
        "tables": [{"key": t.key, "file_name": t.file_name, "measures": list(t.measures),
                    "rows": [[area_index[a], p, breakdown_index[b], *map(_encode_value, values)]
                             for a, p, b, values in sorted(t.rows, key=lambda r: (r[0], r[1], r[2]))]}
                   for t in data.tables],
    }


def build_bundle(directory: Path, out: Path) -> IaptData:
    """Read the published files and write the compact embedded default to `out` (gzip JSON)."""
    data = read_iapt_directory(directory)
    payload = json.dumps(bundle_document(data), separators=(",", ":"), ensure_ascii=False).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the file byte-identical when rebuilt from the same data.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out.open("wb"), mtime=0, compresslevel=9) as handle:
        handle.write(payload)
    return data


def read_bundle(path: Path = BUNDLE_PATH) -> IaptData:
    name = Path(path).name
    try:
        with gzip.open(path, "rb") as handle:
            document = json.loads(handle.read())
    except (OSError, ValueError) as error:
        raise ImportRefused.one(Kind.BUNDLE_UNREADABLE, name, detail=str(error)) from None
    header = bundle_header(name, document)
    try:
        tables = [FigureTable(table["key"], table["file_name"], tuple(table["measures"]),
                              bundle_rows(table["rows"], header)) for table in document["tables"]]
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise ImportRefused.one(Kind.BUNDLE_DAMAGED, name, detail=repr(error)) from None
    return dataclasses.replace(header.data, tables=tables)


@dataclasses.dataclass
class BundleHeader:
    """Everything in a bundle but its figures, and what decoding its rows of figures needs."""

    data: IaptData  # with no tables
    area_keys: list[AreaKey]
    breakdowns: list[Breakdown]


def bundle_header(name: str, document: dict[str, Any]) -> BundleHeader:
    """The bundle's document, less its `tables`, decoded; raises ImportRefused."""
    if document.get("format") != BUNDLE_FORMAT or document.get("version") != BUNDLE_VERSION:
        raise ImportRefused.one(Kind.BUNDLE_VERSION, name)
    try:
        area_keys: list[AreaKey] = [(org_type, code) for org_type, code, _names in document["areas"]]
        areas = {(org_type, code): list(names) for org_type, code, names in document["areas"]}
        periods = {label: Period(label, freq, dt.date.fromisoformat(start), dt.date.fromisoformat(end), pub)
                   for label, freq, start, end, pub in document["periods"]}
        measures = {row[0]: MeasureRecord(*row) for row in document["measures"]}
        breakdowns: list[Breakdown] = [tuple(b) for b in document["breakdowns"]]
        aliases = {(area_keys[i], kind, alias) for i, kind, alias in document["aliases"]}
        links = [LinkRecord(area_keys[a], area_keys[b], kind, dt.date.fromisoformat(on) if on else None, cited)
                 for a, b, kind, on, cited in document["links"]]
        populations = [PopulationRecord(area_keys[row[0]] if row[0] is not None else None, *row[1:4],
                                        dt.date.fromisoformat(row[4]) if row[4] else None, *row[5:])
                       for row in document["populations"]]
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise ImportRefused.one(Kind.BUNDLE_DAMAGED, name, detail=repr(error)) from None
    return BundleHeader(IaptData(areas, periods, measures, [], aliases, links, populations), area_keys, breakdowns)


def bundle_rows(rows: list[list[Any]], header: BundleHeader) -> list[tuple[AreaKey, str, Breakdown, tuple[Value, ...]]]:
    """A table's rows as the bundle stores them, as `FigureTable.rows` (raises on a damaged row)."""
    area_keys, breakdowns = header.area_keys, header.breakdowns
    return [(area_keys[row[0]], row[1], breakdowns[row[2]],
             tuple(float(v) if isinstance(v, int | float) else v for v in row[3:]))
            for row in rows]
