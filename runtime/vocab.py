"""Character vocabulary of the Keras character-level seq2seq example, without TensorFlow.

The tables are built exactly the example's way: sorted characters of the training texts, each target
wrapped in ``"\\t"`` ... ``"\\n"``; inputs are one-hot and padded with spaces to the maximum length.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .errors import (
    DataFormatError,
    EmptyInputError,
    InputTooLongError,
    InvalidOptionError,
    OptionTypeError,
    UnknownCharacterError,
)

START_CHAR = "\t"
END_CHAR = "\n"
PAD_CHAR = " "

UnknownPolicy = Literal["error", "skip", "replace"]
MAX_ENCODER_LEN = 10_000  # longest input a bundle may declare
MAX_DECODER_LEN = 9_999  # so that the example's cap, max_decoder_len + 1, stays within DecodeOptions' ceiling


@dataclass(frozen=True)
class Vocabulary:
    """Input and target character tables plus the length limits seen in training."""

    input_chars: tuple[str, ...]
    target_chars: tuple[str, ...]
    max_encoder_len: int
    max_decoder_len: int
    start_char: str = START_CHAR
    end_char: str = END_CHAR
    pad_char: str = PAD_CHAR
    input_index: dict[str, int] = field(init=False, repr=False, compare=False)
    target_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_index", {c: i for i, c in enumerate(self.input_chars)})
        object.__setattr__(self, "target_index", {c: i for i, c in enumerate(self.target_chars)})
        if len(self.input_index) != len(self.input_chars) or len(self.target_index) != len(self.target_chars):
            raise DataFormatError("vocabulary has duplicate characters; rebuild it from the training data")
        for name in ("start_char", "end_char"):
            if getattr(self, name) not in self.target_index:
                raise DataFormatError(f"vocabulary: {name} {getattr(self, name)!r} is not among the target characters")

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_pairs(cls, sources: Sequence[str], targets: Sequence[str]) -> Vocabulary:
        """Build the tables from raw pairs (targets without start/end characters), as the example does."""
        if not sources or len(sources) != len(targets):
            raise DataFormatError("need a non-empty, equal number of source and target texts")
        wrapped = [START_CHAR + t + END_CHAR for t in targets]
        return cls(
            input_chars=tuple(sorted(set("".join(sources)))),
            target_chars=tuple(sorted(set("".join(wrapped)))),
            max_encoder_len=max(len(s) for s in sources),
            max_decoder_len=max(len(t) for t in wrapped),
        )

    @property
    def num_encoder_tokens(self) -> int:
        return len(self.input_chars)

    @property
    def num_decoder_tokens(self) -> int:
        return len(self.target_chars)

    @property
    def start_id(self) -> int:
        return self.target_index[self.start_char]

    @property
    def end_id(self) -> int:
        return self.target_index[self.end_char]

    # -- JSON ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "input_chars": "".join(self.input_chars),
            "target_chars": "".join(self.target_chars),
            "max_encoder_len": self.max_encoder_len,
            "max_decoder_len": self.max_decoder_len,
            "start_char": self.start_char,
            "end_char": self.end_char,
            "pad_char": self.pad_char,
        }

    @classmethod
    def from_dict(cls, data: object) -> Vocabulary:
        """Read the JSON form, checking every field's type and range (errors name the field)."""
        if not isinstance(data, dict):
            raise DataFormatError(f"vocabulary must be a JSON object, not {type(data).__name__}")
        return cls(
            input_chars=tuple(_require(data, "input_chars", str)),
            target_chars=tuple(_require(data, "target_chars", str)),
            max_encoder_len=_length(data, "max_encoder_len", MAX_ENCODER_LEN),
            max_decoder_len=_length(data, "max_decoder_len", MAX_DECODER_LEN),
            start_char=_char(data, "start_char", START_CHAR),
            end_char=_char(data, "end_char", END_CHAR),
            pad_char=_char(data, "pad_char", PAD_CHAR),
        )

    def to_token_lists(self) -> dict[str, Any]:
        """The plain JSON form (token lists in id order) that :meth:`from_token_lists` reads."""
        return {
            "tokenization": "char",
            "input_tokens": list(self.input_chars),
            "target_tokens": list(self.target_chars),
            "padding": self.pad_char,
            "start": self.start_char,
            "end": self.end_char,
            "max_encoder_seq_length": self.max_encoder_len,
            "max_decoder_seq_length": self.max_decoder_len,
        }

    @classmethod
    def from_token_lists(cls, data: dict[str, Any]) -> Vocabulary:
        """The plain JSON any training script can write: ``tokenization``, ``input_tokens``, ``target_tokens``
        (a token's position is its id), ``padding``, ``start``, ``end``, ``max_encoder_seq_length`` and
        ``max_decoder_seq_length``. Character-level only for now: word-level and ``Embedding`` id vocabularies
        (a ``""`` padding token) are refused with an error that says so."""
        kind = data.get("tokenization", "char")
        if kind != "char":
            raise DataFormatError(
                f"tokenization {kind!r} is not supported yet (character-level models only); "
                "see the README's known limits"
            )
        tables = {key: _token_list(data, key) for key in ("input_tokens", "target_tokens")}
        return cls(
            input_chars=tables["input_tokens"],
            target_chars=tables["target_tokens"],
            max_encoder_len=_length(data, "max_encoder_seq_length", MAX_ENCODER_LEN),
            max_decoder_len=_length(data, "max_decoder_seq_length", MAX_DECODER_LEN),
            start_char=_char(data, "start", START_CHAR),
            end_char=_char(data, "end", END_CHAR),
            pad_char=_char(data, "padding", PAD_CHAR),
        )

    # -- encoding ------------------------------------------------------------------------------------
    def clean(
        self, text: str, *, unknown: UnknownPolicy = "error", truncate: bool = False, allow_empty: bool = False
    ) -> str:
        """Apply the empty-input, unknown-character and length rules to one input text."""
        if not isinstance(text, str):
            raise OptionTypeError(f"input must be str, not {type(text).__name__}")
        if unknown not in ("error", "skip", "replace"):
            raise InvalidOptionError(f"unknown must be 'error', 'skip' or 'replace', not {unknown!r}")
        if not allow_empty and not text.strip():
            raise EmptyInputError(
                f"input is {'empty' if not text else 'blank'}; pass allow_empty=True (CLI: --allow-empty) to decode it"
            )
        bad = sorted({c for c in text if c not in self.input_index})
        if bad:
            if unknown == "error":
                raise UnknownCharacterError(
                    f"input has characters the model does not know: {_show(bad)}; remove them or pass "
                    "unknown='skip' or unknown='replace' (CLI: --unknown)",
                    tuple(bad),
                )
            if unknown == "skip":
                text = "".join(c for c in text if c in self.input_index)
            else:
                filler = self.pad_char if self.pad_char in self.input_index else ""
                text = "".join(c if c in self.input_index else filler for c in text)
        if len(text) > self.max_encoder_len:
            if not truncate:
                raise InputTooLongError(
                    f"input has {len(text)} characters but the encoder takes at most {self.max_encoder_len}; "
                    "shorten it or pass truncate=True (CLI: --truncate)"
                )
            text = text[: self.max_encoder_len]
        return text

    def encode_sources(self, texts: Iterable[str]) -> np.ndarray:
        """One-hot encoder input ``(batch, max_encoder_len, num_encoder_tokens)``, padded with spaces.

        Texts must already be clean (see :meth:`clean`).
        """
        texts = list(texts)
        return _one_hot(texts, self.input_index, self.max_encoder_len, self.pad_char)

    def encode_targets(self, targets: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Teacher-forcing arrays ``(decoder_input, decoder_target)`` for raw targets, the example's way."""
        wrapped = [self.start_char + t + self.end_char for t in targets]
        dec_in = _one_hot(wrapped, self.target_index, self.max_decoder_len, self.pad_char)
        shifted = [w[1:] for w in wrapped]
        dec_target = np.zeros_like(dec_in)
        dec_target[:, :-1] = _one_hot(shifted, self.target_index, self.max_decoder_len - 1, self.pad_char)
        pad = self.target_index.get(self.pad_char)
        if pad is not None:
            dec_target[:, -1, pad] = 1.0
        return dec_in, dec_target

    def decode_ids(self, ids: Iterable[int]) -> str:
        chars = self.target_chars
        return "".join(chars[i] for i in ids)


def _one_hot(texts: Sequence[str], index: dict[str, int], length: int, pad_char: str) -> np.ndarray:
    out = np.zeros((len(texts), length, len(index)), dtype=np.float32)
    pad = index.get(pad_char)
    for row, text in enumerate(texts):
        ids = [index[c] for c in text[:length]]
        out[row, np.arange(len(ids)), ids] = 1.0
        if pad is not None and len(ids) < length:
            out[row, len(ids) :, pad] = 1.0
    return out


def _require(data: dict[str, Any], key: str, kind: type) -> Any:
    if key not in data:
        raise DataFormatError(f"vocabulary: required field {key!r} is missing")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataFormatError(f"vocabulary: field {key!r} must be {kind.__name__}, not {type(value).__name__}")
    if kind is str and not value:
        raise DataFormatError(f"vocabulary: field {key!r} must not be empty")
    return value


def _token_list(data: dict[str, Any], key: str) -> tuple[str, ...]:
    tokens = _require(data, key, list)
    if not tokens:
        raise DataFormatError(f"vocabulary: field {key!r} must not be empty")
    for index, token in enumerate(tokens):
        if not isinstance(token, str) or len(token) != 1:
            raise DataFormatError(
                f"vocabulary: {key}[{index}] is {token!r}; character-level vocabularies hold single characters "
                "(word-level and Embedding id vocabularies are not supported yet)"
            )
    return tuple(tokens)


def _length(data: dict[str, Any], key: str, ceiling: int) -> int:
    value: int = _require(data, key, int)
    if not 1 <= value <= ceiling:
        raise DataFormatError(f"vocabulary: field {key!r} must be between 1 and {ceiling}, not {value}")
    return value


def _char(data: dict[str, Any], key: str, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or len(value) != 1:
        raise DataFormatError(f"vocabulary: field {key!r} must be a single character, not {value!r}")
    return value


def _show(chars: Sequence[str]) -> str:
    return ", ".join(repr(c) for c in chars)
