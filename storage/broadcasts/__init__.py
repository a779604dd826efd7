"""Broadcasts as a status machine in the database (draft, for approval, scheduled, overdue,
sending, paused, cancelled, done, failed), with one delivery row per recipient: creating and
checking a broadcast, claiming and recording deliveries, the notices the bot owes someone, the
reviews that wait for an organiser's decision (`reviews.py`), the same alert in other languages
with the version each delivery gets (`versions.py`), and the counts kept afterwards. It
imports `storage.lists`, `storage.db` and `storage.telegram_html`, never `telegram` or `bot/`;
the engine that sends the deliveries is in `bot/engines`.
"""
