"""Reading the embedded bundle a row at a time (storage.iapt.loading writes it as it reads).

The bundle is one JSON document; decoding it in one call holds the GIL (and so the bot's event
loop) for a few hundred milliseconds on a busy machine, and holding its million figures as
Python objects at once makes every full garbage collection walk them. Read here, the header is
decoded at once (it is small) and the rows of figures one by one, by the standard decoder.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from storage.iapt.bundle import bundle_header
from storage.import_problems import ImportProblemKind as Kind
from storage.import_problems import ImportRefused


class JsonWalk:
    """Steps through a JSON document a member or an element at a time, each value decoded by the
    standard decoder, so that a large array is taken in slices instead of in one long call."""

    _SPACE = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self._decoder = json.JSONDecoder()

    def _next_char(self) -> str:
        self.at = self._SPACE.match(self.text, self.at).end()
        if self.at >= len(self.text):
            raise ValueError("the document ends too early")
        return self.text[self.at]

    def _expect(self, char: str) -> None:
        if self._next_char() != char:
            raise ValueError(f"expected {char!r} at character {self.at}")
        self.at += 1

    def value(self) -> Any:
        self._next_char()
        value, self.at = self._decoder.raw_decode(self.text, self.at)
        return value

    def _entries(self, opening: str, closing: str, *, keyed: bool) -> Iterator[str | None]:
        self._expect(opening)
        if self._next_char() == closing:
            self.at += 1
            return
        while True:
            if keyed:
                key = self.value()
                self._expect(":")
                yield key
            else:
                yield None
            char = self._next_char()
            self.at += 1
            if char == closing:
                return
            if char != ",":
                raise ValueError(f"expected ',' or {closing!r} at character {self.at - 1}")

    def members(self) -> Iterator[str]:
        """The keys of the object here; the caller reads (or walks) each value before the next."""
        return self._entries("{", "}", keyed=True)  # type: ignore[return-value]

    def elements(self) -> Iterator[None]:
        return self._entries("[", "]", keyed=False)  # type: ignore[return-value]


def inflate_bundle(path: Path) -> tuple[str, str]:
    """The bundle's JSON text, and the hash of the file, which names the load in its marker."""
    compressed = path.read_bytes()
    # hashlib and zlib let go of the GIL on data this large, so this thread runs beside the event loop.
    return gzip.decompress(compressed).decode("utf-8"), hashlib.sha256(compressed).hexdigest()


class BundleStream:
    """The bundle's header decoded at once (it is small), then its tables' rows one at a time.

    Holding the million figures as Python objects at once would leave the garbage collector
    hundreds of milliseconds of walking over them at each full collection; streamed, they never
    exist together. build_bundle writes "tables" last and, in each table, "rows" last.
    """

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self._walk = JsonWalk(text)
        self._members = self._walk.members()
        document: dict[str, Any] = {}
        try:
            for key in self._members:
                if key == "tables":
                    break
                document[key] = self._walk.value()
            else:
                raise ValueError("the bundle has no tables")
        except ValueError as error:
            raise ImportRefused.one(Kind.BUNDLE_UNREADABLE, name, detail=str(error)) from None
        self.header = bundle_header(name, document)

    def tables(self) -> Iterator[tuple[str, str, tuple[str, ...], Iterator[list[Any]]]]:
        """(key, file name, measures, raw rows) of each table; each table's rows must be read to
        the end before the next table comes."""
        walk = self._walk
        for _ in walk.elements():
            meta: dict[str, Any] = {}
            for member in walk.members():
                if member != "rows":
                    meta[member] = walk.value()
                    continue
                if not {"key", "file_name", "measures"} <= meta.keys():
                    raise ValueError("a table's rows come before its key, file name and measures")
                yield meta["key"], meta["file_name"], tuple(meta["measures"]), self._rows()

    def _rows(self) -> Iterator[list[Any]]:
        for _ in self._walk.elements():
            yield self._walk.value()
