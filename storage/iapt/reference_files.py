"""The published files that name and define rather than count: the measures' definitions, NHS
England's providers, the ONS-to-ODS lookups of CCG codes and the populations; and the other names
and the links between areas that `storage.iapt.reading.read_iapt_directory` builds from them.

Each is parsed as strictly as the figure files (`storage.iapt.strict_csv`), refusing the first
malformed cell with its file, line and column.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from storage.iapt.records import AreaKey, LinkRecord, MeasureRecord, PopulationRecord
from storage.iapt.search import search_key
from storage.iapt.strict_csv import CellError, StrictCsv, parse_date
from storage.iapt.tables import (
    CURATED_AREA_LINKS,
    CURATED_SAME_AREAS,
    PROVIDER_ICB_CITATION,
    STP_TO_ICB_CITATION,
    STP_TO_ICB_DATE,
    AliasKind,
    Frequency,
    LinkKind,
    OrgType,
    Unit,
)
from storage.import_problems import ImportProblemKind as Kind
from storage.import_problems import ImportRefused

ANNUAL_METADATA_FILE = "metadata_measures_annual.csv"
MONTHLY_METADATA_FILE = "metadata_measures_monthly.csv"
PROVIDERS_FILE = "metadata_providers.csv"
CCG20_LOOKUP_FILE = "lookup_ccg20_ons_to_ods.csv"
CCG21_LOOKUP_FILE = "lookup_ccg21_ons_to_ods.csv"
CCG21_POPULATION_FILE = "ccg21_population_ons.csv"
POPULATION_FILE = "population.csv"

CCG21_POPULATION = {
    "reference": "year not stated",
    "kind": "ONS clinical commissioning group mid-year population estimate, all ages",
    "source": "github:open-innovations/mental-health-data-map data/ons-population-estimates.csv "
              "@ e394749017cea905afc75c0504307c9240a56a4e",
    "source_detail": "ONS 'Clinical commissioning group mid-year population estimates' for the 106 April-2021 "
                     "CCGs. The year is not stated; SOURCE.md says probably mid-2020, unverified.",
    "confidence": "year unverified",
}

_MID_YEAR = re.compile(r"^mid-(\d{4})$")



def annual_definitions(directory: Path, keys: tuple[str, ...]) -> dict[str, MeasureRecord]:
    """The definition of each annual measure in `keys`, from the annual metadata file."""
    source = StrictCsv(directory, ANNUAL_METADATA_FILE,
                       ("reporting_period", "dataset_name", "field_name", "description"))
    fields: dict[str, tuple[str, str]] = {}
    for _line, row in source.records():
        if row["dataset_name"] == "measures_annual":
            fields[row["field_name"]] = (row["description"].strip(), row["reporting_period"])
    measures: dict[str, MeasureRecord] = {}
    for key in keys:
        stem, statistic = key.rsplit("_", 1)
        nhs_name = f"{statistic.capitalize()}_{''.join(part.capitalize() for part in stem.split('_'))}"
        if nhs_name not in fields:
            raise ImportRefused.one(Kind.NO_DEFINITION, ANNUAL_METADATA_FILE, nhs_name=nhs_name, key=key)
        description, year = fields[nhs_name]
        unit = Unit.COUNT if statistic == "count" else Unit.PERCENTAGE
        measures[key] = MeasureRecord(key, Frequency.ANNUAL.value, unit.value, nhs_name, description,
                                      f"{ANNUAL_METADATA_FILE} (NHS Digital, {year}), field {nhs_name}")
    return measures

def monthly_definitions(directory: Path) -> dict[str, tuple[str, str]]:
    """Monthly measure id -> (its NHS name, its description)."""
    source = StrictCsv(directory, MONTHLY_METADATA_FILE, ("measure_id", "measure_name", "description"))
    return {row["measure_id"]: (row["measure_name"], row["description"].strip()) for _l, row in source.records()}

def ons_codes(directory: Path) -> list[tuple[int, str, str, str]]:
    """(line, file, ONS code, ODS code) of every CCG in both lookups."""
    found = []
    for name, year in ((CCG20_LOOKUP_FILE, "20"), (CCG21_LOOKUP_FILE, "21")):
        source = StrictCsv(directory, name, (f"CCG{year}CD", f"CCG{year}CDH", f"CCG{year}NM"))
        for line, row in source.records():
            found.append((line, name, row[f"CCG{year}CD"], row[f"CCG{year}CDH"]))
    return found

def providers(directory: Path) -> dict[str, tuple[str, str]]:
    """Provider code -> (its name, the ICB code NHS England's lookup files it under, or "")."""
    source = StrictCsv(directory, PROVIDERS_FILE, ("org_code", "org_name", "icb_code"))
    return {row["org_code"]: (row["org_name"], row["icb_code"]) for _line, row in source.records()}

def populations(directory: Path, ons_to_ods: dict[str, str]) -> list[PopulationRecord]:
    records: list[PopulationRecord] = []
    source = StrictCsv(directory, POPULATION_FILE, ("area_name", "area_code", "reference_date", "kind",
                                                    "population", "source", "source_detail", "confidence"))
    for line, row in source.records():
        reference = row["reference_date"]
        mid_year = _MID_YEAR.match(reference)
        try:
            when = dt.date(int(mid_year.group(1)), 6, 30) if mid_year else parse_date(reference)
        except CellError:
            raise source.fail(line, "reference_date", Kind.NOT_A_REFERENCE_DATE, text=reference[:40]) from None
        if not row["population"].isdigit():
            raise source.fail(line, "population", Kind.NOT_A_WHOLE_NUMBER, text=row["population"][:40])
        records.append(PopulationRecord(
            CURATED_SAME_AREAS.get(row["area_code"]), row["area_code"], row["area_name"], reference, when,
            int(row["population"]), row["kind"], row["source"], row["source_detail"], row["confidence"],
        ))
    source = StrictCsv(directory, CCG21_POPULATION_FILE, ("CCG Code", "CCG Name", "All Ages"))
    for line, row in source.records():
        if not row["All Ages"].isdigit():
            raise source.fail(line, "All Ages", Kind.NOT_A_WHOLE_NUMBER, text=row["All Ages"][:40])
        ods = ons_to_ods.get(row["CCG Code"])
        records.append(PopulationRecord(
            (OrgType.CCG.value, ods) if ods else None, row["CCG Code"], row["CCG Name"],
            CCG21_POPULATION["reference"], None, int(row["All Ages"]), CCG21_POPULATION["kind"],
            CCG21_POPULATION["source"], CCG21_POPULATION["source_detail"], CCG21_POPULATION["confidence"],
        ))
    return records


def other_names(directory: Path, areas: dict[AreaKey, list[str]], providers: dict[str, tuple[str, str]],
                ) -> tuple[set[tuple[AreaKey, str, str]], dict[str, str]]:
    """The names and codes an area is also known by (older published names, ODS names, ONS codes),
    and the ONS-to-ODS map of CCG codes; `areas` gives each area's names, newest first."""
    aliases: set[tuple[AreaKey, str, str]] = set()
    for key, names in areas.items():
        for older in names[1:]:
            aliases.add((key, AliasKind.PUBLISHED_NAME.value, older))
    for code, (name, _icb) in providers.items():
        key = (OrgType.PROVIDER.value, code)
        if key in areas and search_key(name) not in {search_key(n) for n in areas[key]}:
            aliases.add((key, AliasKind.ODS_NAME.value, name))
    ons_to_ods: dict[str, str] = {}
    for line, name, ons, ods in ons_codes(directory):
        if ons_to_ods.setdefault(ons, ods) != ods:
            raise ImportRefused.one(Kind.ONS_CODE_TWICE, name, line=line, ons=ons, first=ons_to_ods[ons], second=ods)
        if (OrgType.CCG.value, ods) in areas:
            aliases.add(((OrgType.CCG.value, ods), AliasKind.ONS_CODE.value, ons))
    for ons, area in CURATED_SAME_AREAS.items():
        if area in areas:
            aliases.add((area, AliasKind.SAME_AREA_CODE.value, ons))
    return aliases, ons_to_ods


def links_between(areas: dict[AreaKey, list[str]], providers: dict[str, tuple[str, str]]) -> list[LinkRecord]:
    """The curated links, each STP succeeded by its ICB, and each ICB's services (NHS England's lookup)."""
    links = [LinkRecord(link.from_area, link.to_area, link.kind.value, link.effective_on, link.cited_from)
             for link in CURATED_AREA_LINKS]
    for org_type, code in areas:
        if org_type == OrgType.STP and (OrgType.ICB.value, code) in areas and code != "UNKNOWN":
            links.append(LinkRecord((org_type, code), (OrgType.ICB.value, code), LinkKind.SUCCEEDED_BY.value,
                                    STP_TO_ICB_DATE, STP_TO_ICB_CITATION))
    # Only between areas the figures have: the lookup also names ICBs of 2026 mergers with no figures yet.
    links += [LinkRecord((OrgType.ICB.value, icb), (OrgType.PROVIDER.value, code), LinkKind.ICB_SERVICE.value,
                         None, PROVIDER_ICB_CITATION)
              for code, (_name, icb) in sorted(providers.items())
              if (OrgType.ICB.value, icb) in areas and (OrgType.PROVIDER.value, code) in areas]
    return links
