"""Wiring, in one place: the Application, every handler in its order, start-up and shutdown.

Order matters: membership updates and ignored kinds first, then the commands, then buttons,
and the catch-alls for unknown commands and unexpected messages last.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram import Bot, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.engines.broadcaster import Broadcaster, default_concurrency
from bot.engines.composing import compose_broadcast
from bot.engines.leadership import SchedulerLease, start_scheduler_lease
from bot.engines.offers import place_offering
from bot.engines.reminders import ReminderScheduler
from bot.engines.retention import RetentionSweeper
from bot.engines.sharing import start_broadcasting, stop_broadcasting
from bot.engines.statistics import StatsService
from bot.handlers import (
    alert_settings,
    broadcast_reviews,
    broadcasts,
    event_conversations,
    events,
    fallbacks,
    languages,
    membership,
    organisers,
    stats,
    supporters,
)
from bot.handlers.callback_data import (
    Attendees,
    BroadcastAddVersion,
    BroadcastControl,
    BroadcastDraftAnswer,
    BroadcastList,
    BroadcastReviewAnswer,
    BroadcastScheduleAnswer,
    BroadcastUrgency,
    CalendarFile,
    CancelAnswer,
    CancelPick,
    Family,
    ForgetAnswer,
    LanguageChoice,
    ListToggle,
    PauseChoice,
    QuietChoice,
    RsvpAnswer,
    ShareName,
    StatsChoice,
    StatsCompare,
    TakePlace,
)
from bot.handlers.common import Handler, Who, guard_handler
from bot.log_redaction import redact_from_logs
from bot.memory import return_freed_memory
from bot.services import Services, new_process_name
from bot.settings import Settings
from bot.telegram_io.command_menus import set_supporter_menu, update_organiser_menus
from bot.telegram_io.flood_guard import FloodGuard
from bot.telegram_io.sending import RepliesInTheSendingWindow, TelegramSender
from bot.telegram_io.transport import AiohttpRequest
from bot.telegram_io.update_processor import PerChatUpdateProcessor
from bot.telegram_io.webhook import Webhook, log_webhook_refusals
from messages import render
from storage.broadcasts.listings import BroadcastSummary
from storage.clock import Clock
from storage.db import Database
from storage.iapt.bundle import BUNDLE_PATH
from storage.iapt.links import PREFIX as STATS_LINK_PREFIX
from storage.lists.languages import ChatLanguages
from storage.lists.organisers import settle_organiser_menus

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    callback: Handler
    who: Who = Who.ANYONE
    # True: only with arguments; None: with or without (python-telegram-bot's `has_args`).
    has_args: bool | None = None
    chats: filters.BaseFilter = filters.ALL
    # user_data keys of the half-finished work this command belongs to, dropped when it is refused.
    drafts: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Button:
    """An inline button's handler, by the family of its callback_data (`bot.handlers.callback_data`)."""

    family: type[Family]
    callback: Handler
    who: Who = Who.ANYONE
    # Its data names an event date (`event_date_id`), which the pressing chat must be allowed to see.
    shows_event_date: bool = False
    drafts: tuple[str, ...] = ()  # as for Command


ORGANISERS = Who.ORGANISERS
# The handler group that sets each update's language; it runs before group -1 (broadcasts.drop_question).
LANGUAGE_GROUP = -2
CHAT_MANAGERS = Who.CHAT_MANAGERS
# The pending /broadcast question: an organiser refused on the way (removed meanwhile) loses it.
BROADCAST_DRAFT = (broadcasts.STEP,)

# The single table of commands: it registers the handlers, says who may use each, fills
# Telegram's command menu and lets the unknown-command answer suggest the nearest real one.
# The first entry that matches a message takes it.
COMMANDS: tuple[Command, ...] = (
    # The link under a /stats short form shared from inline mode: the full answer, in a private chat.
    Command("start", stats.stats_from_link, has_args=True,
            chats=filters.ChatType.PRIVATE & filters.Regex(rf"^/start(@\w+)? {STATS_LINK_PREFIX}")),
    # A deep link signs the chat up, so in a group it is for administrators, as /subscribe is.
    Command("start", supporters.join_from_link, CHAT_MANAGERS, has_args=True),
    Command("start", supporters.start),
    Command("help", supporters.help_command),
    Command("lists", supporters.show_lists),
    Command("subscribe", supporters.subscribe, CHAT_MANAGERS),
    Command("unsubscribe", supporters.unsubscribe, CHAT_MANAGERS),
    Command("mylists", supporters.my_lists),
    Command("stop", supporters.stop, CHAT_MANAGERS),
    Command("privacy", supporters.privacy),
    Command("support", supporters.support),
    Command("mydata", supporters.my_data, CHAT_MANAGERS),
    Command("forget", supporters.forget, CHAT_MANAGERS),
    Command("quiet", alert_settings.quiet_command, CHAT_MANAGERS),
    Command("pause", alert_settings.pause_command, CHAT_MANAGERS),
    # In a group its administrators choose the language for everyone in it.
    Command("language", languages.language_command, CHAT_MANAGERS),
    Command("newlist", organisers.new_list, ORGANISERS),
    Command("organiser", organisers.organiser_command, ORGANISERS),
    Command("broadcast", broadcasts.broadcast_command, ORGANISERS, drafts=BROADCAST_DRAFT),
    Command("broadcasts", broadcasts.broadcasts_command, ORGANISERS, drafts=BROADCAST_DRAFT),
    Command("events", events.show_events),
    # In private chats the conversations in event_conversations.conversations() take these first.
    Command("newevent", events.private_only, ORGANISERS),
    Command("editevent", events.private_only, ORGANISERS),
    # Its pick list names every coming event, so, like the other two, only in a private chat.
    Command("cancelevent", events.cancel_event, ORGANISERS, chats=filters.ChatType.PRIVATE),
    Command("cancelevent", events.private_only, ORGANISERS),
    Command("stats", stats.stats_command),
)

# The single table of buttons outside the conversations (unknown ones are answered last).
BUTTONS: tuple[Button, ...] = (
    Button(ListToggle, supporters.list_button_pressed, CHAT_MANAGERS),
    Button(ForgetAnswer, supporters.forget_answered, CHAT_MANAGERS),
    Button(QuietChoice, alert_settings.quiet_pressed, CHAT_MANAGERS),
    Button(PauseChoice, alert_settings.pause_pressed, CHAT_MANAGERS),
    Button(LanguageChoice, languages.language_pressed, CHAT_MANAGERS),
    Button(BroadcastList, broadcasts.list_chosen, ORGANISERS, drafts=BROADCAST_DRAFT),
    Button(BroadcastDraftAnswer, broadcasts.draft_answered, ORGANISERS, drafts=BROADCAST_DRAFT),
    Button(BroadcastScheduleAnswer, broadcasts.schedule_time_answered, ORGANISERS, drafts=BROADCAST_DRAFT),
    Button(BroadcastControl, broadcasts.control_pressed, ORGANISERS, drafts=BROADCAST_DRAFT),
    Button(BroadcastUrgency, broadcasts.urgency_pressed, ORGANISERS, drafts=BROADCAST_DRAFT),
    Button(BroadcastAddVersion, broadcasts.add_version_pressed, ORGANISERS, drafts=BROADCAST_DRAFT),
    Button(BroadcastReviewAnswer, broadcast_reviews.review_answered, ORGANISERS),
    Button(RsvpAnswer, events.rsvp_pressed, shows_event_date=True),
    Button(ShareName, events.share_name_pressed, shows_event_date=True),
    Button(TakePlace, events.take_place_pressed, shows_event_date=True),
    Button(CalendarFile, events.calendar_pressed, shows_event_date=True),
    Button(Attendees, events.attendees_pressed, ORGANISERS),
    Button(CancelPick, events.cancel_picked, ORGANISERS, shows_event_date=True),
    Button(CancelAnswer, events.cancel_answered, ORGANISERS, shows_event_date=True),
    Button(StatsChoice, stats.stats_button_pressed),
    Button(StatsCompare, stats.stats_compare_pressed),
)


def register_handlers(application: Application) -> None:
    only_new_messages = filters.UpdateType.MESSAGE

    def add(handler: BaseHandler, who: Who, drafts: tuple[str, ...] = ()) -> None:
        application.add_handler(guard_handler(handler, who, drafts=drafts))

    # Before everything else, in a group of its own (a group runs only its first matching handler):
    # the language every answer to this update is rendered in, refusals and errors included.
    application.add_handler(TypeHandler(Update, languages.speak_the_chats_language), group=LANGUAGE_GROUP)

    application.add_handler(ChatMemberHandler(membership.bot_membership_changed, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, membership.group_migrated))
    application.add_handler(
        MessageHandler(filters.UpdateType.EDITED | filters.UpdateType.CHANNEL_POSTS, fallbacks.ignored)
    )
    # An organiser's answer to /broadcast's question (text, time) is not a stray message; any
    # command drops the question first (group -1 runs before the others).
    application.add_handler(MessageHandler(filters.COMMAND & only_new_messages, broadcasts.drop_question), group=-1)
    add(MessageHandler(broadcasts.AwaitingAnswer(application) & only_new_messages, broadcasts.next_step_message),
        ORGANISERS, BROADCAST_DRAFT)
    for conversation in event_conversations.conversations():
        # Every step is checked: the entry points, each state's handlers and the fallbacks.
        add(conversation, ORGANISERS, event_conversations.DRAFT_KEYS)
    for command in COMMANDS:
        add(CommandHandler(command.name, command.callback, filters=only_new_messages & command.chats,
                           has_args=command.has_args), command.who, command.drafts)
    for button in BUTTONS:
        callback = button.callback
        if button.shows_event_date:
            callback = events.visible_dates_only(button.family, callback)
        add(CallbackQueryHandler(callback, pattern=button.family.pattern), button.who, button.drafts)
    application.add_handler(InlineQueryHandler(stats.stats_inline_query))
    application.add_handler(MessageHandler(filters.COMMAND & only_new_messages, fallbacks.unknown_command))
    application.add_handler(MessageHandler(filters.ChatType.PRIVATE & only_new_messages, fallbacks.text_expected))
    application.add_handler(MessageHandler(filters.ALL, fallbacks.ignored))
    application.add_handler(CallbackQueryHandler(fallbacks.stale_button))
    application.add_error_handler(fallbacks.report_error)
    application.bot_data["command_names"] = list(dict.fromkeys(command.name for command in COMMANDS))


async def on_startup(application: Application) -> None:
    """Schema up to date and command menus set (the supporters', and each organiser's own), then
    the engines, in this order: the broadcast engine first (the others record broadcasts for it
    to send), the /stats figures, and last the lease that decides whether this process runs the
    reminders and the retention sweep."""
    services: Services = application.bot_data["services"]
    await services.db.upgrade()
    await set_supporter_menu(application.bot)
    if not application.bot_data.get("worker"):
        # The processes that take updates set each organiser's menu; workers leave it to them.
        async with services.db.transaction() as session:
            menus = await settle_organiser_menus(session, configured=services.settings.organiser_ids)
        await update_organiser_menus(application.bot, show=menus.show, hide=menus.hide)
    await start_broadcasting(services.broadcaster)
    if not application.bot_data.get("worker"):
        # A worker answers no one, so it neither needs the figures nor should race to load them.
        services.stats.start()
    await start_scheduler_lease(application.bot_data["scheduler_lease"])
    # Start-up made and dropped many objects (the migrations check, the menus): give that back.
    return_freed_memory()


async def on_shutdown(application: Application) -> None:
    """The engines stop in the reverse order, each finishing what it has under way, before the
    database closes. Each stop is harmless for an engine that never started."""
    services: Services = application.bot_data["services"]
    lease: SchedulerLease = application.bot_data["scheduler_lease"]
    # Stops the reminders and the retention sweep (a sweep under way ends after its batch) first.
    await services.retention.stop()
    await lease.stop()
    await stop_broadcasting(services.broadcaster)
    await services.stats.stop()
    await services.db.dispose()
    # When start-up failed (Telegram unreachable), python-telegram-bot never shuts its Bot down,
    # and the transports' open sessions would be reported at exit. Closing twice is harmless.
    for transport in application.bot_data["transports"]:
        await transport.shutdown()


def build_services(settings: Settings, db: Database, clock: Clock, application: Application,
                   replies: RepliesInTheSendingWindow) -> Services:
    """Every engine on its parts, and the services holding them all (the lease goes into
    bot_data); none runs yet."""
    process_name = new_process_name()
    rate = settings.sending_rate
    concurrency = default_concurrency(rate)
    app_bot = application.bot
    # Broadcasts go out through a Bot of their own, on a transport sized for their concurrency.
    sending_bot = Bot(token=app_bot.token, base_url=lambda _token: app_bot.base_url,
                      base_file_url=lambda _token: app_bot.base_file_url,
                      request=AiohttpRequest(connections=concurrency))
    sender = TelegramSender(sending_bot, rate=rate, paid=settings.paid_broadcast)
    # Replies to people wait for the broadcasts' turn, so the two together keep to Telegram's limit.
    replies.throttle = sender.throttle

    def report(summary: BroadcastSummary) -> str:
        return render("broadcast_report.html", broadcast=summary, tz=settings.tz)

    def wake_broadcaster() -> None:
        # Looked up at each call: the one engine the services hold now (a test may restart it).
        services.broadcaster.wake()

    compose = functools.partial(compose_broadcast, support_pointer=settings.support_pointer_under_alerts)
    offering = place_offering(tz=settings.tz, hold=settings.place_offer_hold, take_place_data=TakePlace.build)
    reminders = ReminderScheduler(db=db, clock=clock, tz=settings.tz, configured_organisers=settings.organiser_ids,
                                  job_queue=application.job_queue, wake_broadcaster=wake_broadcaster,
                                  offering=offering)
    chat_languages = ChatLanguages(db, clock)
    retention = RetentionSweeper(db=db, clock=clock, keep_for=settings.retention_period,
                                 job_queue=application.job_queue, on_erased=chat_languages.forget_all)
    services = Services(
        settings=settings, db=db, clock=clock, process_name=process_name,
        broadcaster=Broadcaster(db=db, sender=sender, clock=clock, compose=compose, report=report,
                                rate=rate, concurrency=concurrency, claimer=process_name,
                                configured_organisers=settings.organiser_ids, quiet=settings.quiet_policy,
                                overdue_after=settings.overdue_after,
                                review_overdue=broadcast_reviews.overdue_reviewer(
                                    tz=settings.tz, overdue_after=settings.overdue_after, now=clock.now,
                                    support_pointer=settings.support_pointer_under_alerts)),
        reminders=reminders, retention=retention,
        stats=StatsService(db, per_user_per_minute=settings.stats_per_user_per_minute,
                           load_bundle=settings.stats_load_bundle, holder=process_name,
                           bundle=settings.stats_bundle_path or BUNDLE_PATH),
        offering=offering, languages=chat_languages,
    )
    application.bot_data["scheduler_lease"] = SchedulerLease(
        db=db, holder=process_name, scheduler=reminders, retention=retention,
        share_rate=lambda processes: services.broadcaster.share_rate_with(processes))
    return services


def build_application(settings: Settings, db: Database, clock: Clock, *, token: str, api_url: str) -> Application:
    """The bot, every handler and engine wired on the given parts; nothing runs until it starts."""
    # Here, because every way of running the bot (run, worker, webhook, try, tests) builds it.
    redact_from_logs(token)
    defaults = Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
    transport = AiohttpRequest(connections=32, paid_sends=settings.paid_broadcast)
    # Long polls too: PTB's default HTTPX pool costs a failed `import sniffio` (a search of
    # sys.path, in httpcore) on every request, two per update answered.
    long_polls = AiohttpRequest(connections=1)
    flood_guard = FloodGuard(limit=settings.flood_limit, window_seconds=settings.flood_window_seconds, clock=clock)
    replies = RepliesInTheSendingWindow()
    update_processor = PerChatUpdateProcessor(max_concurrent_updates=64, flood_guard=flood_guard)
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .defaults(defaults)
        .request(transport)
        .get_updates_request(long_polls)
        .rate_limiter(replies)
        .concurrent_updates(update_processor)
        .post_init(on_startup)
        .post_shutdown(on_shutdown)
        .build()
    )
    application.bot_data["services"] = build_services(settings, db, clock, application, replies)
    update_processor.languages = application.bot_data["services"].languages
    application.bot_data["transports"] = (transport, long_polls)
    register_handlers(application)
    return application


@asynccontextmanager
async def running(application: Application, *, webhook: Webhook | None = None, poll_timeout: float = 10.0,
                  receive_updates: bool = True) -> AsyncIterator[Application]:
    """The bot running inside an event loop someone else owns (try-out mode, tests, benchmarks,
    worker processes).

    Mirrors what `run_polling`/`run_webhook` do, in the same order, so every path starts the
    same things. Updates come by long polling, or by webhook when one is given; a worker
    (`receive_updates=False`) takes none and only sends broadcasts and, if it holds the
    scheduler lease, reminders.
    """
    application.bot_data["worker"] = not receive_updates
    try:
        # Inside the try: when Telegram cannot be reached, initialize() fails with the
        # transports' sessions open, and on_shutdown below closes them.
        await application.initialize()
        await on_startup(application)
        await application.start()
        if not receive_updates:
            pass
        elif webhook is None:
            await application.updater.start_polling(poll_interval=0.0, timeout=poll_timeout,
                                                    allowed_updates=Update.ALL_TYPES)
        else:
            log_webhook_refusals()
            await application.updater.start_webhook(
                listen=webhook.listen, port=webhook.port, url_path=webhook.path, webhook_url=webhook.url,
                secret_token=webhook.secret, allowed_updates=Update.ALL_TYPES,
            )
        yield application
    finally:
        # As run_polling does: whatever got started is stopped, even when start-up failed half-way.
        if application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        await on_shutdown(application)
