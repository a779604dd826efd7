"""A broadcast's message is encoded once and sent to each chat with only its id changed: what
arrives is what python-telegram-bot's own encoding would have sent."""

from __future__ import annotations

from bot.telegram_io.sending import Outgoing, SendOutcome, TelegramSender


async def test_an_encoded_message_arrives_as_it_was_written(running_bot):
    sender = running_bot.services.broadcaster.sender
    assert isinstance(sender, TelegramSender)
    message = Outgoing("<b>Demo</b> at 8.15 — Gloucester Road &amp; Harrington Gardens", silent=True,
                       buttons=((("Going", "go:1"), ("Not going", "no:1")),))
    results = [await sender.send(chat_id, message) for chat_id in (5101, 5102)]
    assert [result.outcome for result in results] == [SendOutcome.SENT, SendOutcome.SENT]
    for chat_id in (5101, 5102):
        [sent] = running_bot.server.sent_to(chat_id)
        assert sent["text"] == message.text  # the server keeps the HTML as it came
        assert sent["_parse_mode"] == "HTML" and sent["_disable_notification"] is True
        assert sent["reply_markup"] == {"inline_keyboard": [[{"text": "Going", "callback_data": "go:1"},
                                                             {"text": "Not going", "callback_data": "no:1"}]]}


async def test_an_encoded_send_meets_telegrams_answers_like_any_other(running_bot):
    from bot.local_api.faults import ChatFault

    sender = running_bot.services.broadcaster.sender
    running_bot.server.set_fault(5201, ChatFault("blocked"))
    running_bot.server.set_fault(5202, ChatFault("not_found"))
    message = Outgoing("Hello")
    assert (await sender.send(5201, message)).outcome is SendOutcome.BLOCKED
    assert (await sender.send(5202, message)).outcome is SendOutcome.GONE
