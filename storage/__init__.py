"""Everything about the database: SQLModel tables, query functions, migrations and data import.

One subpackage per subject (`lists/`, `broadcasts/`, `events/`, `iapt/`, `migrations/`), and at the
top what they share: `db.py` (engines, sessions, schema upgrades), `clock.py` (the injected
clock), `leases.py` (which process does a job, and the lease timings), `dates.py` (reading dates
and reminder rules people type), `mydata.py` (everything stored about one chat, as /mydata shows
it), `retention.py` (what is kept and for how long), `telegram_html.py` (the Telegram-HTML
checker), `import_problems.py` (why a file the operator imports is refused: the IAPT files
and a subscribers CSV alike) and `tables.py` (every table on one metadata). Nothing here imports `telegram` or `bot/`:
it is the campaign's core, usable alike from the command line, the bot and the benchmarks, and
the migrations get their connection from the `Database` that runs them.
"""
