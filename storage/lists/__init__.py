"""Mailing lists and who is on them: the chat, list, subscription and organiser tables
(`models.py`), joining, leaving and erasing a chat, importing and exporting subscribers
(`subscriptions.py`), who may organise which list (`organisers.py`), and what a chat chose about
its alerts: quiet hours and a pause (`alert_settings.py`).
It imports `storage.db`, `storage.import_problems` (a subscribers file refused), and
`storage.broadcasts` only to unlink a departing organiser's broadcasts; like all of storage/,
neither `telegram` nor `bot/`. The other subjects build on it.
"""
