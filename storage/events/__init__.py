"""Events: their dates, places, places booked and waiting lists, their reminders as rows, events
in and out as YAML, and an event as an .ics calendar entry. It imports `storage.lists`,
`storage.broadcasts` (a reminder or a notice goes out as a delivery), `storage.dates` and
`storage.db`, never `telegram` or `bot/`; the scheduler that fires the reminders is in `bot/engines`.
"""
