"""Supporters' commands: join and leave lists, see and erase what is stored about them."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.handlers.callback_data import ForgetAnswer, ListToggle
from bot.handlers.common import argument_text, argument_within_limit, asker_is_organiser, chat_kind, is_private
from bot.handlers.keyboards import forget_buttons, list_buttons
from bot.handlers.languages import adoptable_language
from bot.services import services_of
from bot.telegram_io.command_menus import hide_organiser_menu, show_organiser_menu
from bot.telegram_io.replies import edit_or_reply, reply
from storage import mydata, retention
from storage.lists.subscriptions import (
    ListNotFound,
    join_list_named,
    leave_all_lists,
    leave_list_named,
    lists_of_chat,
    lists_with_membership,
    toggle_list,
)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: the welcome, with the lists as join buttons."""
    db = services_of(context).db
    async with db.transaction() as session:
        lists = await lists_with_membership(session, telegram_id=update.effective_chat.id)
    template = "welcome.html" if is_private(update) else "welcome_group.html"
    await reply(update, template, lists=lists, buttons=list_buttons(lists))
    if is_private(update) and await asker_is_organiser(update, context):
        # Telegram refuses a menu for a chat that never started the bot: an organiser added
        # before their first /start gets theirs now.
        await show_organiser_menu(context.bot, update.effective_user.id)


@argument_within_limit
async def join_from_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start <list> from a deep link (a poster's QR code): joins, as /subscribe <list> does."""
    await _join_named(update, context, argument_text(context), deep_link=True)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    # A group sees what its members may do there; an organiser's commands are listed in private.
    private = is_private(update)
    await reply(update, "help.html", organiser=private and await asker_is_organiser(update, context),
                private=private, approval_above=services_of(context).settings.approval_above)


async def support(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/support: where to get urgent help now. A pointer to people who can help, nothing more."""
    await reply(update, "support.html")


async def privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, "privacy.html", retention_days=services_of(context).settings.retention_days)


async def show_lists(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    db = services_of(context).db
    async with db.transaction() as session:
        lists = await lists_with_membership(session, telegram_id=update.effective_chat.id)
    await reply(update, "lists.html", lists=lists, buttons=list_buttons(lists))


@argument_within_limit
async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    name = argument_text(context)
    if not name:
        await show_lists(update, context)
        return
    await _join_named(update, context, name, deep_link=False)


async def _join_named(update: Update, context: ContextTypes.DEFAULT_TYPE, name: str, *, deep_link: bool) -> None:
    services = services_of(context)
    app_language = adoptable_language(update)
    try:
        async with services.db.transaction() as session:
            outcome, mailing_list = await join_list_named(
  session, telegram_id=update.effective_chat.id, kind=chat_kind(update), name=name, app_language=app_language
            )
    except ListNotFound as missing:
        await reply(update, "unknown_list.html", name=missing.name, suggestions=missing.suggestions,
                    deep_link=deep_link)
        return
    if app_language is not None:
        services.languages.changed(update.effective_chat.id)  # it may have been stored with the chat
    await reply(update, "joined.html", outcome=outcome.value, mailing_list=mailing_list)


@argument_within_limit
async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    name = argument_text(context)
    if not name:
        await reply(update, "need_list_name.html", command="unsubscribe")
        return
    services = services_of(context)
    try:
        async with services.db.transaction() as session:
            outcome, mailing_list = await leave_list_named(
  session, telegram_id=update.effective_chat.id, name=name, now=services.clock.now()
            )
    except ListNotFound as missing:
        await reply(update, "unknown_list.html", name=missing.name, suggestions=missing.suggestions,
                    deep_link=False)
        return
    await reply(update, "left.html", outcome=outcome.value, mailing_list=mailing_list)


async def my_lists(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    db = services_of(context).db
    async with db.transaction() as session:
        lists = await lists_of_chat(session, telegram_id=update.effective_chat.id)
    await reply(update, "mylists.html", lists=lists)


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    async with services.db.transaction() as session:
        left = await leave_all_lists(session, telegram_id=update.effective_chat.id,
                                     now=services.clock.now())
    await reply(update, "stopped.html", lists=left, retention_days=services.settings.retention_days)


async def my_data(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    async with services.db.transaction() as session:
        data = await mydata.chat_data(session, telegram_id=update.effective_chat.id)
    await reply(update, "mydata.html", data=data, tz=services.settings.tz,
                retention_days=services.settings.retention_days,
                default_quiet=services.settings.quiet_policy.default, now=services.clock.now())


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, "forget_confirm.html", buttons=forget_buttons())


async def forget_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The confirm or cancel button under /forget."""
    query = update.callback_query
    await query.answer()
    if ForgetAnswer.parse(query.data).answer != "yes":
        await edit_or_reply(update, "forget_cancelled.html")
        return
    services = services_of(context)
    # In a private chat the chat is the person, so their organiser side goes too; an
    # administrator erasing a group erases the group, not themselves.
    person_id = update.effective_user.id if is_private(update) else None
    async with services.db.transaction() as session:
        forgotten = await retention.forget(session, telegram_id=update.effective_chat.id, person_id=person_id,
                                           configured=services.settings.organiser_ids)
    services.languages.changed(update.effective_chat.id)
    if forgotten.organiser_removed and person_id is not None:
        await hide_organiser_menu(context.bot, person_id)
    await edit_or_reply(update, "forgotten.html", forgotten=forgotten)


async def list_button_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A join/leave button under /start or /lists: apply it and redraw the buttons."""
    query = update.callback_query
    pressed = ListToggle.parse(query.data)
    await query.answer()
    services = services_of(context)
    app_language = adoptable_language(update) if pressed.action == "join" else None
    async with services.db.transaction() as session:
        lists = await toggle_list(
            session, telegram_id=update.effective_chat.id, kind=chat_kind(update), list_id=pressed.list_id,
            join=pressed.action == "join", now=services.clock.now(), app_language=app_language,
        )
    if app_language is not None:
        services.languages.changed(update.effective_chat.id)
    await edit_or_reply(update, "lists.html", lists=lists, buttons=list_buttons(lists))
