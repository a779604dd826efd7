"""The reminder scheduler: jobs derived from the reminders table, rebuilt at every start-up.

The database decides what is due (`storage.events.reminders.fire_due_reminders`); the scheduler only
decides when to look. Each PENDING reminder has one job in python-telegram-bot's JobQueue
(APScheduler), named `reminder:<id>` and carrying nothing but that id; when it runs it settles
whatever is due by the injected clock. A job that runs twice, late, or after a restart does the
right thing, because a reminder row leaves PENDING only once. A sweep every minute settles
anything whose job was lost, so nothing waits for the next start-up.

Jobs are placed in real time at `now + (due - clock.now())`, so with a manual clock (tests,
benchmarks) they sit far away and the test advances the clock and calls `fire_due()` itself.

With several bot processes on one database only the holder of the scheduler lease
(bot.engines.leadership) keeps jobs; the others' schedulers stay inactive. An event edited through
another process is picked up by the holder's sweep.

Places offered from a waiting list (`storage.events.offers`) are driven the same way: a job
`offer:<id>` at each OPEN offer's deadline, and the sweep, expire it, and the place is offered to
the next; an offer leaves OPEN only once, whichever process gets there first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from telegram.ext import ContextTypes, JobQueue

import messages
from bot.engines.composing import in_each_language
from messages.i18n import SOURCE_LANGUAGE
from storage.broadcasts.notices import record_notice
from storage.broadcasts.versions import LocalisedText
from storage.clock import Clock
from storage.db import Database
from storage.events import offers, reminders, tables
from storage.events.notices import DateChange
from storage.events.reminders import DueReminder, FailedReminder, FiringReport
from storage.lists import organisers

logger = logging.getLogger(__name__)

# What this module renders is for other chats than the one whose update may be running (a
# reminder, a notice queued by someone else's press, a report to organisers), one text for all its
# recipients: each version names its language (in_each_language), and whatever names none is in
# the source language, never in that of whoever caused it, whose language would otherwise be
# current (and would stay so in any job scheduled from their update).
render = functools.partial(messages.render, language=SOURCE_LANGUAGE)

JOB_PREFIX = "reminder:"
OFFER_JOB_PREFIX = "offer:"
SWEEP_JOB = "reminders-sweep"
# Short enough that an edit made through another process is planned within seconds.
SWEEP_SECONDS = 15.0
FIRING_BATCH = 200
PAGE_SIZE = 5000
# A report to organisers lists at most this many reminders (then "and N more"), so that however
# many there are, and however long their titles, it fits in one message.
REPORT_LISTED = 8


@dataclasses.dataclass(frozen=True)
class RebuildReport:
    scheduled: int
    caught_up: FiringReport
    seconds: float


# Each of these renders its message once per language the bot speaks (`in_each_language`): the
# engine sends every recipient the version in its chat's language, chosen when its delivery is
# queued, through the same ledger as any broadcast.

def compose_reminder(tz: ZoneInfo) -> Callable[[DueReminder], LocalisedText]:
    def compose(due: DueReminder) -> LocalisedText:
        return in_each_language(lambda language: render(
            "event_reminder.html", language=language, event=due.event, date=due.date, tz=tz,
            going_only=due.rule.audience.value == "going"))

    return compose


def compose_moved(tz: ZoneInfo) -> Callable[[DateChange], LocalisedText]:
    def compose(change: DateChange) -> LocalisedText:
        return in_each_language(lambda language: render(
            "event_moved.html", language=language, event=change.event, date=change.date,
            old_starts_at=change.old_starts_at, tz=tz))

    return compose


def compose_promoted(tz: ZoneInfo) -> Callable[[tables.Event, tables.EventDate], LocalisedText]:
    """The notice to those let in from the waiting list (queued with the promotion, in storage)."""
    def compose(event: tables.Event, event_date: tables.EventDate) -> LocalisedText:
        return in_each_language(lambda language: render(
            "event_promoted.html", language=language, event=event, date=event_date, tz=tz))

    return compose


def compose_cancelled(tz: ZoneInfo) -> Callable[[DateChange], LocalisedText]:
    def compose(change: DateChange) -> LocalisedText:
        return in_each_language(lambda language: render(
            "event_cancelled.html", language=language, event=change.event, date=change.date, tz=tz))

    return compose


class ReminderScheduler:
    def __init__(self, *, db: Database, clock: Clock, tz: ZoneInfo, configured_organisers: frozenset[int],
                 job_queue: JobQueue | None, wake_broadcaster: Callable[[], None],
                 offering: offers.Offering | None = None) -> None:
        self.db = db
        self.clock = clock
        self.tz = tz
        # The organisers of the settings; those in the database are read when they are told something.
        self.configured_organisers = configured_organisers
        self.job_queue = job_queue
        # Reminders and notices are recorded as broadcasts; this tells the engine to look now.
        self.wake_broadcaster = wake_broadcaster
        # How freed places are offered on when an offer expires (None: offers are not expired here).
        self.offering = offering
        self._firing = asyncio.Lock()
        self.last_rebuild: RebuildReport | None = None
        # Whether this process holds the scheduler lease and so keeps the jobs.
        self.active = False

    @property
    def _jobs(self):
        if self.job_queue is None:
            raise RuntimeError("python-telegram-bot was installed without its job-queue extra")
        return self.job_queue

    # ------------------------------------------------------------------ building the schedule

    async def rebuild(self) -> RebuildReport:
        """Settles what fell due while the bot was down, then derives a job for every PENDING
        reminder, replacing whatever jobs there were. Safe to run at any time, any number of times."""
        started = time.perf_counter()
        caught_up = await self.fire_due()
        for job in self._jobs.scheduler.get_jobs():
            if job.id.startswith((JOB_PREFIX, OFFER_JOB_PREFIX)):
                job.remove()
        await self.follow_offers()
        scheduled, after_id = 0, 0
        while True:
            async with self.db.transaction() as session:
                page = await reminders.pending_reminders(session, after_id=after_id, limit=PAGE_SIZE)
            for index, (reminder_id, due_at) in enumerate(page, start=1):
                self._schedule(reminder_id, due_at)
                if index % 1000 == 0:
                    await asyncio.sleep(0)  # let due jobs and updates run between thousands of additions
            scheduled += len(page)
            if len(page) < PAGE_SIZE:
                break
            after_id = page[-1][0]
        self._jobs.run_repeating(self._sweep, interval=SWEEP_SECONDS, first=SWEEP_SECONDS, name=SWEEP_JOB,
                                 job_kwargs={"id": SWEEP_JOB, "replace_existing": True, "coalesce": True,
                                             "misfire_grace_time": None})
        self.last_rebuild = RebuildReport(scheduled, caught_up, time.perf_counter() - started)
        return self.last_rebuild

    async def activate(self) -> RebuildReport:
        """This process became the scheduler: build every job from the database."""
        self.active = True
        report = await self.rebuild()
        logger.info("reminders: %d scheduled in %.2f s; at start-up %d sent, %d missed", report.scheduled,
                    report.seconds, len(report.caught_up.sent), len(report.caught_up.missed))
        return report

    def deactivate(self) -> None:
        """Another process is the scheduler now: drop every job here."""
        self.active = False
        for job in self._jobs.scheduler.get_jobs():
            if job.id.startswith((JOB_PREFIX, OFFER_JOB_PREFIX)) or job.id == SWEEP_JOB:
                job.remove()

    async def replan(self, *, event_id: int) -> None:
        """After an event was created or changed: its jobs follow its reminders as they now are."""
        if not self.active:
            return
        async with self.db.transaction() as session:
            ids = await reminders.reminder_ids_of(session, event_id=event_id)
            pending = await reminders.pending_reminders(session, event_id=event_id, limit=len(ids) + 1)
        for reminder_id in ids:
            job = self._jobs.scheduler.get_job(f"{JOB_PREFIX}{reminder_id}")
            if job is not None:
                job.remove()
        for reminder_id, due_at in pending:
            self._schedule(reminder_id, due_at)

    def _schedule(self, reminder_id: int, due_at: dt.datetime) -> None:
        wait = max(0.0, (due_at - self.clock.now()).total_seconds())
        run_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
        name = f"{JOB_PREFIX}{reminder_id}"
        # No misfire grace limit: a job that runs late (a busy loop, a suspended laptop) still runs.
        self._jobs.run_once(self._job, when=run_at, data=reminder_id, name=name,
                            job_kwargs={"id": name, "replace_existing": True, "misfire_grace_time": None})

    async def follow_offers(self) -> None:
        """A job at the deadline of every OPEN place offer (after offers were made or settled).
        Offers made in a process without the lease are expired by this process's sweep."""
        if not self.active or self.offering is None:
            return
        async with self.db.transaction() as session:
            deadlines = await offers.open_offer_deadlines(session)
        open_ids = {f"{OFFER_JOB_PREFIX}{offer_id}" for offer_id, _expires in deadlines}
        for job in self._jobs.scheduler.get_jobs():
            if job.id.startswith(OFFER_JOB_PREFIX) and job.id not in open_ids:
                job.remove()
        for offer_id, expires_at in deadlines:
            wait = max(0.0, (expires_at - self.clock.now()).total_seconds())
            name = f"{OFFER_JOB_PREFIX}{offer_id}"
            self._jobs.run_once(self._job, when=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait), data=offer_id,
                                name=name, job_kwargs={"id": name, "replace_existing": True,
                                                       "misfire_grace_time": None})

    def offer_job_ids(self) -> set[int]:
        return {int(job.id.removeprefix(OFFER_JOB_PREFIX)) for job in self._jobs.scheduler.get_jobs()
                if job.id.startswith(OFFER_JOB_PREFIX)}

    def jobs_of(self, reminder_id: int) -> list:
        """The JobQueue jobs of one reminder (at most one): what a job carries is only the id."""
        return list(self._jobs.get_jobs_by_name(f"{JOB_PREFIX}{reminder_id}"))

    def scheduled_ids(self) -> set[int]:
        return {int(job.id.removeprefix(JOB_PREFIX)) for job in self._jobs.scheduler.get_jobs()
                if job.id.startswith(JOB_PREFIX)}

    # ------------------------------------------------------------------ firing

    async def _job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.fire_due()

    async def _sweep(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.fire_due()

    async def fire_due(self) -> FiringReport:
        """Settles every reminder due by the clock, wakes the broadcast engine for those sent,
        and tells organisers about any that were missed or failed.

        Each reminder is settled in a transaction of its own, so one that cannot be composed or
        handed on (an over-long field written straight into the database, say) is rolled back
        alone, marked FAILED with its reason, and reported once; the others go out, and nothing
        a row holds can make this raise (it runs at start-up)."""
        total = FiringReport()
        compose = compose_reminder(self.tz)
        async with self._firing:
            while True:
                now = self.clock.now()
                async with self.db.transaction() as session:
                    due_ids = await reminders.due_reminder_ids(session, now=now, limit=FIRING_BATCH)
                for reminder_id in due_ids:
                    total.add(await self._fire_one(reminder_id, now=now, compose=compose))
                if total.sent:
                    self.wake_broadcaster()
                if len(due_ids) < FIRING_BATCH:
                    break
            expired = await self._expire_due_offers()
        if expired:
            self.wake_broadcaster()
            await self.follow_offers()
        if total.missed:
            await self._report_missed(total.missed)
        if total.failed:
            await self._report_failed(total.failed)
        return total

    async def _expire_due_offers(self) -> int:
        """Settles every place offer past its deadline, each in a transaction of its own, and
        offers each place on; returns how many chats were offered one. Never raises (start-up)."""
        if self.offering is None:
            return 0
        told = 0
        now = self.clock.now()
        async with self.db.transaction() as session:
            due = await offers.due_offer_ids(session, now=now, limit=FIRING_BATCH)
        for offer_id in due:
            try:
                async with self.db.transaction() as session:
                    told += len(await offers.expire_offer(session, offer_id=offer_id, now=now,
                                                          offering=self.offering))
            except Exception:  # one date that cannot be offered on must not hold up the rest
                logger.exception("place offer %s could not be settled; the sweep tries again", offer_id)
        try:
            async with self.db.transaction() as session:
                told += len(await offers.offer_places_nobody_was_offered(session, now=now, offering=self.offering))
        except Exception:
            logger.exception("free places could not be offered; the sweep tries again")
        return told

    async def _fire_one(self, reminder_id: int, *, now: dt.datetime,
                        compose: Callable[[DueReminder], str]) -> FiringReport:
        try:
            async with self.db.transaction() as session:
                return await reminders.fire_due_reminders(session, now=now, compose=compose, limit=1,
                                                       reminder_id=reminder_id)
        except Exception as problem:  # anything the row makes composing or handing on raise
            async with self.db.transaction() as session:
                failed = await reminders.mark_reminder_failed(
                    session, reminder_id=reminder_id, problem=problem, now=now,
                    describe=lambda failure: render("event_compose_failure.txt", failure=failure))
            logger.warning("reminder %s failed and will not be sent: %s", reminder_id,
                           failed.reason if failed else type(problem).__name__, exc_info=problem)
            return FiringReport(failed=[failed] if failed else [])

    async def _tell_organisers(self, template: str, *, list_id: int, **context: object) -> None:
        """One notice to every organiser; a notice that cannot be composed or sent is logged, never
        raised (this runs at start-up and in the sweep)."""
        try:
            async with self.db.transaction() as session:
                ids = await organisers.all_organiser_ids(session, configured=self.configured_organisers)
            text = render(template, tz=self.tz, listed=REPORT_LISTED, **context)
        except Exception:
            logger.exception("could not compose the notice to organisers (%s)", template)
            return
        for organiser_id in ids:
            try:
                await self._send_notice(organiser_id, text, list_id=list_id)
            except Exception:  # one organiser's chat failing must not keep the notice from the others
                logger.exception("could not send the notice %s to organiser %s", template, organiser_id)

    async def _send_notice(self, chat_id: int, text: str, *, list_id: int) -> None:
        """One message to one private chat (an organiser told of missed reminders), about something of
        the list `list_id`: recorded first as a delivery, then sent once by the broadcast engine (in
        whichever process runs one), under its limits, and after a restart if a kill came first."""
        async with self.db.transaction() as session:
            await record_notice(session, list_id=list_id, telegram_id=chat_id, text=text,
                                           now=self.clock.now())
        self.wake_broadcaster()

    async def _report_missed(self, missed: list[DueReminder]) -> None:
        logger.warning("%d reminders missed: their events had started before they could be sent", len(missed))
        await self._tell_organisers("event_reminders_missed.html", list_id=missed[0].event.list_id, missed=missed)

    async def _report_failed(self, failed: list[FailedReminder]) -> None:
        await self._tell_organisers("event_reminders_failed.html", list_id=failed[0].due.event.list_id,
                                    failed=failed)
