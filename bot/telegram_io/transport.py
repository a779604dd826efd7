"""python-telegram-bot's requests over aiohttp, for the broadcaster's many concurrent sends.

PTB's default HTTPX transport spends most of its CPU on connection-pool bookkeeping once many
requests wait on one pool (about 80% of its CPU, as profiled here); aiohttp's connector does not, which
is the difference between a few hundred and a few thousand messages a second on one core.
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.log_redaction import redact
from bot.telegram_io.form_posts import FormPoster


class EncodedRequestData(RequestData):
    """A request whose body is already encoded (application/x-www-form-urlencoded): a broadcast
    encodes its message once and only the chat id differs from send to send, which spares
    python-telegram-bot's per-parameter encoding and aiohttp's form building (a third of a
    send's CPU, as profiled here). It goes out through a FormPoster (form_posts.py)."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

# The methods that put a message in a chat, which Telegram counts against its flood limits.
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendVenue", "sendLocation", "copyMessage"})


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` on one `aiohttp.ClientSession` with up to `connections` open connections.

    With `paid_sends`, every message goes out with `allow_paid_broadcast`: while a paid broadcast
    fills the free 30 a second, an ordinary reply without the flag would be refused with 429.
    Telegram charges only for messages beyond the free limit.
    """

    def __init__(self, *, connections: int = 256, read_timeout: float | None = 10.0,
                 connect_timeout: float | None = 10.0, media_write_timeout: float | None = 30.0,
                 paid_sends: bool = False) -> None:
        self._paid_sends = paid_sends
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._poster: FormPoster | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    @property
    def is_open(self) -> bool:
        return self._session is not None and not self._session.closed

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, limit_per_host=self._connections,
                                             ttl_dns_cache=300, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})
            self._poster = FormPoster(connections=self._connections, connect_timeout=self._connect_timeout,
                                      read_timeout=self._read_timeout, user_agent=self.USER_AGENT)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        if self._poster is not None:
            self._poster.close()
        self._session = self._poster = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        if isinstance(request_data, EncodedRequestData):
            return await self._poster.post(url, request_data.body)
        files = request_data.multipart_data if request_data and request_data.contains_files else None
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect_timeout
        if isinstance(write_timeout, DefaultValue) and files:
            write_timeout = self._media_write_timeout
        # aiohttp has no separate write timeout; an upload may take as long as writing it allows.
        total = None
        if files and isinstance(write_timeout, (int, float)) and isinstance(read_timeout, (int, float)):
            total = write_timeout + read_timeout
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect_timeout, sock_read=read_timeout)
        body: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            parameters = request_data.json_parameters
            if self._paid_sends and url.rsplit("/", 1)[-1] in SEND_METHODS:
                parameters["allow_paid_broadcast"] = "true"
            if files:
                form = aiohttp.FormData(quote_fields=False)
                for name, value in parameters.items():
                    form.add_field(name, value)
                for name, upload in files.items():
                    if isinstance(upload, tuple):
                        filename, content, *rest = upload
                        form.add_field(name, content, filename=filename, content_type=rest[0] if rest else None)
                    else:
                        form.add_field(name, upload)
                body = form
            else:
                body = parameters
        return await self._send(method, url, body, timeout)

    async def _send(self, method: str, url: str, body: object, timeout: aiohttp.ClientTimeout) -> tuple[int, bytes]:
        try:
            async with self._session.request(method, url, data=body, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            # aiohttp's message may quote the request URL, which holds the bot token; the cause is
            # dropped for the same reason (a traceback prints it). Its kind and cleaned text remain.
            raise NetworkError(f"aiohttp.{type(error).__name__}: {redact(str(error))}") from None
