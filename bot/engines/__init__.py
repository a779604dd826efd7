"""The long-running parts of a bot process: the broadcast engine and its circuit breaker, the
reminder scheduler, the scheduler lease (which process runs the reminders), the retention sweep,
and the /stats desk that loads and answers the IAPT figures.
Each engine is given its parts (database, clock, sender, settings) as arguments and keeps its
state in the database, so a restart resumes from there. Engines import `storage/`, `messages/` and
`bot/telegram_io`; they never import `bot/handlers` or `bot/app`. `bot/app.py` starts and stops
them, and handlers reach them through `Services`.
"""
