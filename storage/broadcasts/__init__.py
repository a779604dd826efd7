"""Broadcasts as a status machine in the database (draft, scheduled, sending, paused, cancelled,
done, failed), with one delivery row per recipient: creating and checking a broadcast, claiming
and recording deliveries, the notices the bot owes someone, and the counts kept afterwards. It
imports `storage.lists`, `storage.db` and `storage.telegram_html`, never `telegram` or `bot/`;
the engine that sends the deliveries is in `bot/engines`.
"""
