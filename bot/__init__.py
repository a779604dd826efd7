"""The Telegram side of campaign-bot: everything that imports `telegram` lives here.

`app.py` only wires: it builds python-telegram-bot's Application, registers every handler in
order and starts and stops the engines. `services.py` is what handlers are given, `settings.py`
the one reader of the environment, `running.py` the start-up and shutdown of a real process, and
`log_redaction.py` keeps the token out of the logs. The folders: `handlers/` (one module per
feature), `engines/` (the long-running parts), `telegram_io/` (everything that talks to the Bot
API), `cli/` (the `campaign-bot` command and the try-out mode) and `local_api/` (the project's own
Bot API server). bot/ may import `storage/` and `messages/`; neither of them imports bot/.
"""
