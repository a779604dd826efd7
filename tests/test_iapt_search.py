"""Finding an area from what people type: names, codes, shorthand, typos, prefixes, ambiguity."""

from __future__ import annotations

import random

import pytest
import pytest_asyncio

from storage.iapt.report import StatsDesk
from storage.iapt.search import AreaEntry, AreaFinder, Choices, Found, NotFound, full_form, search_key, type_hints
from tests.iapt_support import loaded_database, requires_data

in_module_loop = pytest.mark.asyncio(loop_scope="module")


# -- the normalisation, and the finder on a handful of made-up areas ----------------------------


def test_names_are_normalised_for_matching():
    assert full_form("NHS Tower-Hamlets C.C.G.") == "nhs tower hamlets ccg"
    assert full_form("St John’s Health Centre") == full_form("ST JOHN'S HEALTH CENTRE") == "st johns health centre"
    assert full_form("Kingston Drug & Alcohol Service") == "kingston drug and alcohol service"
    assert search_key("NHS TOWER HAMLETS CCG") == "tower hamlets"
    assert search_key("NHS NORTH EAST LONDON INTEGRATED CARE BOARD") == "north east london"
    assert search_key("LONDON COMMISSIONING REGION") == "london"
    assert search_key("THE BLACK COUNTRY AND WEST BIRMINGHAM STP") == "black country and west birmingham"
    assert type_hints("somerset ccg") == {"CCG"} and type_hints("north east london icb") == {"ICB"}
    assert type_hints("tower hamlets") == frozenset()


def small_finder() -> AreaFinder:
    entries = [
        AreaEntry(1, "CCG", "08V", "NHS TOWER HAMLETS CCG", codes=("E38000186",)),
        AreaEntry(2, "CCG", "A3A8R", "NHS NORTH EAST LONDON CCG"),
        AreaEntry(3, "ICB", "QMF", "NHS NORTH EAST LONDON INTEGRATED CARE BOARD"),
        AreaEntry(4, "Provider", "RWK53", "TOWER HAMLETS TALKING THERAPIES", aliases=("JOHNSON STREET",)),
        AreaEntry(5, "CCG", "11X", "NHS SOMERSET CCG"),
        AreaEntry(6, "ICB", "QSL", "NHS SOMERSET INTEGRATED CARE BOARD"),
        AreaEntry(7, "CCG", "07N", "NHS BEXLEY CCG"),
    ]
    # 08V merged into A3A8R, which the ICB took over; RWK53 is 08V's local service.
    return AreaFinder(entries, preferred={1: [2], 2: [3], 4: [1]})


@pytest.mark.parametrize(("query", "code"), [
    ("tower hamlets", "08V"),
    ("tower", "08V"),  # a prefix shared with the local service: the geography is answered
    ("Tower Hamlets CCG", "08V"),
    ("e38000186", "08V"),
    ("johnson street", "RWK53"),
    ("tower hamlets talking therapies", "RWK53"),
    ("north east london", "QMF"),  # a merger's successor is answered for the shared name
    ("nhs north east london ccg", "A3A8R"),  # unless the full name is spelt out
    ("somerset ccg", "11X"),
    ("somerset icb", "QSL"),
])
def test_the_small_finder_answers(query, code):
    result = small_finder().find(query)
    assert isinstance(result, Found) and result.area.code == code


def test_the_small_finder_offers_choices_or_the_nearest():
    ambiguous = small_finder().find("somerset")
    assert isinstance(ambiguous, Choices) and {a.code for a in ambiguous.candidates} == {"11X", "QSL"}
    nothing = small_finder().find("qwertyuiop")
    assert isinstance(nothing, NotFound) and len(nothing.nearest) == 3
    assert len({a.id for a in nothing.nearest}) == 3


# -- the real index of every published area ----------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def finder(tmp_path_factory):
    async with loaded_database(tmp_path_factory.mktemp("search")) as db:
        index = await StatsDesk(db).index()
        assert index is not None
        yield index.finder


def found(finder, query) -> tuple[str, str]:
    result = finder.find(query)
    assert isinstance(result, Found), (query, result)
    return result.area.org_type, result.area.code


pytestmark = requires_data


@in_module_loop
@pytest.mark.parametrize("query", [
    "tower hamlets", "Tower Hamlets", "TOWER HAMLETS", "NHS Tower Hamlets C.C.G.", "tower hamlets ccg",
    "tower-hamlets", "tower hamlet", "towr hamlets", "tower hamlts", "tower", "08V", "08v", "E38000186",
    "E09000030",
])
async def test_tower_hamlets_is_found_however_it_is_typed(finder, query):
    assert found(finder, query) == ("CCG", "08V")


@in_module_loop
async def test_codes_shorthand_and_older_names(finder):
    assert found(finder, "RWK53") == ("Provider", "RWK53")
    assert found(finder, "johnson street") == ("Provider", "RWK53")  # its name until 2022-23
    assert found(finder, "A3A8R") == ("CCG", "A3A8R")
    assert found(finder, "QMF") == ("ICB", "QMF")  # the STP QMF became the ICB QMF
    assert found(finder, "north east london icb") == ("ICB", "QMF")
    assert found(finder, "nhs north east london ccg") == ("CCG", "A3A8R")
    assert found(finder, "Kingston Drug and Alcohol Service") == ("Provider", "TAF90")
    assert found(finder, "somerset ccg") == ("CCG", "11X")
    assert found(finder, "england") == ("England", "All")
    assert found(finder, "London") == ("Commissioning Region", "Y56")


@in_module_loop
async def test_several_good_matches_are_offered_as_choices(finder):
    result = finder.find("somerset")
    assert isinstance(result, Choices)
    offered = {(a.org_type, a.code) for a in result.candidates}
    assert {("CCG", "11X"), ("ICB", "QSL")} <= offered
    result = finder.find("nhs lincolnshire esat ccg")  # east or west?
    assert isinstance(result, Choices)
    assert [a.name for a in result.candidates][:2] == ["NHS LINCOLNSHIRE EAST CCG", "NHS LINCOLNSHIRE WEST CCG"]


@in_module_loop
async def test_no_match_gives_the_three_nearest_names(finder):
    result = finder.find("xyzzy plugh")
    assert isinstance(result, NotFound)
    assert len(result.nearest) == 3 and len({a.name for a in result.nearest}) == 3


def one_typo(text: str, rng: random.Random) -> str:
    i = rng.choice([i for i, c in enumerate(text) if c.isalpha() and i > 0])
    return text[:i] + text[i + 1:] if rng.random() < 0.5 else text[:i] + text[i] + text[i:]


@in_module_loop
async def test_at_least_98_percent_of_every_published_name_with_a_typo_reaches_its_area(finder):
    reached, total = 0, 0
    for entry in finder.entries.values():
        for name in (entry.name, *entry.aliases):
            query = one_typo(name, random.Random(f"{entry.code}:{name}")).lower()
            result = finder.find(query)
            total += 1
            if isinstance(result, Found):
                reached += result.area.id == entry.id
            elif isinstance(result, Choices):
                reached += entry.id in {a.id for a in result.candidates}
    assert total > 600
    assert reached / total >= 0.98
