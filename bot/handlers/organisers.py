"""Organisers' commands of the foundation: create lists, add and remove organisers.

Only organisers reach these: `bot.app` declares them organisers-only.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.services import services_of
from bot.telegram_io.command_menus import hide_organiser_menu, show_organiser_menu
from bot.telegram_io.replies import reply
from storage.lists import organisers
from storage.lists.mailing_lists import InvalidListError, create_list


async def new_list(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/newlist <slug> <title...>"""
    args = context.args or []
    if len(args) < 2:
        await reply(update, "newlist_usage.html")
        return
    slug, title = args[0].lower(), " ".join(args[1:])
    try:
        async with services_of(context).db.transaction() as session:
            mailing_list = await create_list(session, slug=slug, title=title)
    except InvalidListError as problem:
        await reply(update, "newlist_invalid.html", problem=problem)
        return
    await reply(update, "newlist_done.html", mailing_list=mailing_list, bot_username=context.bot.username)


async def organiser_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/organiser add <user-id>, /organiser remove <user-id>, /organiser list"""
    args = context.args or []
    services = services_of(context)
    configured = services.settings.organiser_ids
    if args == ["list"]:
        async with services.db.transaction() as session:
            ids = await organisers.all_organiser_ids(session, configured=configured)
        await reply(update, "organiser_list.html", ids=ids, configured=configured)
        return
    user_id = organisers.parse_user_id(args[1]) if len(args) == 2 else None
    if user_id is None or args[0] not in ("add", "remove"):
        await reply(update, "organiser_usage.html")
        return
    action = args[0]
    async with services.db.transaction() as session:
        if action == "add":
            change = await organisers.add_organiser(session, user_id=user_id, added_by=update.effective_user.id,
                                                    configured=configured)
        else:
            change = await organisers.remove_organiser(session, user_id=user_id, configured=configured)
    if change is organisers.OrganiserChange.ADDED:
        await show_organiser_menu(context.bot, user_id)
    elif change is organisers.OrganiserChange.REMOVED:
        await hide_organiser_menu(context.bot, user_id)
    await reply(update, "organiser_changed.html", change=change.value, user_id=user_id)
