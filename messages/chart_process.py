"""The /stats charts drawn in a child process that ends when it has been idle a while.

matplotlib and numpy weigh about 50 MB once loaded, and a process never gives that memory
back: drawn in the bot's own process, one trend chart would leave an idle bot at half as much
again as it needs to answer everything else. So the bot hands each chart to one child process
(`python -m messages.chart_process`), which imports matplotlib the first time and draws with
`messages.charts`; it ends by itself after `IDLE_SECONDS` without a chart, and the next chart
starts a new one. The chart functions here have the same signature and result as those of
`messages.charts`, and are just as synchronous: the bot calls them in a worker thread.

Between the two processes: a frame is an 8-byte big-endian length and a pickle. The bot sends
(kind, answer); the child answers ("png", bytes) or ("error", what went wrong), which raises
`ChartFailed` here, so a chart that cannot be drawn is still the caller's error to handle.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading
from typing import IO, Any

IDLE_SECONDS = 120.0
_LENGTH = struct.Struct(">Q")


class ChartFailed(RuntimeError):
    """The child could not draw the chart, or ended before answering."""


def _write_frame(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: IO[bytes]) -> Any:
    header = _read_exactly(stream, _LENGTH.size)
    if header is None:
        raise EOFError
    body = _read_exactly(stream, _LENGTH.unpack(header)[0])
    if body is None:
        raise EOFError
    return pickle.loads(body)


class ChartProcess:
    """One child at a time, started on the first chart; charts asked at once are drawn in turn."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None

    def draw(self, kind: str, answer: object) -> bytes:
        with self._lock:
            for attempt in range(2):
                child = self._running_child()
                try:
                    _write_frame(child.stdin, (kind, answer))
                    outcome, value = _read_frame(child.stdout)
                    break
                except (BrokenPipeError, EOFError):
                    # It ended by itself between two charts (idle), or it died: once more, afresh.
                    self._reap()
                    if attempt:
                        raise ChartFailed(f"the chart process ended before drawing the {kind} chart") from None
        if outcome != "png":
            raise ChartFailed(f"the {kind} chart could not be drawn: {value}")
        return value

    def warm_up(self) -> None:
        """Start the child now, if none runs, without waiting for it: a chart was asked for, and
        the child's imports (a few seconds on a busy machine) then overlap finding the figures."""
        if self._lock.acquire(blocking=False):  # else a chart is being drawn: the child runs
            try:
                self._running_child()
            finally:
                self._lock.release()

    def _running_child(self) -> subprocess.Popen[bytes]:
        if self._child is not None and self._child.poll() is None:
            return self._child
        self._reap()
        self._child = subprocess.Popen([sys.executable, "-m", "messages.chart_process"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE)
        return self._child

    def _reap(self) -> None:
        if self._child is None:
            return
        for stream in (self._child.stdin, self._child.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self._child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        self._child = None

    def close(self) -> None:
        with self._lock:
            self._reap()


_charts = ChartProcess()


def warm_up() -> None:
    """Start the child ahead of a chart (see `ChartProcess.warm_up`); returns at once."""
    _charts.warm_up()


def close() -> None:
    """Ends the child now (the next chart starts another)."""
    _charts.close()


def render_trend_chart(answer: object) -> bytes:
    return _charts.draw("trend", answer)


def render_rank_chart(answer: object) -> bytes:
    return _charts.draw("rank", answer)


def render_waits_chart(answer: object) -> bytes:
    return _charts.draw("waits", answer)


def serve(requests: IO[bytes], answers: IO[bytes], idle_seconds: float = IDLE_SECONDS) -> None:
    """The child's loop: draw each chart asked, end at the end of `requests` or after
    `idle_seconds` without one."""
    import storage.iapt.answers  # noqa: F401  (the classes the requests are made of)
    from messages import charts

    charts.new_figure()  # matplotlib, imported before the first request rather than during it
    drawers = {"trend": charts.render_trend_chart, "rank": charts.render_rank_chart,
               "waits": charts.render_waits_chart}
    while True:
        ready, _, _ = select.select([requests], [], [], idle_seconds)
        if not ready:
            return
        try:
            kind, answer = _read_frame(requests)
        except EOFError:
            return
        try:
            reply = ("png", drawers[kind](answer))
        except Exception as error:  # the bot logs it and answers in words
            reply = ("error", f"{type(error).__name__}: {error}")
        _write_frame(answers, reply)


def main() -> None:
    # The frames go out on a copy of stdout, and stdout itself goes to stderr, so that a library
    # printing something cannot break a frame.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # Unbuffered: select() must see every byte not yet read.
    serve(os.fdopen(os.dup(sys.stdin.fileno()), "rb", buffering=0), answers)


if __name__ == "__main__":
    main()
