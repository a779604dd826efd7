"""Events, their dates, RSVPs and reminders: plain Python over the database, no Telegram.

- `tables`: the rows (events, dates, reminder rules, reminders, RSVPs), their statuses and bounds.
- `problems`: what the domain refuses (`InvalidEventError`, `NoticeNotComposable`).
- `drafts`: an event before it is stored, the parsers of its fields, and the checks on every way in.
- `catalogue`: storing, changing and reading events and their dates.
- `reminders`: planning reminders from rules, firing the due ones, recording failures.
- `rsvps`: answers per date, the waiting list and what a freed place does.
- `offers`: places offered from the waiting list in turn, with a deadline; their expiry.
- `notices`: a date moved or cancelled, told to those concerned.
- `cards`: what a chat is shown of a date, which dates it may see, attendance for organisers.
- `calendar` and `yaml_files`: a date as an .ics file; events in and out as YAML.
"""
