"""``DecodeOptions``: every per-call decoding choice in one validated value, shared by the API and the CLI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidOptionError, OptionTypeError
from .vocab import UNKNOWN_POLICIES, UnknownPolicy

Strategy = Literal["auto", "fused", "steps"]
STRATEGIES = ("auto", "fused", "steps")
MAX_LENGTH_LIMIT = 10_000  # absolute ceiling on generated tokens per input, whatever the bundle says
MAX_BATCH_SIZE = 4096
MAX_BEAM_SIZE = 64
MAX_LENGTH_PENALTY = 10.0
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 100.0
MIN_TOP_P = 1e-6
SAMPLING_ONLY = ("temperature", "top_k", "top_p", "seed")
MAX_DECODE_BYTES = 512 * 2**20  # working memory of one batch decode, at most (see decode_bytes)


@dataclass(frozen=True)
class DecodeOptions:
    """How ``translate``/``decode``/``stream`` decode.

    ``max_length``: most tokens generated per input, the end token included; ``None`` is the Keras example's
    rule (stop once the text is longer than the bundle's maximum decoder length, i.e. ``max_decoder_len + 1``
    tokens). ``unknown``: characters outside the vocabulary are an ``"error"``, or are ``"skip"``-ped or
    ``"replace"``-d by the padding character. ``truncate``: cut over-long inputs instead of raising.
    ``strategy``: the whole loop in one fused graph (``"fused"``: ``greedy.onnx``, or ``beam.onnx`` for beam
    search), one decoder run per step (``"steps"``), or the fused graph when the bundle has one (``"auto"``);
    sampling always runs step by step. ``batch_size``: inputs decoded together.
    ``beam_size`` > 1: beam search (``batch_size x beam_size`` decoder rows) instead of greedy;
    ``num_return``: hypotheses kept per input (n-best, at most ``beam_size``); ``length_penalty``: the ``alpha``
    of the ranking's ``((5 + length) / 6) ** alpha`` normalisation (0: plain log-probability).
    ``sampling``: draw each token instead of taking the argmax, from the probabilities divided by
    ``temperature`` (in log space), cut to the ``top_k`` likeliest (0: all) and to the smallest set reaching
    ``top_p``; ``seed`` makes it reproducible.
    """

    max_length: int | None = None
    unknown: UnknownPolicy = "error"
    truncate: bool = False
    strategy: Strategy = "auto"
    batch_size: int = 32
    allow_empty: bool = False
    beam_size: int = 1
    num_return: int = 1
    length_penalty: float = 0.0
    sampling: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        check_int("max_length", self.max_length, MAX_LENGTH_LIMIT, optional=True)
        check_int("beam_size", self.beam_size, MAX_BEAM_SIZE)
        check_int("num_return", self.num_return, MAX_BEAM_SIZE)
        if self.num_return > self.beam_size:
            raise InvalidOptionError(
                f"num_return ({self.num_return}) cannot exceed beam_size ({self.beam_size}); "
                "raise beam_size (CLI: --beam)"
            )
        check_number("length_penalty", self.length_penalty, 0.0, MAX_LENGTH_PENALTY)
        check_int("batch_size", self.batch_size, MAX_BATCH_SIZE)
        _check_choice("unknown", self.unknown, UNKNOWN_POLICIES)
        _check_choice("strategy", self.strategy, STRATEGIES)
        check_number("temperature", self.temperature, MIN_TEMPERATURE, MAX_TEMPERATURE)
        check_number("top_p", self.top_p, MIN_TOP_P, 1.0)
        _check_whole("top_k", self.top_k, "(0: no cut)")
        if self.seed is not None:
            _check_whole("seed", self.seed, "or None")
        if self.sampling and self.searches:
            raise InvalidOptionError("sampling and beam search exclude each other; drop beam_size/num_return")
        self._check_sampling_only()
        for name in ("truncate", "allow_empty", "sampling"):
            if not isinstance(getattr(self, name), bool):
                raise OptionTypeError(f"{name} must be a bool, not {type(getattr(self, name)).__name__}")

    def _check_sampling_only(self) -> None:
        """temperature, top_k, top_p and seed shape sampling only; set without it they would be ignored."""
        if self.sampling:
            return
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        given = [name for name in SAMPLING_ONLY if getattr(self, name) != defaults[name]]
        if given:
            raise InvalidOptionError(
                f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only when sampling; pass "
                "sampling=True (CLI: --sample) or drop them"
            )

    @property
    def searches(self) -> bool:
        """Whether these options ask for beam search (more than one beam or hypothesis) rather than greedy."""
        return self.beam_size > 1 or self.num_return > 1

    def replace(self, **changes: Any) -> DecodeOptions:
        """A copy with ``changes`` applied; unknown names are a ``TypeError`` that lists the valid ones."""
        if not changes:
            return self
        valid = [f.name for f in dataclasses.fields(self)]
        wrong = sorted(set(changes) - set(valid))
        if wrong:
            raise OptionTypeError(f"unknown decode option(s) {', '.join(wrong)}; valid options: {', '.join(valid)}")
        return dataclasses.replace(self, **changes)


def check_int(name: str, value: object, ceiling: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise OptionTypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 1 <= value <= ceiling:
        raise InvalidOptionError(f"{name} must be between 1 and {ceiling}, not {value}")


def check_number(name: str, value: object, low: float, high: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise OptionTypeError(f"{name} must be a number, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidOptionError(f"{name} must be between {low} and {high}, not {value}")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """A wrong type is an :class:`OptionTypeError` (HTTP 400), a wrong value an :class:`InvalidOptionError` (422),
    as for every option."""
    if not isinstance(value, str):
        raise OptionTypeError(f"{name} must be a string, one of {', '.join(repr(c) for c in choices)}, not {value!r}")
    if value not in choices:
        raise InvalidOptionError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, not {value!r}")


def _check_whole(name: str, value: object, note: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise OptionTypeError(f"{name} must be a whole number >= 0 {note}, not {value!r}")
    if value < 0:
        raise InvalidOptionError(f"{name} must be a whole number >= 0 {note}, not {value!r}")


def decode_bytes(batch: int, steps: int, vocab_size: int, encoder_len: int, encoder_width: int) -> int:
    """Upper estimate of one batch decode's peak working memory, measured rather than derived: per generated
    token slot, the fused graph's stacked logits with the copies onnxruntime's ``Loop`` and the softmax after it
    make (about ``20 * vocab_size`` bytes) plus the token ids, probabilities and the Python results
    (about 100 bytes); the one-hot encoder input twice."""
    return batch * (steps * (24 * vocab_size + 128) + 2 * encoder_len * encoder_width * 4)
