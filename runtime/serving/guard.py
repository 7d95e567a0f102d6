"""Connection limits uvicorn's HTTP protocol does not enforce itself: request headers bounded in bytes and count
(431), a deadline for reading each request, headers and body alike (408: slow-loris clients, a Content-Length
larger than the body, a connection that never sends anything), and a cap on open connections (503). Each refusal
is logged. Imported only by ``s2s-onnx serve`` (the ``serve`` extra)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .limits import ServerLimits

logger = logging.getLogger(__name__)
REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}


class Refused(Exception):
    """Raised inside the parser's callbacks to stop a request; answered with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


LINGER_S = 1.0  # how long a closed connection still reads (and drops) what its client is sending


class LingeringTransport:
    """The connection's transport, but :meth:`close` first sends the end of the stream after the reply and keeps
    reading, dropping what arrives, until the client closes or :data:`LINGER_S` pass. Closing a socket that still
    has unread bytes makes the kernel reset the connection, and a client still uploading (a huge header, a body
    over the limit) would see that reset instead of its 431 or 413."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.inner, self.loop, self.lingering = transport, loop, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def is_closing(self) -> bool:
        return self.lingering or self.inner.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        if not self.inner.can_write_eof():
            self.inner.close()
            return
        self.lingering = True
        self.inner.write_eof()  # sent once the reply is flushed
        self.inner.resume_reading()
        self.loop.call_later(LINGER_S, self.inner.close)


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header, read-time and connection bounds of :attr:`limits`."""

    limits = ServerLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(LingeringTransport(transport, self.loop))  # type: ignore[arg-type]
        self._refusal: Refused | None = None
        self._head_bytes, self._read_bytes, self._reading_head, self._tail = 0, 0, True, b""
        self._deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > self.limits.max_connections:
            self.refuse(Refused(503, f"more than {self.limits.max_connections} connections are open; retry later"))
            return
        self.start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_deadline()
        super().connection_lost(exc)

    def start_deadline(self) -> None:
        self.stop_deadline()
        self._deadline = self.loop.call_later(self.limits.read_timeout_s, self.read_timed_out)

    def stop_deadline(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()  # type: ignore[union-attr]
            self._deadline = None

    def read_timed_out(self) -> None:
        self._deadline = None
        self.refuse(Refused(408, f"the request did not arrive within {self.limits.read_timeout_s:g} s"))

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None or self.transport.is_closing():
            return  # dropped: the connection is closing (or lingering, see LingeringTransport)
        if self._reading_head:  # a coarse bound on what the parser may buffer (a header line) before it calls back
            self._read_bytes += len(data)
            seen, self._tail = self._tail + data, data[-3:]
            ends_head = b"\r\n\r\n" in seen  # then the parser calls back now; a large body is the app's to refuse
            if self._read_bytes > self.limits.max_header_bytes + self.limits.max_body_bytes and not ends_head:
                self.refuse(Refused(431, f"the request headers are over {self.limits.max_header_bytes} bytes"))
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes, self._read_bytes, self._reading_head = 0, 0, True
        self.start_deadline()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        if len(self.headers) >= self.limits.max_headers:
            self._refuse_in_parser(Refused(431, f"the request has more than {self.limits.max_headers} headers"))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.stop_deadline()
        super().on_message_complete()
        if self._answered_early():  # uvicorn arms no keep-alive timer once the body has come in: close it here
            self.transport.close()

    def _answered_early(self) -> bool:
        """Whether the request being read was answered before its body came in (413, 415, 421...)."""
        return not self._reading_head and getattr(self, "cycle", None) is not None and self.cycle.response_complete

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._reading_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse_in_parser(Refused(431, f"the request headers are over {self.limits.max_header_bytes} bytes"))

    def _refuse_in_parser(self, refusal: Refused) -> None:
        self._refusal = refusal
        raise refusal  # httptools stops parsing; uvicorn then calls send_400_response, answered below

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
        else:
            self.refuse(self._refusal)

    def refuse(self, refusal: Refused) -> None:
        """Answer ``refusal`` as JSON and close the connection."""
        self._refusal = refusal
        self.stop_deadline()
        if self.transport.is_closing():
            return
        if self._answered_early():  # the client has its answer; the rest of its body is not waited for
            self.transport.close()
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        logger.warning("%s: %d %s (%s)", client, refusal.status, REASONS[refusal.status], refusal.message)
        body = json.dumps({"error": {"type": REASONS[refusal.status].replace(" ", ""), "message": refusal.message}})
        head = (
            f"HTTP/1.1 {refusal.status} {REASONS[refusal.status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body.encode("ascii"))
        self.transport.close()


def guarded_protocol(limits: ServerLimits) -> type[asyncio.Protocol]:
    """:class:`GuardedHttpTools` bound to ``limits``."""
    return type("GuardedHttpTools", (GuardedHttpTools,), {"limits": limits})


def uvicorn_settings(limits: ServerLimits) -> dict[str, Any]:
    """The ``uvicorn.Config`` arguments that carry ``limits``."""
    return {
        "http": guarded_protocol(limits),
        "timeout_keep_alive": max(1, round(limits.keep_alive_s)),
        "limit_concurrency": limits.max_connections,
    }
