"""How long the Telegram-HTML checker takes to parse a text, and what the server's cache saves.

    .venv/bin/python benchmarks/telegram_html.py

Three texts: the example alert with its footer (what a broadcast usually is), a 4,096-character
alert of plain prose with a few tags, and a 4,096-character text with a tag every dozen
characters (the worst a template produces). For each: the median time of one parse by
`storage.telegram_html.plain_text`, and of one check of a sendMessage by the local Bot API
server's rules (`bot.local_api.rules.refusal_of`), which parse a text once and remember it, as a
broadcast sends one text to every recipient.
"""

from __future__ import annotations

import statistics
import time

from bot.local_api.rules import refusal_of
from messages import render
from storage.telegram_html import plain_text

ROUNDS = 7
CALLS = 200


def median_microseconds(work) -> float:
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            work()
        timings.append((time.perf_counter() - started) / CALLS * 1e6)
    return statistics.median(timings)


def main() -> None:
    footer = render("broadcast_footer.html", mailing_list={"title": "Protests & demos", "slug": "protests"},
                    support_pointer=False)
    alert = f"{render('alert_example.html')}\n\n{footer}"
    prose = ("<b>Demo tomorrow.</b> Meet at the Harrington Gardens entrance &amp; bring a banner. " * 60)[:4096]
    dense = ('<b>Demo</b> <i>at</i> <a href="https://example.org/?a=1&amp;b=2">the gate</a> &amp; ' * 60)[:4096]
    print(f"{'text':<28} {'characters':>10} {'parse (us)':>12} {'server check (us)':>18}")
    for name, text in (("example alert + footer", alert), ("4,096 of prose", prose), ("4,096 densely tagged", dense)):
        try:
            plain_text(text)
        except ValueError:
            # A cut in the middle of a tag or entity: trim to the last complete one.
            text = text[:text.rfind(">") + 1]
        parse = median_microseconds(lambda text=text: plain_text(text))
        params = {"chat_id": 1, "text": text, "parse_mode": "HTML"}
        check = median_microseconds(lambda params=params: refusal_of("sendMessage", params))
        print(f"{name:<28} {len(text):>10,} {parse:>12.1f} {check:>18.1f}")


if __name__ == "__main__":
    main()
