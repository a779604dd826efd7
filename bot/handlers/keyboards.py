"""The inline buttons the bot shows, built from domain data and labelled from `messages/buttons.txt`."""

from __future__ import annotations

from bot.handlers.callback_data import ForgetAnswer, ListToggle
from bot.telegram_io.replies import Keyboard
from messages import label
from storage.lists.subscriptions import ListMembership


def list_buttons(lists: list[ListMembership]) -> Keyboard:
    """One button a list: pressing it joins, or leaves if already joined."""
    rows = []
    for membership in lists:
        item = membership.mailing_list
        if membership.subscribed:
            rows.append([(label("leave", title=item.title), ListToggle.build("leave", item.id))])
        else:
            rows.append([(label("join", title=item.title), ListToggle.build("join", item.id))])
    return rows


def forget_buttons() -> Keyboard:
    return [[(label("forget_yes"), ForgetAnswer.build("yes")), (label("forget_no"), ForgetAnswer.build("no"))]]
