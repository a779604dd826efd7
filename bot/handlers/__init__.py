"""The update handlers, one module per feature (lists and membership, organisers, broadcasts and
their reviews (approval, overdue), events, /stats, supporters, a chat's quiet hours and pause,
fallbacks) and the few modules they share (`common.py`, keyboards).
A handler is thin: it parses the update, calls one domain function and renders one template
through `bot.telegram_io.replies`. Handlers import `storage/`, `messages/` and `bot/telegram_io`;
they reach an engine only through `Services` (`bot.services`), never by importing `bot/engines`.
What features share lives in a shared module, not in one of the features. None registers itself:
`bot/app.py` adds them all, in order.
"""
