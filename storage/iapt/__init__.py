"""The published NHS Talking Therapies (IAPT) figures behind /stats: their tables, the import of
NHS Digital's files with every bad row named, the bundled copy in `data/` and its load (under a
lease, so one process loads it), finding an area by a name typed with typos, and composing an
area's answer. It imports `storage.db` and `storage.leases` only, never `telegram` or `bot/`; the
chart is drawn in `messages/charts.py`, and the bot and the command line render the answers.
"""
