"""``ServerLimits``: the bounds of one HTTP request (no Starlette needed, so that the CLI reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import MAX_BATCH_SIZE, MAX_BEAM_SIZE, MAX_LENGTH_LIMIT, check_int, check_number
from .batching import MAX_TIMEOUT_S

MAX_BODY_BYTES = 2**30


@dataclass(frozen=True)
class ServerLimits:
    """Bounds on one request: body bytes, texts, tokens generated per text (``None``: the bundle's own cap,
    ``max_decoder_len + 1``), beams; and how long shutdown waits for queued requests."""

    max_body_bytes: int = 64 * 1024
    max_texts: int = 64
    max_length: int | None = None
    max_beam_size: int = 8
    drain_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_int("max_body_bytes", self.max_body_bytes, MAX_BODY_BYTES)
        check_int("max_texts", self.max_texts, MAX_BATCH_SIZE)
        check_int("max_length", self.max_length, MAX_LENGTH_LIMIT, optional=True)
        check_int("max_beam_size", self.max_beam_size, MAX_BEAM_SIZE)
        check_number("drain_timeout_s", self.drain_timeout_s, 0.0, MAX_TIMEOUT_S)
