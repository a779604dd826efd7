"""Finding an IAPT area from what someone types: a name, a code, a shorthand, a typo.

Names are compared in two forms. The *full* form is the name in lower case with '&' read as
'and' and punctuation removed ("nhs tower hamlets ccg"). The *key* form also drops the words
that only say what kind of body it is (NHS, CCG, ICB, STP, "integrated care board", …), so
"Tower Hamlets" and "NHS TOWER HAMLETS CCG" meet at "tower hamlets".

A query is tried, in order, as an ODS or ONS code, as an exact name, as the start of names,
and as a fuzzy match (rapidfuzz). Words such as "ccg" or "icb" in the query prefer areas of
that type. When several areas match and they are one lineage (a CCG that merged into another,
an STP that became an ICB, a CCG and its local Talking Therapies service), the one answer
that leads to the others is chosen: the latest successor of a merger, the geography rather
than its service. Otherwise the caller gets candidates to choose from, or the three nearest
names when nothing matches well enough.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
import sys
from array import array
from collections.abc import Iterable, Mapping

from rapidfuzz import fuzz, process

# Words that say what kind of body an area is, not which one. Multi-word phrases first.
ORG_WORDS = (
    "integrated care board",
    "clinical commissioning group",
    "commissioning region",
    "sub icb location",
    "nhs",
    "ccg",
    "icb",
    "stp",
    "ics",
)
# Query words that say which type of area is meant.
TYPE_HINTS = {
    "ccg": "CCG",
    "clinical commissioning group": "CCG",
    "icb": "ICB",
    "integrated care board": "ICB",
    "stp": "STP",
    "region": "Commissioning Region",
    "commissioning region": "Commissioning Region",
    "provider": "Provider",
    "service": "Provider",
}

_JOINING = re.compile(r"[.'’]")
_PUNCTUATION = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
_ORG_WORDS = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in ORG_WORDS) + r")\b")
_TYPE_HINTS = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(TYPE_HINTS, key=len, reverse=True)) + r")\b")
_CODE = re.compile(r"^[A-Za-z0-9]{3,9}$")

# Match scores, 0-100: fuzzy ones are rapidfuzz ratios of the normalised forms.
EXACT = 99.0  # a code, an exact name, or the start of names
EXACT_IN_FULL = 100.0  # the query's full form, org words and all, is exactly the area's name
FUZZY_ACCEPT = 80.0  # below this a best match is not an answer, only a suggestion
FUZZY_CLEAR_LEAD = 4.0  # a best match this far ahead of the next area is taken alone
FUZZY_LIMIT = 40  # forms scored per query form; enough for three distinct nearest areas
MIN_PREFIX = 3  # shorter queries are too vague to read as the start of a name
MIN_WORDS = 4  # shorter queries are too vague to look for among the words of names
MAX_CHOICES = 6
NEAREST = 3


def full_form(text: str) -> str:
    """Lower case, '&' as 'and', dots and apostrophes dropped ("C.C.G." is "ccg", "John's" is
    "johns"), other punctuation as spaces, single spaces."""
    text = text.lower().replace("&", " and ").replace("_", " ")
    text = _JOINING.sub("", text)
    text = _PUNCTUATION.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def search_key(text: str) -> str:
    """The full form without the words that only name the kind of body, nor a leading 'the'."""
    key = _ORG_WORDS.sub(" ", full_form(text))
    key = _SPACES.sub(" ", key).strip()
    if key.startswith("the "):
        key = key[4:]
    return key


def type_hints(text: str) -> frozenset[str]:
    return frozenset(TYPE_HINTS[m.group(0)] for m in _TYPE_HINTS.finditer(full_form(text)))


@dataclasses.dataclass(frozen=True, slots=True)
class AreaEntry:
    """What the finder knows of one area."""

    id: int
    org_type: str
    code: str
    name: str
    # Other names and codes the area is known by (older names, ONS codes, …).
    aliases: tuple[str, ...] = ()
    # Codes that identify it outright (ODS code, ONS codes).
    codes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Found:
    area: AreaEntry
    how: str  # "code", "name", "prefix", "fuzzy"


@dataclasses.dataclass(frozen=True)
class Choices:
    candidates: tuple[AreaEntry, ...]


@dataclasses.dataclass(frozen=True)
class NotFound:
    nearest: tuple[AreaEntry, ...]


SearchResult = Found | Choices | NotFound


class AreaFinder:
    """An in-memory index of every area's names; `find` takes well under a millisecond."""

    def __init__(self, entries: Iterable[AreaEntry], *, preferred: Mapping[int, Iterable[int]] | None = None) -> None:
        """`preferred[a]` lists areas to answer with instead of `a` when both match (see module doc)."""
        self.entries: dict[int, AreaEntry] = {}
        by_code: dict[str, list[int]] = {}
        choices: list[str] = []
        owners: list[int] = []
        exact: dict[str, set[int]] = {}
        full_exact: dict[str, set[int]] = {}
        for entry in entries:
            self.entries[entry.id] = entry
            for code in {entry.code, *entry.codes}:
                by_code.setdefault(sys.intern(code.upper()), []).append(entry.id)
            forms: set[str] = set()
            for name in (entry.name, *entry.aliases):
                forms.add(full_form(name))
                forms.add(search_key(name))
                full_exact.setdefault(sys.intern(full_form(name)), set()).add(entry.id)
            forms.discard("")
            for form in forms:
                form = sys.intern(form)  # one string object per form, however many tables hold it
                exact.setdefault(form, set()).add(entry.id)
                choices.append(form)
                owners.append(entry.id)
        # Kept compact: tuples and arrays of ids rather than sets and lists of boxed tuples.
        self._by_code = {code: tuple(ids) for code, ids in by_code.items()}
        self._exact = {form: tuple(ids) for form, ids in exact.items()}
        self._full_exact = {form: tuple(ids) for form, ids in full_exact.items()}
        self._choices = choices
        self._owners = array("q", owners)
        # Sorted forms, for finding every name that starts with the query by bisection.
        order = sorted(range(len(choices)), key=lambda i: (choices[i], owners[i]))
        self._sorted_forms = [choices[i] for i in order]
        self._sorted_owners = array("q", (owners[i] for i in order))
        self._preferred = self._close_preferences(preferred or {})

    @staticmethod
    def _close_preferences(preferred: Mapping[int, Iterable[int]]) -> dict[int, frozenset[int]]:
        """Every area reachable through `preferred`, so lineages of any length collapse."""
        closed: dict[int, frozenset[int]] = {}
        for start in preferred:
            seen: set[int] = set()
            stack = list(preferred[start])
            while stack:
                area = stack.pop()
                if area in seen or area == start:
                    continue
                seen.add(area)
                stack.extend(preferred.get(area, ()))
            closed[start] = frozenset(seen)
        return closed

    def find(self, query: str) -> SearchResult:
        hints = type_hints(query)
        raw = query.strip()
        if _CODE.match(raw) and raw.upper() in self._by_code:
            return self._decide(dict.fromkeys(self._by_code[raw.upper()], EXACT), hints, how="code")
        full, key = full_form(raw), search_key(raw)
        if not full:
            return NotFound(())
        exact = {*self._exact.get(full, ()), *self._exact.get(key, ())}
        if exact:
            scores = dict.fromkeys(exact, EXACT)
            if full != key:
                # The query spelt out the kind of body ("… ICS", "NHS … CCG"): an area whose full
                # name is exactly that beats areas that only share the place name.
                for area in self._full_exact.get(full, ()):
                    scores[area] = EXACT_IN_FULL
            return self._decide(scores, hints, how="name")
        if len(key) >= MIN_PREFIX:
            starting = self._starting_with(key) | self._starting_with(full)
            if starting:
                return self._decide(dict.fromkeys(starting, EXACT), hints, how="prefix")
        if len(key) >= MIN_WORDS:
            # "hackney" for "NHS CITY AND HACKNEY CCG": whole words inside a name. The geography is
            # meant rather than a service named after it, unless the query asks for a service.
            containing = self._containing_words(key)
            places = {a for a in containing if self.entries[a].org_type != "Provider"}
            if containing:
                chosen = containing if "Provider" in hints or not places else places
                return self._decide(dict.fromkeys(chosen, EXACT), hints, how="words")
        return self._fuzzy(full, key, hints)

    def _containing_words(self, words: str) -> set[int]:
        needle = f" {words} "
        return {owner for form, owner in zip(self._choices, self._owners, strict=True) if needle in f" {form} "}

    def _starting_with(self, prefix: str) -> set[int]:
        found: set[int] = set()
        index = bisect.bisect_left(self._sorted_forms, prefix)
        while index < len(self._sorted_forms) and self._sorted_forms[index].startswith(prefix):
            found.add(self._sorted_owners[index])
            index += 1
        return found

    def _fuzzy(self, full: str, key: str, hints: frozenset[str]) -> SearchResult:
        best: dict[int, float] = {}
        for query in {full, key} - {""}:
            for _form, score, index in process.extract(query, self._choices, scorer=fuzz.ratio, limit=FUZZY_LIMIT):
                area = self._owners[index]
                best[area] = max(score, best.get(area, 0.0))
        if hints:
            best = {a: s for a, s in best.items() if self.entries[a].org_type in hints} or best
        ranked = sorted(best.items(), key=lambda item: (-item[1], self.entries[item[0]].name))
        if not ranked or ranked[0][1] < FUZZY_ACCEPT:
            return NotFound(self._distinct_names(area for area, _ in ranked))
        top = ranked[0][1]
        return self._decide({area: score for area, score in ranked if score >= top - FUZZY_CLEAR_LEAD}, hints,
                            how="fuzzy")

    def _decide(self, scores: dict[int, float], hints: frozenset[str], *, how: str) -> SearchResult:
        if hints:
            scores = {a: s for a, s in scores.items() if self.entries[a].org_type in hints} or scores
        # Drop every candidate that another candidate, matched at least as well, leads on from.
        candidates = [a for a in scores
                      if not any(scores.get(b, -1.0) >= scores[a] for b in self._preferred.get(a, ()))]
        top = max(scores[a] for a in candidates)
        leaders = [a for a in candidates if scores[a] == top]
        if len(candidates) == 1 or (how == "name" and len(leaders) == 1):
            return Found(self.entries[leaders[0]], how)
        candidates.sort(key=lambda a: (-scores[a], len(self.entries[a].name), self.entries[a].name))
        return Choices(tuple(self.entries[a] for a in candidates[:MAX_CHOICES]))

    def _distinct_names(self, areas: Iterable[int]) -> tuple[AreaEntry, ...]:
        seen: set[str] = set()
        nearest: list[AreaEntry] = []
        for area in areas:
            entry = self.entries[area]
            if entry.name in seen:
                continue
            seen.add(entry.name)
            nearest.append(entry)
            if len(nearest) == NEAREST:
                break
        return tuple(nearest)
