"""``ServerLimits``: the bounds of one HTTP request (no Starlette needed, so that the CLI reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import MAX_BATCH_SIZE, MAX_BEAM_SIZE, MAX_LENGTH_LIMIT, check_int, check_number
from .batching import MAX_TIMEOUT_S

MAX_BODY_BYTES = 2**30


@dataclass(frozen=True)
class ServerLimits:
    """Bounds on one request: body bytes, texts, tokens generated per text (``None``: the bundle's own cap,
    ``max_decoder_len + 1``), beams; how long shutdown waits for queued requests; and on connections: header bytes
    and count, the time to read a request, keep-alive idle time, open connections."""

    max_body_bytes: int = 64 * 1024
    max_texts: int = 64
    max_length: int | None = None
    max_beam_size: int = 8
    drain_timeout_s: float = 30.0
    max_header_bytes: int = 16 * 1024  # request line and headers together (more: 431)
    max_headers: int = 100  # (more: 431)
    read_timeout_s: float = 10.0  # to receive a whole request once it starts, or its first byte (else: 408)
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after this
    max_connections: int = 512  # open at once (more: 503)

    def __post_init__(self) -> None:
        check_int("max_body_bytes", self.max_body_bytes, MAX_BODY_BYTES)
        check_int("max_texts", self.max_texts, MAX_BATCH_SIZE)
        check_int("max_length", self.max_length, MAX_LENGTH_LIMIT, optional=True)
        check_int("max_beam_size", self.max_beam_size, MAX_BEAM_SIZE)
        check_number("drain_timeout_s", self.drain_timeout_s, 0.0, MAX_TIMEOUT_S)
        check_int("max_header_bytes", self.max_header_bytes, 1 << 20)
        check_int("max_headers", self.max_headers, 10_000)
        check_number("read_timeout_s", self.read_timeout_s, 0.05, MAX_TIMEOUT_S)
        check_number("keep_alive_s", self.keep_alive_s, 0.05, MAX_TIMEOUT_S)
        check_int("max_connections", self.max_connections, 100_000)
