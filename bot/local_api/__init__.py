"""The project's own Bot API server (aiohttp, on loopback): it keeps chats and their histories,
turns pushed messages, button presses and blocks into updates, records every request, answers
with the errors, delays and flood limits a caller asks for, and refuses what Telegram would
refuse (parse mode, UTF-16 lengths, callback_data, buttons) in Telegram's own wording. It keeps
command menus per scope and language and says which one a person sees (`menus.py`). The tests,
the try-out mode and the benchmarks drive the real bot through it over HTTP. It imports none of
the bot's own code, so it cannot agree with the bot by accident: only `storage.telegram_html`,
the Telegram-HTML checker it shares with the broadcasts.
"""
