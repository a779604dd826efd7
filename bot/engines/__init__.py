"""The long-running parts of the bot, each built on its parts (database, clock, time zone, job
queue, a `wake` or `share_rate` callable) and never on the Application or `bot.services`:

- `broadcaster`: the broadcast engine's loop and delivery passes, with `dispatch` (its send side:
  claims, sends in flight and breakers, for every broadcast at once), `claims` (the crash-safety
  rule), `breaker` (a message Telegram refuses pauses its broadcast), `recorder` (outcomes
  committed in batches), `notices` (what organisers are told), `composing` (what recipients get)
  and `sharing` (start and stop as one process among several);
- `reminders`: JobQueue jobs derived from the reminders table, and from the deadlines of places
  offered from waiting lists (`offers`: what such an offer sends, with its button);
- `leadership`: the leases that say which processes live and which one runs reminders and retention;
- `retention`: when the retention sweep runs;
- `statistics`: the /stats desk, its limits, and loading the bundled figures.

`bot.app.build_application` builds them all into `Services`; `on_startup` starts them and
`on_shutdown` stops them, in the order written there.
"""
