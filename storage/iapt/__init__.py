"""The published NHS Talking Therapies (IAPT) figures: loading them and answering /stats.

Where things are, in the order data flows through them:

- tables: the database tables and the curated facts the data does not carry (links, codes).
- records: the normalised data held in memory between reading and writing (a file refused is a
  `storage.import_problems.ImportRefused`).
- strict_csv, reading, reference_files: the published CSV layout, read strictly into records (the
  figure files in reading, the files that name and define in reference_files).
- bundle: the embedded default (data/iapt_figures.json.gz), built from the files and read back.
- writing: `campaign-bot stats import`: upserts in one transaction, only where something differs.
- bundle_stream, loading: the bot's first start loads the bundle in short transactions.
- search: matching what someone typed to an area.
- figures, answer_parts, answers: what an answer holds (published figures kept apart from derived
  shares), the rows and references it is made of, and the answers a template renders whole.
- ranking, comparing: the analysis (an area's rank among its kind; two areas side by side),
  every share in it calculated here and labelled so.
- stats_index, building, report: the index kept in memory, building answers, and StatsDesk,
  the one entry point for the bot and the CLI.
"""
