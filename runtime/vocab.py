"""Token vocabulary of a seq2seq model, without TensorFlow: characters (the Keras example) or words.

Character tables are built exactly the example's way: sorted characters of the training texts, each target
wrapped in ``"\\t"`` ... ``"\\n"``; inputs are one-hot and padded with spaces to the maximum length. Word
tables hold whitespace-separated words (start and end tokens are words too; output words are joined by a
space). Tables of ``Embedding`` models (token ids in) and of word models start with ``""``, id 0: the padding
and mask token that Keras' ``pad_sequences`` and ``mask_zero`` expect. A token's position is its id.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from .errors import (
    DataFormatError,
    EmptyInputError,
    InputTooLongError,
    InvalidOptionError,
    OptionTypeError,
    UnknownCharacterError,
)
from .loop import DEFAULT_LOOP, LoopRules
from .text import DEFAULT_TEXT, TextHandling

START_CHAR = "\t"
END_CHAR = "\n"
PAD_CHAR = " "

UnknownPolicy = Literal["error", "skip", "replace"]
Tokenization = Literal["char", "word"]
TOKENIZATIONS = ("char", "word")
PAD_TOKEN = ""  # id 0 of Embedding and word vocabularies
MAX_ENCODER_LEN = 10_000  # longest input a bundle may declare
MAX_DECODER_LEN = 9_999  # so that the example's cap, max_decoder_len + 1, stays within DecodeOptions' ceiling
UNKNOWN_POLICIES: tuple[UnknownPolicy, ...] = ("error", "skip", "replace")


class TextRules(Protocol):
    """What :meth:`Vocabulary.clean` reads of the decode options (``DecodeOptions`` is one)."""

    @property
    def unknown(self) -> UnknownPolicy: ...
    @property
    def truncate(self) -> bool: ...
    @property
    def allow_empty(self) -> bool: ...


@dataclass(frozen=True)
class CleanRules:
    """:class:`TextRules` as a plain value; the defaults are strict: unknown tokens are an error, inputs are never
    cut, empty inputs are refused."""

    unknown: UnknownPolicy = "error"
    truncate: bool = False
    allow_empty: bool = False


STRICT = CleanRules()


@dataclass(frozen=True)
class Vocabulary:
    """Input and target token tables (``*_chars``: characters, or words) plus the length limits seen in training."""

    input_chars: tuple[str, ...]
    target_chars: tuple[str, ...]
    max_encoder_len: int
    max_decoder_len: int
    start_char: str = START_CHAR
    end_char: str = END_CHAR
    pad_char: str = PAD_CHAR
    tokenization: Tokenization = "char"
    loop: LoopRules = DEFAULT_LOOP  # how the author's loop stopped and joined (if not as the Keras example's)
    text: TextHandling = DEFAULT_TEXT  # how a text becomes tokens (a Keras Tokenizer's rules, if it had one)
    input_index: dict[str, int] = field(init=False, repr=False, compare=False)
    target_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_index", {c: i for i, c in enumerate(self.input_chars)})
        object.__setattr__(self, "target_index", {c: i for i, c in enumerate(self.target_chars)})
        if len(self.input_index) != len(self.input_chars) or len(self.target_index) != len(self.target_chars):
            raise DataFormatError("vocabulary has duplicate tokens; rebuild it from the training data")
        if self.tokenization not in TOKENIZATIONS:
            raise DataFormatError(f"vocabulary: tokenization must be 'char' or 'word', not {self.tokenization!r}")
        for name in ("start_char", "end_char"):
            if getattr(self, name) not in self.target_index:
                raise DataFormatError(f"vocabulary: {name} {getattr(self, name)!r} is not among the target tokens")

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_pairs(
        cls, sources: Sequence[str], targets: Sequence[str], tokenization: Tokenization = "char", ids: bool = False
    ) -> Vocabulary:
        """Build the tables from raw pairs (targets without start/end tokens), as the example does; word tables and
        (``ids``) tables for ``Embedding`` models start with the padding token ``""``."""
        if not sources or len(sources) != len(targets):
            raise DataFormatError("need a non-empty, equal number of source and target texts")
        split = (lambda text: text.split()) if tokenization == "word" else list
        source_tokens = [split(s) for s in sources]
        wrapped = [[START_CHAR, *split(t), END_CHAR] for t in targets]
        padded = ids or tokenization == "word"
        first = (PAD_TOKEN,) if padded else ()
        return cls(
            input_chars=first + tuple(sorted({t for tokens in source_tokens for t in tokens})),
            target_chars=first + tuple(sorted({t for tokens in wrapped for t in tokens})),
            max_encoder_len=max(1, *(len(s) for s in source_tokens)),
            max_decoder_len=max(len(t) for t in wrapped),
            pad_char=PAD_TOKEN if padded else PAD_CHAR,
            tokenization=tokenization,
        )

    @property
    def separator(self) -> str:
        """What joins output tokens: the author's joiner, else nothing for characters and a space for words."""
        if self.loop.joiner is not None:
            return self.loop.joiner
        return " " if self.tokenization == "word" else ""

    def tokenize(self, text: str) -> list[str]:
        """A text's tokens: its characters, or its words (whitespace-separated, or as the model's Tokenizer split
        them: see :class:`TextHandling`)."""
        if self.tokenization == "word":
            return self.text.words(text)
        return list(self.text.prepared(text) if not self.text.is_default else text)

    @property
    def input_pad_id(self) -> int:
        """The id that pads encoder inputs: the padding token's, else 0 (Keras' ``pad_sequences``)."""
        return self.input_index.get(self.pad_char, 0)

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
            pad_char=_char(data, "pad_char", PAD_CHAR, allow_empty=True),
        )

    def to_token_lists(self) -> dict[str, Any]:
        """The plain JSON form (token lists in id order) that :meth:`from_token_lists` reads."""
        return {
            "tokenization": self.tokenization,
            "input_tokens": list(self.input_chars),
            "target_tokens": list(self.target_chars),
            "padding": self.pad_char,
            "start": self.start_char,
            "end": self.end_char,
            "max_encoder_seq_length": self.max_encoder_len,
            "max_decoder_seq_length": self.max_decoder_len,
            **({} if self.text.is_default else {"text": self.text.to_dict()}),
            **({} if self.loop.is_default else {"loop": self.loop.to_dict()}),
        }

    @classmethod
    def from_token_lists(cls, data: dict[str, Any]) -> Vocabulary:
        """The plain JSON any training script can write: ``tokenization``, ``input_tokens``, ``target_tokens``
        (a token's position is its id), ``padding``, ``start``, ``end``, ``max_encoder_seq_length`` and
        ``max_decoder_seq_length``. ``tokenization`` is ``"char"`` (tokens are single characters, or ``""``) or
        ``"word"``."""
        kind = data.get("tokenization", "char")
        if kind not in TOKENIZATIONS:
            raise DataFormatError(f"vocabulary: tokenization must be 'char' or 'word', not {kind!r}")
        tables = {key: _token_list(data, key, kind) for key in ("input_tokens", "target_tokens")}
        token = _char if kind == "char" else _word
        return cls(
            input_chars=tables["input_tokens"],
            target_chars=tables["target_tokens"],
            max_encoder_len=_length(data, "max_encoder_seq_length", MAX_ENCODER_LEN),
            max_decoder_len=_length(data, "max_decoder_seq_length", MAX_DECODER_LEN),
            start_char=token(data, "start", START_CHAR, allow_empty=True),  # "": the id-0 token, as some loops use
            end_char=token(data, "end", END_CHAR, allow_empty=True),
            pad_char=token(data, "padding", PAD_CHAR, allow_empty=True),
            tokenization=kind,
            text=TextHandling.from_dict(data["text"]) if "text" in data else DEFAULT_TEXT,
            loop=LoopRules.from_dict(data["loop"]) if "loop" in data else DEFAULT_LOOP,
        )

    # -- encoding ------------------------------------------------------------------------------------
    def clean(self, text: str, rules: TextRules = STRICT) -> list[str]:
        """One input text's tokens, after the empty-input, unknown-token and length ``rules`` (the decode
        options' ``unknown``, ``truncate`` and ``allow_empty``; default: strict)."""
        if not isinstance(text, str):
            raise OptionTypeError(f"input must be str, not {type(text).__name__}")
        unknown, truncate, allow_empty = rules.unknown, rules.truncate, rules.allow_empty
        if unknown not in UNKNOWN_POLICIES:
            raise InvalidOptionError(f"unknown must be 'error', 'skip' or 'replace', not {unknown!r}")
        if not allow_empty and not text.strip():
            raise EmptyInputError(
                f"input is {'empty' if not text else 'blank'}; pass allow_empty=True (CLI: --allow-empty) to decode it"
            )
        tokens = self.tokenize(text)
        what = "words" if self.tokenization == "word" else "characters"
        oov = self.text.oov_token
        if oov is not None and oov in self.input_index:  # the model's tokenizer maps unknown words to its OOV token
            tokens = [t if t in self.input_index else oov for t in tokens]
        bad = sorted({t for t in tokens if t not in self.input_index})
        if bad:
            if unknown == "error":
                raise UnknownCharacterError(
                    f"input has {what} the model does not know: {_show(bad)}; remove them or pass "
                    "unknown='skip' or unknown='replace' (CLI: --unknown)",
                    tuple(bad),
                )
            filler = [self.pad_char] if unknown == "replace" and self.pad_char in self.input_index else []
            tokens = [piece for t in tokens for piece in ([t] if t in self.input_index else filler)]
            if not allow_empty and all(t == self.pad_char for t in tokens):  # nothing the model knows is left
                raise EmptyInputError(
                    f"input has no {what} the model knows, only unknown ones ({_show(bad)}), so it is empty once "
                    f"they are {'replaced' if unknown == 'replace' else 'skipped'}; pass allow_empty=True (CLI: "
                    "--allow-empty) to decode it anyway"
                )
        if len(tokens) > self.max_encoder_len:
            if not truncate:
                raise InputTooLongError(
                    f"input has {len(tokens)} {what} but the encoder takes at most {self.max_encoder_len}; "
                    "shorten it or pass truncate=True (CLI: --truncate)"
                )
            tokens = tokens[: self.max_encoder_len]
        return tokens

    def unknown_count(self, text: str) -> int:
        """How many of ``text``'s tokens the vocabulary does not know (skipped, replaced, or made the OOV token)."""
        return sum(t not in self.input_index for t in self.tokenize(text))

    def source_ids(self, texts: Iterable[str | Sequence[str]]) -> list[list[int]]:
        """Token ids of each input: a str is tokenized, a list is taken as tokens (all must be known)."""
        index = self.input_index
        return [[index[t] for t in (self.tokenize(x) if isinstance(x, str) else x)] for x in texts]

    def encode_sources(self, texts: Iterable[str | Sequence[str]], ids: bool = False) -> np.ndarray:
        """Encoder input for clean texts or token lists (see :meth:`clean`), padded to ``max_encoder_len``: one-hot
        ``(batch, time, num_encoder_tokens)`` float32, or (``ids``, for an ``Embedding``) ``(batch, time)`` int64."""
        return self.encode_ids(self.source_ids(texts), ids)

    def encode_ids(self, rows: Sequence[Sequence[int]], ids: bool = False) -> np.ndarray:
        """Encoder input from token ids, padded as :meth:`encode_sources` pads."""
        pad = self.input_index.get(self.pad_char)
        if ids:
            return _padded_ids(rows, self.max_encoder_len, self.input_pad_id)
        return _one_hot(rows, self.max_encoder_len, self.num_encoder_tokens, pad)

    def encode_targets(self, targets: Sequence[str], ids: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Teacher-forcing arrays for raw targets: the decoder input (one-hot, or ``ids``) and the targets one step
        ahead. Character tables without a padding token get the example's one-hot targets (padding rows: the space,
        or zeros); tables with ``""`` get target ids ``(batch, time)`` padded with 0, for a sparse loss."""
        index = self.target_index
        wrapped = [[index[t] for t in (self.start_char, *self.tokenize(target), self.end_char)] for target in targets]
        pad = index.get(self.pad_char)
        length = self.max_decoder_len
        dec_in = _padded_ids(wrapped, length, pad or 0) if ids else _one_hot(wrapped, length, len(index), pad)
        shifted = [w[1:] for w in wrapped]
        if self.pad_char == PAD_TOKEN:
            return dec_in, _padded_ids(shifted, length, pad or 0)
        dec_target = _one_hot(shifted, length, len(index), pad)
        return dec_in, dec_target

    def decode_ids(self, ids: Iterable[int]) -> str:
        """Target token ids -> text (characters joined, or words joined by a space)."""
        tokens = self.target_chars
        return self.separator.join(tokens[i] for i in ids)


def _padded_ids(rows: Sequence[Sequence[int]], length: int, pad: int) -> np.ndarray:
    out = np.full((len(rows), length), pad, dtype=np.int64)
    for row, ids in enumerate(rows):
        out[row, : min(len(ids), length)] = ids[:length]
    return out


def _one_hot(rows: Sequence[Sequence[int]], length: int, width: int, pad: int | None) -> np.ndarray:
    out = np.zeros((len(rows), length, width), dtype=np.float32)
    for row, ids in enumerate(rows):
        ids = list(ids[:length])
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


def _token_list(data: dict[str, Any], key: str, tokenization: str) -> tuple[str, ...]:
    tokens = _require(data, key, list)
    if not tokens:
        raise DataFormatError(f"vocabulary: field {key!r} must not be empty")
    for index, token in enumerate(tokens):
        if not isinstance(token, str) or (tokenization == "char" and len(token) > 1):
            raise DataFormatError(
                f"vocabulary: {key}[{index}] is {token!r}; "
                + (
                    'character-level vocabularies hold single characters (or "" for padding); '
                    'use "tokenization": "word" for words'
                    if tokenization == "char"
                    else "tokens are strings"
                )
            )
    return tuple(tokens)


def _length(data: dict[str, Any], key: str, ceiling: int) -> int:
    value: int = _require(data, key, int)
    if not 1 <= value <= ceiling:
        raise DataFormatError(f"vocabulary: field {key!r} must be between 1 and {ceiling}, not {value}")
    return value


def _char(data: dict[str, Any], key: str, default: str, allow_empty: bool = False) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or len(value) > 1 or (not value and not allow_empty):
        what = "a single character" + (' or ""' if allow_empty else "")
        raise DataFormatError(f"vocabulary: field {key!r} must be {what}, not {value!r}")
    return value


def _word(data: dict[str, Any], key: str, default: str, allow_empty: bool = False) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise DataFormatError(f"vocabulary: field {key!r} must be a {'' if allow_empty else 'non-empty '}string")
    return value


def _show(chars: Sequence[str]) -> str:
    """Tokens for a message; a character that cannot be seen (a combining or control mark, an invisible space)
    gets its code point too."""
    return ", ".join(
        f"{c!r} (U+{ord(c):04X})" if len(c) == 1 and unicodedata.category(c)[0] in "MCZ" and c != " " else repr(c)
        for c in chars
    )


def random_texts(vocab: Vocabulary, rng: np.random.Generator, count: int, shortest: int = 0) -> list[str]:
    """``count`` random inputs of ``shortest`` to ``max_encoder_len`` tokens, from the known tokens (not the
    padding token, nor tokens that text cannot spell, such as a word token with spaces in it): what parity and the
    int8 check decode when no real inputs are at hand."""
    tokens = [t for t in vocab.input_chars if t and vocab.tokenize(t) == [t]]
    lengths = rng.integers(shortest, vocab.max_encoder_len + 1, size=count)
    spacer = (vocab.text.split or " ") if vocab.tokenization == "word" else ""  # how inputs are written, not outputs
    return [spacer.join(tokens[i] for i in rng.integers(0, len(tokens), size=int(n))) for n in lengths]
