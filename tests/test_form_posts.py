"""The broadcast's bare HTTP/1.1 sends (bot/telegram_io/form_posts.py) against small servers on
loopback that answer as HTTP allows but aiohttp's server never would: chunked bodies, closed
connections, silence, garbage, TLS."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trustme
from telegram.error import NetworkError, TimedOut

from bot.telegram_io.form_posts import FormPoster

OK_BODY = b'{"ok":true,"result":{"message_id":1}}'


class TinyServer:
    """Reads each request whole (head and Content-Length body) and answers with `answer(request)`;
    None closes the connection without a word."""

    def __init__(self, answer, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.ssl_context = ssl_context
        self.requests: list[bytes] = []
        self.connections = 0

    async def __aenter__(self) -> TinyServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                reply = self.answer(request)
                if reply is None:
                    break
                if reply == b"":  # say nothing, keep the connection open
                    await asyncio.sleep(3600)
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def answered(body: bytes = OK_BODY, *, status: str = "200 OK", close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return b"HTTP/1.1 %b\r\nContent-Type: application/json\r\n%bContent-Length: %d\r\n\r\n%b" % (
        status.encode(), extra, len(body), body)


def poster(**options) -> FormPoster:
    return FormPoster(connections=options.pop("connections", 4), connect_timeout=5, user_agent="test",
                      read_timeout=options.pop("read_timeout", 5), **options)


async def test_sends_go_on_one_kept_alive_connection_with_their_bodies_whole():
    async with TinyServer(lambda request: answered()) as server:
        posts = poster()
        url = f"http://127.0.0.1:{server.port}/bot1:x/sendMessage"
        for chat_id in range(1, 21):
            assert await posts.post(url, b"chat_id=%d&text=Hello" % chat_id) == (200, OK_BODY)
        posts.close()
    assert server.connections == 1 and posts.open_connections == 0
    first = server.requests[0]
    assert first.startswith(b"POST /bot1:x/sendMessage HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % server.port in first
    assert b"\r\nContent-Type: application/x-www-form-urlencoded\r\n" in first
    assert [r.split(b"\r\n\r\n")[1] for r in server.requests[:2]] == [b"chat_id=1&text=Hello",
                                                                     b"chat_id=2&text=Hello"]


async def test_concurrent_sends_open_no_more_connections_than_allowed():
    async with TinyServer(lambda request: answered()) as server:
        posts = poster(connections=3)
        url = f"http://127.0.0.1:{server.port}/bot1:x/sendMessage"
        answers = await asyncio.gather(*(posts.post(url, b"chat_id=%d" % i) for i in range(30)))
        posts.close()
    assert answers == [(200, OK_BODY)] * 30
    assert server.connections <= 3


async def test_a_chunked_answer_and_an_error_status_come_back_as_sent():
    error = b'{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}'

    def chunked(request):
        if b"chat_id=2" in request:
            return answered(error, status="403 Forbidden")
        halves = OK_BODY[:10], OK_BODY[10:]
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"".join(b"%x\r\n%b\r\n" % (len(half), half) for half in halves) + b"0\r\n\r\n")

    async with TinyServer(chunked) as server:
        posts = poster()
        url = f"http://127.0.0.1:{server.port}/bot1:x/sendMessage"
        assert await posts.post(url, b"chat_id=1") == (200, OK_BODY)
        assert await posts.post(url, b"chat_id=2") == (403, error)
        assert await posts.post(url, b"chat_id=3") == (200, OK_BODY)
        posts.close()
    assert server.connections == 1


async def test_a_connection_the_server_closes_is_not_used_again():
    async with TinyServer(lambda request: answered(close=True)) as server:
        posts = poster()
        url = f"http://127.0.0.1:{server.port}/bot1:x/sendMessage"
        for chat_id in range(3):
            assert await posts.post(url, b"chat_id=%d" % chat_id) == (200, OK_BODY)
        posts.close()
    assert server.connections == 3


async def test_a_connection_dropped_before_the_answer_is_a_network_error_and_the_next_send_goes():
    def drop_the_second(request):
        return None if b"chat_id=2" in request else answered()

    async with TinyServer(drop_the_second) as server:
        posts = poster()
        url = f"http://127.0.0.1:{server.port}/bot1:x/sendMessage"
        assert await posts.post(url, b"chat_id=1") == (200, OK_BODY)
        with pytest.raises(NetworkError, match="closed the connection"):
            await posts.post(url, b"chat_id=2")
        assert await posts.post(url, b"chat_id=3") == (200, OK_BODY)
        posts.close()


async def test_silence_is_a_timeout_and_garbage_is_a_network_error():
    async with TinyServer(lambda request: b"" if b"chat_id=1" in request else b"SMTP ready\r\n\r\n") as server:
        posts = poster(read_timeout=0.05)
        url = f"http://127.0.0.1:{server.port}/bot1:x/sendMessage"
        with pytest.raises(TimedOut):
            await posts.post(url, b"chat_id=1")
        with pytest.raises(NetworkError, match="not HTTP"):
            await posts.post(url, b"chat_id=2")
        assert posts.open_connections == 0
        posts.close()


async def test_an_unreachable_server_is_a_network_error_without_the_token():
    async with TinyServer(lambda request: answered()) as server:
        port = server.port
    posts = poster()
    with pytest.raises(NetworkError) as refused:
        await posts.post(f"http://127.0.0.1:{port}/bot123:secret/sendMessage", b"chat_id=1")
    assert "secret" not in str(refused.value)


async def test_https_is_verified_against_the_certificate_authorities_given():
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    async with TinyServer(lambda request: answered(), ssl_context=server_context) as server:
        url = f"https://localhost:{server.port}/bot1:x/sendMessage"
        posts = poster(ssl_context=trusting)
        assert await posts.post(url, b"chat_id=1") == (200, OK_BODY)
        posts.close()
        # The system's authorities do not know the test's own: refused, as an impostor would be.
        with pytest.raises(NetworkError, match="certificate"):
            await poster().post(url, b"chat_id=1")
