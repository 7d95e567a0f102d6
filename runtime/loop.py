"""``LoopRules``: how the model's author stopped and joined a decode, where it differs from the Keras example's loop.

The example stops at the end token or once the text is longer than ``max_decoder_seq_length`` and joins
characters with nothing (words with a space). Real loops differ: a fixed number of steps and no end token at all
(``stop="length"``), another default cap (``max_length``), output words joined with no separator (Lao, Thai,
Japanese and Chinese word tokens: ``joiner=""``). The bundle records them, so that default decodes equal the
author's loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .errors import DataFormatError

Stop = Literal["end", "length"]
STOPS: tuple[Stop, ...] = ("end", "length")
MAX_LOOP_LENGTH = 10_000
MAX_JOINER = 16


@dataclass(frozen=True)
class LoopRules:
    """``stop``: ``"end"`` (the end token, or the cap) or ``"length"`` (always the cap: no end token);
    ``max_length``: the default cap in generated tokens (``None``: the example's ``max_decoder_seq_length + 1``);
    ``joiner``: what joins output tokens (``None``: nothing for characters, a space for words)."""

    stop: Stop = "end"
    max_length: int | None = None
    joiner: str | None = None

    def __post_init__(self) -> None:
        if self.stop not in STOPS:
            raise DataFormatError(f"vocabulary: loop.stop must be 'end' or 'length', not {self.stop!r}")
        if self.max_length is not None and (
            not isinstance(self.max_length, int)
            or isinstance(self.max_length, bool)
            or not 1 <= self.max_length <= MAX_LOOP_LENGTH
        ):
            raise DataFormatError(f"vocabulary: loop.max_length must be a whole number from 1 to {MAX_LOOP_LENGTH}")
        if self.stop == "length" and self.max_length is None:
            raise DataFormatError("vocabulary: a loop that stops at a length (no end token) needs loop.max_length")
        if self.joiner is not None and (not isinstance(self.joiner, str) or len(self.joiner) > MAX_JOINER):
            raise DataFormatError(f"vocabulary: loop.joiner must be a string of at most {MAX_JOINER} characters")

    @property
    def stops_at_end(self) -> bool:
        return self.stop == "end"

    @property
    def is_default(self) -> bool:
        return self == LoopRules()

    def to_dict(self) -> dict[str, Any]:
        return {"stop": self.stop, "max_length": self.max_length, "joiner": self.joiner}

    @classmethod
    def from_dict(cls, data: object) -> LoopRules:
        if not isinstance(data, dict):
            raise DataFormatError(f"vocabulary: 'loop' must be a JSON object, not {type(data).__name__}")
        unknown = sorted(set(data) - {"stop", "max_length", "joiner"})
        if unknown:
            raise DataFormatError(f"vocabulary: loop has unknown fields {unknown}; it takes stop, max_length, joiner")
        return cls(stop=data.get("stop", "end"), max_length=data.get("max_length"), joiner=data.get("joiner"))

    def describe(self) -> str:
        stop = "at the end token or the cap" if self.stops_at_end else "after exactly the cap (no end token)"
        cap = "max decoder length + 1 (the Keras example's)" if self.max_length is None else str(self.max_length)
        joiner = "by tokenization" if self.joiner is None else repr(self.joiner)
        return f"stops {stop}; cap {cap}; joined {joiner}"


DEFAULT_LOOP = LoopRules()
