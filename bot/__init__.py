"""The Telegram side of campaign-bot: handlers, scheduling, sending, and the command line."""
