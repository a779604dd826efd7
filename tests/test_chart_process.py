"""The child process that draws the /stats charts: its frames, and its end when idle or left."""

from __future__ import annotations

import io
import os

from messages import chart_process


def test_the_child_ends_when_the_bot_closes_its_pipe():
    answers = io.BytesIO()
    read_end, write_end = os.pipe()
    os.close(write_end)  # the bot is gone: nothing more will come
    with os.fdopen(read_end, "rb", buffering=0) as requests:
        chart_process.serve(requests, answers, idle_seconds=60)
    assert answers.getvalue() == b""


def test_the_child_ends_after_an_idle_spell_and_answers_an_unknown_kind_with_an_error():
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as bot_side:
        chart_process._write_frame(bot_side, ("pie", None))
    answers = io.BytesIO()
    with os.fdopen(read_end, "rb", buffering=0) as requests:
        chart_process.serve(requests, answers, idle_seconds=0)
    outcome, why = chart_process._read_frame(io.BytesIO(answers.getvalue()))
    assert outcome == "error" and "pie" in why
