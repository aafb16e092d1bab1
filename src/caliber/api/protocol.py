"""The HTTP/1.1 protocol `caliber serve` runs uvicorn with: uvicorn's httptools protocol
plus the two limits it lacks.

- **Header size.** httptools (llhttp) accepts a request line and headers of any length,
  and uvicorn keeps them all in memory until the blank line: one connection could send
  headers until the process runs out of memory. Past ``HTTP_MAX_HEADER_BYTES`` the
  request is answered 400 and the connection closed (uvicorn's answer to a request the
  parser refuses).
- **Header deadline.** uvicorn times out only idle keep-alive connections between
  requests: a connection that sends nothing, or its headers a byte at a time, is held
  forever. A request's line and headers must arrive within ``HTTP_HEADER_TIMEOUT``
  seconds of its first byte (of the connection, for the first request), or the
  connection is closed.

And one for the API processes' share of the work:

- **Requests per connection.** Under ``--workers N`` the processes share the listening
  socket and a connection stays with the process that accepted it for as long as it is
  kept alive. Each process accepts every connection waiting when it wakes, so a burst
  of clients can land mostly on one: the load benchmark saw 12 of its 16 connections on
  one of the two processes, which then queued three times the other's work for the whole
  run. After ``HTTP_MAX_KEEPALIVE_REQUESTS`` requests (nginx's ``keepalive_requests``)
  a response says ``Connection: close`` and the client connects again, to whichever
  process is free to accept it first: the less busy one.

The body has its own limits once the app reads it (``bodies.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from caliber.core.settings import get_settings


class HeaderLimitExceeded(Exception):  # noqa: N818 - raised inside the parser's callback
    """The request line and headers are larger than allowed."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a cap on header bytes, a header deadline and a
    cap on the requests of a keep-alive connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()  # each API process's own (the CLI's, or --workers')
        self.max_header_bytes = settings.HTTP_MAX_HEADER_BYTES
        self.header_timeout = settings.HTTP_HEADER_TIMEOUT
        self.max_requests = settings.HTTP_MAX_KEEPALIVE_REQUESTS
        self.requests = 0
        self.header_bytes = 0
        self.header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_bytes = 0
        if self.header_timer is None:  # a later request of a keep-alive connection
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()  # makes the request's cycle
        self.requests += 1
        if self.max_requests and self.requests >= self.max_requests and self.cycle is not None:
            # uvicorn answers it with "connection: close" and closes once it is sent
            self.cycle.keep_alive = False

    def _count(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > self.max_header_bytes:
            # the parser stops and uvicorn answers 400 and closes the connection
            raise HeaderLimitExceeded(f"request headers over {self.max_header_bytes} bytes")

    def _arm(self) -> None:
        self._disarm()
        self.header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
