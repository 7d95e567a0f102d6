"""``Seq2SeqModel``: translate with an exported bundle on onnxruntime."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import onnxruntime as ort

from .bundle import Bundle
from .config import BundleConfig
from .decoding import BatchTokens, Cancellation, decode_fused, decode_steps, greedy_steps
from .errors import (
    DecodeCancelledError,
    DecodeLimitError,
    EmptyInputError,
    InputTooLongError,
    InvalidOptionError,
    OptionTypeError,
)
from .options import MAX_DECODE_BYTES, DecodeOptions, decode_bytes
from .reference_check import check_reference
from .results import DecodePlan, DecodeResult, Method
from .search import Sampling, beam_search, fused_beam_search, sample
from .sessions import Device, SessionConfig
from .vocab import Vocabulary

logger = logging.getLogger(__name__)


class Seq2SeqModel:
    """A loaded bundle plus default decode options. Thread-safe: share one instance."""

    def __init__(self, bundle: Bundle, options: DecodeOptions | None = None) -> None:
        self.bundle = bundle
        self.options = options if options is not None else DecodeOptions()

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        device: Device = "cpu",
        providers: Sequence[str] | None = None,
        provider_options: Sequence[Mapping[str, Any]] | None = None,
        sess_options: ort.SessionOptions | None = None,
        threads: int | None = None,
        options: DecodeOptions | None = None,
        verify: bool = True,
    ) -> Seq2SeqModel:
        """Load a bundle directory (default: the built-in dates model).

        ``device`` is ``"cpu"``, ``"cuda"`` or ``"auto"``; ``providers``/``provider_options``/``sess_options``
        are passed to onnxruntime as they are; ``threads`` sets intra-op threads (see :class:`SessionConfig`).
        ``options`` are the default :class:`DecodeOptions` of every call; ``verify`` (see :meth:`open`) checks the
        bundle against its stored Keras decodes first.
        """
        sessions = SessionConfig(device, providers, provider_options, sess_options, threads)
        return cls.open(path, sessions, options, verify=verify)

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        sessions: SessionConfig | None = None,
        options: DecodeOptions | None = None,
        *,
        verify: bool = True,
    ) -> Seq2SeqModel:
        """Load a bundle directory from typed values: ``sessions`` says how onnxruntime runs, ``options`` are the
        default :class:`DecodeOptions` (``strategy="steps"`` leaves the fused graphs unloaded). ``verify``: first
        check that it reproduces a few of the Keras decodes stored in its ``reference.json`` (milliseconds)."""
        opts = options if options is not None else DecodeOptions()
        bundle = Bundle.open(path, sessions, fused=opts.strategy != "steps")
        if verify:
            check_reference(bundle)
        return cls(bundle, opts)

    @property
    def config(self) -> BundleConfig:
        return self.bundle.config

    @property
    def vocabulary(self) -> Vocabulary:
        return self.bundle.vocabulary

    @property
    def path(self) -> Path:
        return self.bundle.path

    @property
    def providers(self) -> list[str]:
        return self.bundle.providers

    @property
    def fused(self) -> bool:
        """Whether the default options decode greedily with the fused graph."""
        return self._plan(self.options.replace(beam_size=1, num_return=1), 0).fused

    # -- public API -----------------------------------------------------------------------------------
    @overload
    def translate(
        self, texts: str, options: DecodeOptions | None = ..., *, cancel: Cancellation | None = ..., **overrides: Any
    ) -> str: ...
    @overload
    def translate(
        self,
        texts: Sequence[str],
        options: DecodeOptions | None = ...,
        *,
        cancel: Cancellation | None = ...,
        **overrides: Any,
    ) -> list[str]: ...
    def translate(
        self,
        texts: str | Sequence[str],
        options: DecodeOptions | None = None,
        *,
        cancel: Cancellation | None = None,
        **overrides: Any,
    ) -> str | list[str]:
        """Translate one text (returns a str) or a list of texts (returns a list). Options as :meth:`decode`."""
        results = self.decode(texts, options, cancel=cancel, **overrides)
        if isinstance(results, DecodeResult):
            return results.text
        return [r.text for r in results]

    @overload
    def decode(
        self, texts: str, options: DecodeOptions | None = ..., *, cancel: Cancellation | None = ..., **overrides: Any
    ) -> DecodeResult: ...
    @overload
    def decode(
        self,
        texts: Sequence[str],
        options: DecodeOptions | None = ...,
        *,
        cancel: Cancellation | None = ...,
        **overrides: Any,
    ) -> list[DecodeResult]: ...
    def decode(
        self,
        texts: str | Sequence[str],
        options: DecodeOptions | None = None,
        *,
        cancel: Cancellation | None = None,
        **overrides: Any,
    ) -> DecodeResult | list[DecodeResult]:
        """Greedy-decode one text or a list of texts in batches; results in input order.

        ``options`` (default: the model's) with keyword ``overrides`` of its fields, e.g.
        ``decode(texts, max_length=20, strategy="steps")``; see :class:`DecodeOptions`. ``cancel`` lets another
        thread stop the decode (:class:`Cancellation`); it then raises :class:`DecodeCancelledError`.
        """
        opts = (options if options is not None else self.options).replace(**overrides)
        items = as_texts(texts)
        plan = self._plan(opts, len(items))
        rows = [self.prepare(text, opts) for text in items]
        found = self._decode_all(rows, opts, cancel, False, plan)
        results = with_unknown(found, [self.unknown_tokens(text, opts) for text in items])
        return results[0] if isinstance(texts, str) else results

    def unknown_tokens(self, text: str, options: DecodeOptions | None = None) -> int:
        """How many of ``text``'s tokens were skipped or replaced (0 without tokenizing again where none can be:
        with ``unknown="error"`` and no OOV token, an unknown token is an error)."""
        opts = options if options is not None else self.options
        if opts.unknown == "error" and self.vocabulary.text.oov_token is None:
            return 0
        return self.vocabulary.unknown_count(text)

    def prepare(self, text: str, options: DecodeOptions | None = None) -> list[int]:
        """One text's encoder input ids after the options' unknown-token, length and empty-input rules: the one
        place a text is cleaned (:meth:`decode`, :meth:`stream`, the batcher and the CLI all come here)."""
        vocab = self.vocabulary
        return vocab.source_ids([vocab.clean(text, options if options is not None else self.options)])[0]

    @overload
    def decode_ids(
        self,
        ids: Sequence[int],
        options: DecodeOptions | None = ...,
        *,
        cancel: Cancellation | None = ...,
        **overrides: Any,
    ) -> DecodeResult: ...
    @overload
    def decode_ids(
        self,
        ids: Sequence[Sequence[int]],
        options: DecodeOptions | None = ...,
        *,
        cancel: Cancellation | None = ...,
        **overrides: Any,
    ) -> list[DecodeResult]: ...
    def decode_ids(
        self,
        ids: Sequence[int] | Sequence[Sequence[int]],
        options: DecodeOptions | None = None,
        *,
        cancel: Cancellation | None = None,
        **overrides: Any,
    ) -> DecodeResult | list[DecodeResult]:
        """Decode token ids for applications that bring their own tokenizer: one list of input ids (returns one
        result) or a list of them (returns a list). Ids index ``vocabulary.input_chars``; results carry the output
        ids (``token_ids``). Options as :meth:`decode` (``unknown`` does not apply; ``truncate`` does)."""
        opts = (options if options is not None else self.options).replace(**overrides)
        single, rows = _as_id_rows(ids, self.vocabulary.num_encoder_tokens)
        limit = self.vocabulary.max_encoder_len
        for index, row in enumerate(rows):
            if len(row) > limit and not opts.truncate:
                raise InputTooLongError(
                    f"ids[{index}] has {len(row)} tokens but the encoder takes at most {limit}; "
                    "shorten it or pass truncate=True"
                )
            if not row and not opts.allow_empty:
                raise EmptyInputError(f"ids[{index}] is empty; pass allow_empty=True to decode it")
        plan = self._plan(opts, len(rows))
        return self._decode_all([row[:limit] for row in rows], opts, cancel, single, plan)

    def stream(self, text: str, options: DecodeOptions | None = None, **overrides: Any) -> Iterator[str]:
        """Yield one translation piece by piece as it is decoded (always step by step): its characters, or its
        words with the space before each but the first, so that the pieces join to :meth:`translate`'s text."""
        opts = (options if options is not None else self.options).replace(**overrides)
        if not isinstance(text, str):
            raise OptionTypeError(f"stream takes one text (str), not {type(text).__name__}")
        limit = self.max_length(opts)
        self._check_memory(1, limit)
        x = self.vocabulary.encode_ids([self.prepare(text, opts)], self.bundle.architecture.input == "ids")
        return self._stream(x, limit)

    def max_length(self, options: DecodeOptions | None = None) -> int:
        """Most tokens a decode with ``options`` generates: ``options.max_length``, else the cap of the author's
        loop the bundle records, else the Keras example's ``max_decoder_seq_length + 1``."""
        opts = options if options is not None else self.options
        if opts.max_length is not None:
            return opts.max_length
        vocab = self.vocabulary
        return vocab.loop.max_length if vocab.loop.max_length is not None else vocab.max_decoder_len + 1

    # -- internals ------------------------------------------------------------------------------------
    def _plan(self, opts: DecodeOptions, count: int) -> DecodePlan:
        """How ``count`` inputs are decoded with ``opts``: the one place where fused or steps is decided, and where
        a missing fused graph is an error (``strategy="fused"``); the memory bound is checked before any work."""
        method: Method = "beam" if opts.searches else "sampling" if opts.sampling else "greedy"
        if method == "beam" and not self.vocabulary.loop.stops_at_end:
            raise InvalidOptionError(
                "beam search ranks hypotheses that end; this model's loop has no end token (it always decodes "
                f"{self.max_length(opts)} tokens), so decode greedily or by sampling"
            )
        graph = {"greedy": self.bundle.greedy, "beam": self.bundle.beam, "sampling": None}[method]
        if opts.strategy == "fused" and graph is None:
            if method == "sampling":
                raise InvalidOptionError("sampling runs step by step; use strategy 'auto' or 'steps'")
            self.bundle.fused_graph(method)  # raises: the bundle has no such graph
        plan = DecodePlan(self.max_length(opts), method, opts.strategy != "steps" and graph is not None)
        self._check_memory(min(opts.batch_size, max(count, 1)) * opts.beam_size, plan.max_length)
        return plan

    def _decode_all(
        self,
        rows: list[list[int]],
        opts: DecodeOptions,
        cancel: Cancellation | None,
        single: bool,
        plan: DecodePlan,
    ) -> DecodeResult | list[DecodeResult]:
        """Decode rows of input ids in batches of ``opts.batch_size`` as ``plan`` (from :meth:`_plan`) says."""
        limit = plan.max_length
        ids = self.bundle.architecture.input == "ids"
        results: list[DecodeResult] = []
        for start in range(0, len(rows), opts.batch_size):
            x = self.vocabulary.encode_ids(rows[start : start + opts.batch_size], ids)
            if plan.method == "beam":
                results.extend(self._search_results(x, limit, opts, plan.fused))
            elif plan.method == "sampling":
                settings = Sampling(opts.temperature, opts.top_k, opts.top_p, opts.seed)
                drawn = sample(self.bundle, x, limit, settings, self.vocabulary.loop.stops_at_end)
                results.extend(self._results(drawn if self.vocabulary.loop.stops_at_end else drawn.without_end()))
            else:
                results.extend(self._results(self._decode_batch(x, limit, plan.fused, cancel)))
        return results[0] if single else results

    def _decode_batch(self, x: np.ndarray, limit: int, fused: bool, cancel: Cancellation | None) -> BatchTokens:
        run_options = cancel.run_options() if cancel is not None else None
        at_end = self.vocabulary.loop.stops_at_end
        try:
            decode = decode_fused if fused else decode_steps
            tokens = decode(self.bundle, x, limit, at_end, run_options)
            return tokens if at_end else tokens.without_end()
        except Exception as exc:
            if cancel is not None and cancel.cancelled:
                raise DecodeCancelledError("the decode was cancelled before it finished") from exc
            raise
        finally:
            if cancel is not None and run_options is not None:
                cancel.release(run_options)

    def _check_memory(self, batch: int, limit: int) -> None:
        vocab = self.vocabulary
        width = vocab.num_encoder_tokens if self.bundle.architecture.input == "one_hot" else 2
        needed = decode_bytes(batch, limit, vocab.num_decoder_tokens, vocab.max_encoder_len, width)
        if needed > MAX_DECODE_BYTES:
            raise DecodeLimitError(
                f"a batch of {batch} with max_length {limit} would need about {needed / 2**20:.0f} MiB, more than the "
                f"{MAX_DECODE_BYTES // 2**20} MiB a decode may use; lower batch_size or max_length "
                "(CLI: --batch-size, --max-length)"
            )

    def _stream(self, x: np.ndarray, limit: int) -> Iterator[str]:
        vocab = self.vocabulary
        tokens, end_id, separator = vocab.target_chars, vocab.end_id, ""
        at_end = vocab.loop.stops_at_end
        for next_ids, _ in greedy_steps(self.bundle, x, limit, at_end):
            token = int(next_ids[0])
            if at_end and token == end_id:
                return
            yield separator + tokens[token]
            separator = vocab.separator

    def _search_results(self, x: np.ndarray, limit: int, opts: DecodeOptions, fused: bool) -> list[DecodeResult]:
        decode = self.vocabulary.decode_ids
        found = []
        search = fused_beam_search if fused else beam_search
        for row in search(self.bundle, x, limit, opts.beam_size, opts.length_penalty):
            best, kept = row[0], tuple(row[: opts.num_return])
            found.append(
                DecodeResult(
                    text=decode(list(best.token_ids)),
                    token_ids=best.token_ids,
                    probabilities=best.probabilities,
                    stop_reason="end" if best.stop_reason == "end" else "max_length",
                    score=best.score,
                    hypotheses=kept,
                    texts=tuple(decode(list(h.token_ids)) for h in kept),
                )
            )
        return found

    def _results(self, tokens: BatchTokens) -> list[DecodeResult]:
        decode = self.vocabulary.decode_ids
        return [
            DecodeResult(
                text=decode(ids),
                token_ids=tuple(ids),
                probabilities=tuple(tokens.probs[row, : len(ids)].tolist()),
                stop_reason="end" if ended else "max_length",
            )
            for row, (ids, ended) in enumerate(tokens.rows())
        ]


def as_texts(texts: object) -> list[str]:
    """One text or a sequence of texts as a list; anything else is a ``TypeError`` naming what was given."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Sequence):
        raise OptionTypeError(f"texts must be a str or a list of str, not {type(texts).__name__}")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise OptionTypeError(f"texts[{index}] must be a str, not {type(text).__name__}")
    return list(texts)


def _as_id_rows(ids: object, size: int) -> tuple[bool, list[list[int]]]:
    """(single, rows): one list of ids or a list of them, each id an integer in ``[0, size)``."""
    if isinstance(ids, np.ndarray):
        ids = ids.tolist()
    if isinstance(ids, (str, bytes, bytearray)) or not isinstance(ids, Sequence):
        raise OptionTypeError(f"ids must be a list of ints or a list of lists of ints, not {type(ids).__name__}")
    single = not ids or not isinstance(ids[0], (Sequence, np.ndarray))
    rows = [ids] if single else list(ids)
    checked = []
    for index, row in enumerate(rows):
        if isinstance(row, np.ndarray):
            row = row.tolist()
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise OptionTypeError(f"ids[{index}] must be a list of ints, not {type(row).__name__}")
        for value in row:
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise OptionTypeError(f"ids[{index}] holds {value!r}; input ids are integers")
            if not 0 <= value < size:
                raise InvalidOptionError(f"ids[{index}] holds {value}; input ids go from 0 to {size - 1}")
        checked.append([int(v) for v in row])
    return single, checked


def with_unknown(results: DecodeResult | list[DecodeResult], counts: list[int]) -> list[DecodeResult]:
    """Each result with the number of its input's unknown tokens (how much was skipped or replaced)."""
    rows = [results] if isinstance(results, DecodeResult) else results
    return [dataclasses.replace(r, unknown_tokens=n) if n else r for r, n in zip(rows, counts, strict=True)]
