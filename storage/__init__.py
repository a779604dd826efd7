"""Everything about the database: SQLModel tables, query functions, migrations and data import.

Nothing in this package imports `telegram`: it is the campaign's core, usable from the
command line, the bot and the benchmarks alike.
"""
