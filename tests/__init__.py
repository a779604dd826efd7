"""The test suite: the real python-telegram-bot Application, over HTTP on loopback, against the
project's own Bot API server (`bot/local_api`), on a fresh SQLite file or PostgreSQL schema per
test; time is the injected clock. `conftest.py` is the harness, `builders.py` puts rows in the
way the domain functions would, `template_samples.py` and `iapt_support.py` feed the template and
/stats tests, and `data/` holds the published IAPT files. Tests may import anything; nothing
outside tests/ imports them.
"""
