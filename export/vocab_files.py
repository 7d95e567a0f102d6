"""Vocabulary files as people saved them, read into one :class:`Vocabulary` (no TensorFlow needed).

One file (``--vocab``): s2s-onnx's own ``vocabulary.json``, the plain token-list JSON, or the Keras example's
``input_token_index``/``target_token_index`` dicts. A side each (``--source-vocab``, ``--target-vocab``): a Keras
``Tokenizer``'s ``to_json()`` (its text rules are kept: ``lower``, ``filters``, ``split``, ``char_level``,
``oov_token``, ``num_words``), its ``word_index`` or any ``{token: id}`` dict, or a ``TextVectorization``
vocabulary (a JSON list or a text file, one token per line; its default standardisation). Pickles are never
loaded: they can run code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2s_onnx.runtime.errors import DataFormatError, ModelFileNotFoundError
from s2s_onnx.runtime.text import DEFAULT_TEXT, TEXT_VECTORIZATION, TextHandling, tokenizer_text
from s2s_onnx.runtime.vocab import MAX_DECODER_LEN, MAX_ENCODER_LEN, PAD_TOKEN, Vocabulary

MAX_VOCAB_FILE_BYTES = 256 * 2**20
PICKLE_MARKERS = (b"\x80", b"(dp", b"(lp", b"ccopy_reg")
# start/end tokens of word targets as tutorials name them, tried in order when --start-token/--end-token are not given
START_END = (
    ("\t", "\n"),
    ("<start>", "<end>"),
    ("start", "end"),
    ("<sos>", "<eos>"),
    ("sos", "eos"),
    ("[start]", "[end]"),
    ("startseq", "endseq"),
    ("sostoken", "eostoken"),
    ("<bos>", "<eos>"),
    ("bos", "eos"),
)


@dataclass(frozen=True)
class Side:
    """One side's table (a token's position is its id) and how its texts were tokenized."""

    tokens: tuple[str, ...]
    tokenization: str = "word"
    text: TextHandling = DEFAULT_TEXT


@dataclass(frozen=True)
class VocabSettings:
    """What a side-by-side vocabulary cannot say itself: the start and end tokens, and the longest input and output
    the model was trained on (the Keras example's ``max_encoder_seq_length``/``max_decoder_seq_length``)."""

    start: str | None = None
    end: str | None = None
    max_encoder_len: int | None = None
    max_decoder_len: int | None = None


def read_json_file(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ModelFileNotFoundError(f"{what} {str(path)!r} does not exist")
    raw = path.read_bytes()[: MAX_VOCAB_FILE_BYTES + 1]
    if len(raw) > MAX_VOCAB_FILE_BYTES:
        raise DataFormatError(f"{path}: more than {MAX_VOCAB_FILE_BYTES // 2**20} MiB, too large for a vocabulary")
    if path.suffix in (".pkl", ".pickle") or raw.startswith(PICKLE_MARKERS):
        raise DataFormatError(
            f"{path} is a Python pickle, which s2s-onnx never loads (unpickling can run any code); in the script that "
            "made it, save JSON instead: tokenizer.to_json() for a Keras Tokenizer, json.dump(word_index) for a dict, "
            "or layer.get_vocabulary() for a TextVectorization layer"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if path.suffix == ".txt":
        return [line.rstrip("\r") for line in text.split("\n")][: -1 if text.endswith("\n") else None]
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DataFormatError(f"{path}: not a JSON vocabulary ({exc})") from exc


def load_vocabulary(path: Path) -> Vocabulary:
    """A file that describes both sides: s2s-onnx's own forms, or the Keras example's token-index dicts."""
    data = read_json_file(path, "vocabulary file")
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: not a vocabulary of both sides (a list is one side: use --source-vocab)")
    try:
        if "input_tokens" in data:
            return Vocabulary.from_token_lists(data)
        if "input_token_index" in data:
            return _example_dicts(data)
        if data.get("class_name") == "Tokenizer" or all(isinstance(v, int) for v in data.values()):
            raise DataFormatError(
                "this file is one side's tokenizer; give the model's two with --source-vocab FILE --target-vocab FILE"
            )
        return Vocabulary.from_dict(data)
    except DataFormatError as exc:
        raise DataFormatError(f"{path}: {exc}") from exc


def _example_dicts(data: dict[str, Any]) -> Vocabulary:
    """The Keras example's ``input_token_index``/``target_token_index`` (``{char: id}`` from 0), spaces padding."""
    inputs, targets = (_by_id(data[key], key).tokens for key in ("input_token_index", "target_token_index"))
    return Vocabulary.from_token_lists(
        {
            "tokenization": "char",
            "input_tokens": list(inputs),
            "target_tokens": list(targets),
            "padding": " " if " " in inputs else "",
            "max_encoder_seq_length": data.get("max_encoder_seq_length", max(1, len(inputs))),
            "max_decoder_seq_length": data.get("max_decoder_seq_length", max(1, len(targets))),
        }
    )


def example_dicts(vocab: Vocabulary) -> dict[str, Any]:
    """The Keras example's ``input_token_index``/``target_token_index`` and lengths of a character vocabulary."""
    return {
        "input_token_index": {c: i for i, c in enumerate(vocab.input_chars)},
        "target_token_index": {c: i for i, c in enumerate(vocab.target_chars)},
        "max_encoder_seq_length": vocab.max_encoder_len,
        "max_decoder_seq_length": vocab.max_decoder_len,
    }


def read_side(path: Path) -> Side:
    """One side's table from a Tokenizer JSON, a ``{token: id}`` dict or a TextVectorization vocabulary."""
    data = read_json_file(path, "vocabulary file")
    try:
        if isinstance(data, str) and data.lstrip().startswith("{"):
            data = json.loads(data)  # a Tokenizer's to_json() saved with json.dump: a JSON string of JSON
        if isinstance(data, dict) and data.get("class_name") == "Tokenizer":
            return _tokenizer(data.get("config") or {})
        if isinstance(data, dict):
            return _by_id(data, "word index")
        if isinstance(data, list) and all(isinstance(t, str) for t in data):
            rules = TEXT_VECTORIZATION if "[UNK]" in data else DEFAULT_TEXT
            return Side(tuple(data), "word", rules)
    except (DataFormatError, json.JSONDecodeError, TypeError, ValueError) as exc:
        raise DataFormatError(f"{path}: {exc}") from exc
    raise DataFormatError(
        f"{path}: not a vocabulary s2s-onnx reads (a Keras Tokenizer's to_json(), a {{token: id}} dict, or a "
        "TextVectorization vocabulary list)"
    )


def _tokenizer(config: dict[str, Any]) -> Side:
    index = config.get("word_index", "{}")
    side = _by_id(json.loads(index) if isinstance(index, str) else index, "Tokenizer word_index")
    num_words = config.get("num_words")
    tokens = side.tokens[:num_words] if isinstance(num_words, int) and num_words > 0 else side.tokens
    return Side(tokens, "char" if config.get("char_level") else "word", tokenizer_text(config))


def _by_id(index: object, what: str) -> Side:
    """``{token: id}`` as a table in id order; ids from 1 leave id 0 to the padding token ``""``."""
    if not isinstance(index, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in index.items()):
        raise DataFormatError(f"{what} must map tokens to whole-number ids")
    by_id = {v: k for k, v in index.items()}
    if len(by_id) != len(index):
        raise DataFormatError(f"{what} gives two tokens the same id")
    if not by_id:
        raise DataFormatError(f"{what} is empty")
    if by_id.get(0) is None:
        by_id[0] = PAD_TOKEN
    missing = [i for i in range(max(by_id) + 1) if i not in by_id]
    if missing:
        raise DataFormatError(f"{what} has no token with id {missing[0]}; ids must run from 0 or 1 without gaps")
    return Side(tuple(by_id[i] for i in range(len(by_id))), "word" if any(len(t) > 1 for t in index) else "char")


def pair_vocabulary(source: Side, target: Side, settings: VocabSettings) -> Vocabulary:
    """Both sides and the settings as one :class:`Vocabulary`; what is missing is an error naming the flag."""
    start, end = _start_end(target, settings)
    if settings.max_encoder_len is None or settings.max_decoder_len is None:
        raise DataFormatError(
            "these vocabulary files do not say the longest input and output the model was trained on; pass "
            "--max-encoder-length N --max-decoder-length M (the training script's max_encoder_seq_length and "
            "max_decoder_seq_length, or its pad_sequences maxlen)"
        )
    kind = "word" if "word" in (source.tokenization, target.tokenization) else "char"
    data = {
        "tokenization": kind,
        "input_tokens": list(source.tokens),
        "target_tokens": list(target.tokens),
        "padding": PAD_TOKEN,
        "start": start,
        "end": end,
        "max_encoder_seq_length": min(settings.max_encoder_len, MAX_ENCODER_LEN),
        "max_decoder_seq_length": min(settings.max_decoder_len, MAX_DECODER_LEN),
        **({} if source.text.is_default else {"text": source.text.to_dict()}),
    }
    return Vocabulary.from_token_lists(data)


def _start_end(target: Side, settings: VocabSettings) -> tuple[str, str]:
    known = set(target.tokens)
    if settings.start is not None or settings.end is not None:
        chosen = (settings.start or "", settings.end or "")
        for flag, token in zip(("--start-token", "--end-token"), chosen, strict=True):
            if token not in known:
                raise DataFormatError(f"{flag} {token!r} is not a token of the target vocabulary")
        return chosen
    # a Tokenizer with its default filters turned "<start>" into "start": the names are tried as the texts were
    prepared = target.text.prepared
    for start, end in START_END:
        for pair in ((start, end), (prepared(start).strip(), prepared(end).strip())):
            if all(pair) and set(pair) <= known:
                return pair
    raise DataFormatError(
        "found no start and end tokens in the target vocabulary (tried "
        f"{', '.join(f'{s!r}/{e!r}' for s, e in START_END)}); pass --start-token and --end-token"
    )
