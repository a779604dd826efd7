"""/stats inside the bot: one `StatsDesk` for every chat, the per-person limits, and the
bundled figures loaded in the background the first time the bot starts on an empty database
(in short transactions, storage.iapt.loading, so that everyone else is answered meanwhile).

Started from `on_startup` and stopped from `on_shutdown` (before the database closes); kept on
`Services.stats` for the handlers. Nothing here knows about Telegram messages: the handlers in
`bot/handlers/stats.py` turn what it returns into them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Hashable
from pathlib import Path
from typing import ClassVar

from bot.memory import return_freed_memory
from bot.telegram_io.rate_limiter import SlidingWindowLimiter
from storage.db import Database
from storage.iapt.answers import AreaAnswer, ChoicesAnswer, NotFoundAnswer, StatsAnswer, View
from storage.iapt.bundle import BUNDLE_PATH
from storage.iapt.links import read_start_parameter
from storage.iapt.loading import BundleLoader, LoadHeldElsewhere, LoadStopped
from storage.iapt.report import StatsDesk

logger = logging.getLogger(__name__)

# An inline query goes out at each pause in typing, so "@bot tower hamlets" costs several; one
# question typed inline may cost this many of them before the limit refuses.
INLINE_QUERIES_PER_QUESTION = 3
LIMIT_WINDOW_SECONDS = 60.0
INLINE_RESULTS = 5  # areas offered when several match
# While another process loads the figures, how often to look whether it has finished (or died).
LOAD_WAIT_SECONDS = 0.5
# A load asked to stop stops at its next pause, within a transaction's time; this is the limit.
LOAD_STOP_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class SlowDown:
    """The person asked more than their share this minute."""

    html_template: ClassVar[str] = "stats_slow_down.html"
    limit: int  # questions a minute
    retry_after: int  # seconds
    first_refusal: bool  # later refusals of the same stretch are not answered


@dataclasses.dataclass(frozen=True)
class StillLoading:
    """The bundled figures are being loaded (the bot's first start on this database)."""

    html_template: ClassVar[str] = "stats_loading.html"


@dataclasses.dataclass(frozen=True)
class StatsUnavailable:
    """An answer that could not be made or shown from the stored figures (a corrupt row, an area
    name too long for a message): logged, and the person told so, instead of silence or an error."""

    html_template: ClassVar[str] = "stats_unavailable.html"
    area_name: str | None = None  # the area asked about, when it is known


Reply = StatsAnswer | SlowDown | StillLoading | StatsUnavailable


async def _answer_or_apology(making: Awaitable[StatsAnswer], *, what: str) -> Reply:
    """The answer, or StatsUnavailable if making it raised: a row that cannot be handled costs
    its own answer only, never the others, and is never retried in a loop."""
    try:
        return await making
    except Exception:
        logger.exception("a /stats answer could not be made (%s); the asker was told", what)
        return StatsUnavailable()


class StatsService:
    def __init__(self, db: Database, *, per_user_per_minute: int, load_bundle: bool, holder: str | None = None,
                 bundle: Path = BUNDLE_PATH) -> None:
        self.desk = StatsDesk(db, after_loading=return_freed_memory)
        self.db = db
        self.load_bundle = load_bundle
        self.loader = BundleLoader(db, bundle, holder=holder)
        self.questions = SlidingWindowLimiter(per_user_per_minute, LIMIT_WINDOW_SECONDS)
        self.inline_queries = SlidingWindowLimiter(per_user_per_minute * INLINE_QUERIES_PER_QUESTION,
                                                   LIMIT_WINDOW_SECONDS)
        self._loading: asyncio.Task | None = None
        self._stopping = asyncio.Event()

    @property
    def loading(self) -> bool:
        """True until the bundled figures are all in, whichever process of this bot loads them."""
        return self._loading is not None and not self._loading.done()

    def start(self) -> None:
        """Begin loading the bundled figures if the database has none, or has a load that broke
        off, and loading is enabled. The load is this object's task, which `stop` awaits."""
        if self.load_bundle:
            self._loading = asyncio.create_task(self._load_bundle(), name="stats-bundle-load")

    async def wait_until_loaded(self) -> None:
        """Return once no load runs here (done, failed, or never started)."""
        if self._loading is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._loading)

    async def stop(self) -> None:
        """Stop a load still running, between two of its transactions: the ones committed stay,
        and the next start carries on from there."""
        if self._loading is not None and not self._loading.done():
            self._stopping.set()
            self.loader.stop_soon()
            try:
                await asyncio.wait_for(asyncio.shield(self._loading), LOAD_STOP_SECONDS)
            except TimeoutError:
                self._loading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._loading
            await self.loader.release()
        self._loading = None

    async def _load_bundle(self) -> None:
        while True:
            try:
                summary = await self.loader.load()
            except LoadHeldElsewhere:
                # Another process of this bot is loading them; this one says "loading" until it is done,
                # and takes over if that process dies (its lease runs out).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), LOAD_WAIT_SECONDS)
                if self._stopping.is_set():
                    return
                continue
            except LoadStopped:
                return
            except Exception:
                # /stats then says no figures are loaded and how to load them.
                logger.exception("could not load the bundled IAPT figures")
                await self.loader.release()
                return
            break
        self.desk.forget_index()
        if summary is not None:
            log = self.loader.log
            logger.info("loaded the bundled IAPT figures: %d figures in %d transactions, at most %d figures "
                        "and %.0f ms each", summary.figures_written, log.transactions, log.most_figures,
                        log.longest_seconds * 1000)

    def _refusal(self, limiter: SlidingWindowLimiter, person: Hashable) -> Reply | None:
        if self.loading:
            return StillLoading()
        decision = limiter.check(person)
        if decision.allowed:
            return None
        return SlowDown(limiter.limit, decision.retry_after, decision.first_refusal)

    async def answer(self, person: Hashable, text: str) -> Reply:
        """The answer to `/stats <text>` asked by `person`, within their limit."""
        return (self._refusal(self.questions, person)
                or await _answer_or_apology(self.desk.answer(text), what="a typed question"))

    async def answer_for_area(self, person: Hashable, area_id: int, *, view: View,
                              year: str | None) -> Reply:
        """The answer for an area chosen with a button."""
        return (self._refusal(self.questions, person)
                or await _answer_or_apology(self.desk.answer_for_area(area_id, view=view, year=year),
                                            what=f"area {area_id}, {view.value}"))

    async def compare(self, person: Hashable, left_id: int, right_id: int, *, year: str | None) -> Reply:
        """Two areas chosen with buttons, side by side."""
        return (self._refusal(self.questions, person)
                or await _answer_or_apology(self.desk.compare(left_id, right_id, year=year),
                                            what=f"areas {left_id} and {right_id}"))

    async def answer_link(self, person: Hashable, start_parameter: str) -> Reply:
        """The full answer a deep link (`/start stats-…`) asks for, within the person's limit."""
        link = read_start_parameter(start_parameter)
        if link is None:
            return NotFoundAnswer(start_parameter[:64], ())
        return (self._refusal(self.questions, person)
                or await _answer_or_apology(self.desk.answer_link(link), what="a deep link"))

    async def answer_inline(self, person: Hashable, text: str) -> tuple[Reply, ...]:
        """The answers to offer for `@bot <text>` typed in any chat (its own, more generous, limit).

        Several matching areas, or none, become the answers for each candidate or nearest name:
        in inline mode the list of results is the way to choose.
        """
        refusal = self._refusal(self.inline_queries, person)
        if refusal is not None:
            return (refusal,)
        answer = await _answer_or_apology(self.desk.answer(text), what="an inline question")
        if isinstance(answer, AreaAnswer) and answer.latest and answer.newest_year and answer.offers:
            # Old figures (a CCG that merged): what is current comes first, the area's own after it.
            current = await _answer_or_apology(self.desk.answer_for_area(answer.offers[0].id),
                                               what=f"area {answer.offers[0].id}, inline")
            return (current, answer)
        if isinstance(answer, ChoicesAnswer):
            areas, view, year = answer.candidates, answer.view, answer.year
        elif isinstance(answer, NotFoundAnswer) and answer.nearest:
            areas, view, year = answer.nearest, View.SUMMARY, None
        else:
            return (answer,)
        return tuple([await _answer_or_apology(self.desk.answer_for_area(area.id, view=view, year=year),
                                               what=f"area {area.id}, inline")
                      for area in areas[:INLINE_RESULTS]])
