"""The broadcaster's sends as bare HTTP/1.1 POSTs on kept-alive connections.

A broadcast at Telegram's paid limit makes a thousand requests a second that differ only in the
chat id of an already encoded form (sending.EncodedMessage). aiohttp's ClientSession builds a
request object, a URL, headers, a payload and a response object for each, and that machinery
was half of a paced send's CPU (profiled here at 1000/s: 0.34 of 0.48 CPU-s per 1,000 messages;
benchmarks/compare_senders.py). `FormPoster` writes the prepared request head and the body in
one write and reads the answer with httptools (llhttp, the parser uvicorn and aiohttp use too),
so the rest of the transport is a deque of idle connections and one future per request.

Only these sends come here (transport.AiohttpRequest routes an `EncodedRequestData` to it); every
other call, uploads included, stays on aiohttp. Answers go back to python-telegram-bot's request
wrapper, which turns each status and body into its errors as for any other call.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import urllib.parse

import httptools
from telegram.error import NetworkError, TimedOut

from bot.log_redaction import redact


class _Answer(asyncio.Protocol):
    """One connection: writes a request, collects the answer's status and body."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False
        self.keep_alive = True

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(NetworkError(f"the Bot API server's answer is not HTTP ({error})"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(NetworkError("the Bot API server closed the connection before answering"))

    # httptools callbacks

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        body, self.body = b"".join(self.body), []
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body))

    # the poster's side

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def time_out(self) -> None:
        self._fail(TimedOut("the Bot API server did not answer in time"))
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class FormPoster:
    """POSTs of form bodies to one Bot API server, on at most `connections` kept-alive connections.

    A connection the server closed while idle is found out on the next request, which then fails
    with NetworkError like any broken connection; the sender's retries handle both alike."""

    def __init__(self, *, connections: int, connect_timeout: float | None, read_timeout: float | None,
                 user_agent: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self._slots = asyncio.Semaphore(connections)
        self._idle: collections.deque[_Answer] = collections.deque()
        self._open: set[_Answer] = set()
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._user_agent = user_agent
        self._heads: dict[str, tuple[tuple[str, int, bool], bytes]] = {}
        # The system's certificate authorities unless given (a test brings its own).
        self._ssl = ssl_context
        # The loop the poster serves, kept: asyncio.get_running_loop() costs a getpid() system
        # call each time (CPython checks for a fork), a thousand times a second here.
        self._loop: asyncio.AbstractEventLoop | None = None

    def _head(self, url: str) -> tuple[tuple[str, int, bool], bytes]:
        """Where `url` is, and the request's first lines up to the body's length (made once per URL)."""
        known = self._heads.get(url)
        if known is None:
            parts = urllib.parse.urlsplit(url)
            secure = parts.scheme == "https"
            host = parts.hostname or "localhost"
            port = parts.port or (443 if secure else 80)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            host_header = host if parts.port is None else f"{host}:{port}"
            head = (f"POST {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {self._user_agent}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ").encode()
            known = self._heads[url] = ((host, port, secure), head)
        return known

    async def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        """The answer's status and body; NetworkError or TimedOut if there is none."""
        address, head = self._head(url)
        async with self._slots:
            connection = await self._connection(address)
            loop = self._loop
            waiter = connection.waiter = loop.create_future()
            timer = (loop.call_later(self._read_timeout, connection.time_out)
                     if self._read_timeout is not None else None)
            try:
                connection.transport.write(b"%b%d\r\n\r\n%b" % (head, len(body), body))
                answer = await waiter
            except BaseException:
                # Cancelled, timed out or broken half-way: the connection's state is unknown.
                connection.close()
                self._open.discard(connection)
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            if connection.keep_alive and not connection.closed:
                self._idle.append(connection)
            else:
                connection.close()
                self._open.discard(connection)
            return answer

    async def _connection(self, address: tuple[str, int, bool]) -> _Answer:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
            self._open.discard(connection)
        host, port, secure = address
        if secure and self._ssl is None:
            self._ssl = ssl.create_default_context()
        loop = self._loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Answer, host, port, ssl=self._ssl if secure else None),
                self._connect_timeout)
        except TimeoutError as error:
            raise TimedOut("could not connect to the Bot API server in time") from error
        except OSError as error:
            # The message may name the address; the token is never in it, but redact all the same.
            raise NetworkError(f"could not connect to the Bot API server: {redact(str(error))}") from None
        self._open.add(connection)
        return connection

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()
