"""Everything that talks to the Bot API, under both the handlers and the engines: the `Sender`
that maps Telegram's answers (429, 403, 400, migrations, 5xx) to outcomes, the throttle and rate
limiter that keep Telegram's limits, the aiohttp transport (with `form_posts`, the broadcast's bare
HTTP/1.1 sends), the per-chat update processor, the
flood guard, `replies` (how a handler answers with a template), `webhook` (where Telegram posts
updates, and a warning for requests without the secret), and `command_menus` (the
supporters' menu and each organiser's own).
It imports `telegram`, `aiohttp`, `httptools`, `messages/`, `storage.clock` and `bot.log_redaction` only: never
`bot/handlers`, `bot/engines`, `bot/app` or the database.
"""
