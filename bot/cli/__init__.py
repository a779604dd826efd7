"""The `campaign-bot` command line (typer): `main.py` holds the app and the top-level commands
(`run`, `db`, `lists`, `subscribers`, `local-api`), with one module per command group beside it
(`broadcast`, `events`, `stats`), `support.py` for what they share (settings read once, a
database opened and upgraded, errors as one sentence), and `try_mode.py`, the try-out mode that
runs the real bot against the local Bot API server in the terminal (its sample data, made only
there, in `try_samples.py`).
Every line it prints is a `messages/*.txt` template. Each command imports what it needs inside
its own function, so `--help` and the quick commands answer at once (benchmarks/cli_startup.py).
It may import anything in bot/, `storage/` and `messages/`; nothing outside bot/cli imports it.
"""
