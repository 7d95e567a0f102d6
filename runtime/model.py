"""``Seq2SeqModel``: load an exported bundle and translate with onnxruntime."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import onnxruntime as ort

from . import config as names
from .config import BundleConfig
from .decoding import BatchTokens, StepRun, decode_fused, decode_steps
from .errors import BundleFormatError
from .sessions import create_session, make_session_options, resolve_providers
from .vocab import UnknownPolicy, Vocabulary

logger = logging.getLogger(__name__)

Strategy = Literal["auto", "fused", "steps"]
StopReason = Literal["end", "max_length"]


def default_model_path() -> Path:
    """The built-in dates bundle shipped inside the package."""
    return Path(__file__).resolve().parent / "assets" / "dates"


@dataclass(frozen=True)
class DecodeResult:
    """One decoded input: the text, its token ids, the probability of each chosen token, and why it stopped."""

    text: str
    token_ids: tuple[int, ...]
    probabilities: tuple[float, ...]
    stop_reason: StopReason

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "token_ids": list(self.token_ids),
            "probabilities": [round(p, 6) for p in self.probabilities],
            "stop_reason": self.stop_reason,
        }


class Seq2SeqModel:
    """An exported encoder-decoder bundle on onnxruntime. Thread-safe: share one instance."""

    def __init__(
        self,
        config: BundleConfig,
        encoder: ort.InferenceSession,
        decoder: ort.InferenceSession,
        greedy: ort.InferenceSession | None,
        path: Path,
    ) -> None:
        self.config = config
        self.vocabulary: Vocabulary = config.vocabulary
        self.path = path
        self._encoder = encoder
        self._decoder = decoder
        self._greedy = greedy
        _check_widths(config, encoder, decoder)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        device: str = "cpu",
        providers: Sequence[str] | None = None,
        provider_options: Sequence[dict[str, Any]] | None = None,
        sess_options: ort.SessionOptions | None = None,
        threads: int | None = None,
        use_fused: bool = True,
    ) -> Seq2SeqModel:
        """Load a bundle directory (default: the built-in dates model).

        ``device`` is ``"cpu"``, ``"cuda"`` or ``"auto"``; ``providers``/``provider_options``/``sess_options``
        are passed to onnxruntime as they are; ``threads`` sets intra-op threads. ``use_fused=False``
        ignores ``greedy.onnx`` and decodes step by step.
        """
        bundle = Path(path) if path is not None else default_model_path()
        config = BundleConfig.load(bundle)
        chosen = resolve_providers(device, providers)
        options = make_session_options(threads, sess_options)
        encoder = create_session(bundle / names.ENCODER_NAME, chosen, provider_options, options)
        decoder = create_session(bundle / names.DECODER_NAME, chosen, provider_options, options)
        greedy = None
        if use_fused and config.fused:
            greedy = create_session(bundle / names.GREEDY_NAME, chosen, provider_options, options)
        logger.info("loaded %s on %s (fused: %s)", bundle, ", ".join(encoder.get_providers()), bool(greedy))
        return cls(config, encoder, decoder, greedy, bundle)

    @property
    def providers(self) -> list[str]:
        return list(self._decoder.get_providers())

    @property
    def fused(self) -> bool:
        return self._greedy is not None

    @property
    def sessions(self) -> tuple[ort.InferenceSession, ort.InferenceSession, ort.InferenceSession | None]:
        """The (encoder, decoder, greedy) onnxruntime sessions, for benchmarks and custom loops."""
        return self._encoder, self._decoder, self._greedy

    # -- public API -----------------------------------------------------------------------------------
    @overload
    def translate(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        self,
        texts: str,
        *,
        batch_size: int = ...,
        max_length: int | None = ...,
        unknown: UnknownPolicy = ...,
        truncate: bool = ...,
        strategy: Strategy = ...,
    ) -> str: ...
    @overload
    def translate(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = ...,
        max_length: int | None = ...,
        unknown: UnknownPolicy = ...,
        truncate: bool = ...,
        strategy: Strategy = ...,
    ) -> list[str]: ...
    def translate(self, texts: str | Sequence[str], **options: Any) -> str | list[str]:
        """Translate one text (returns a str) or a list of texts (returns a list). Options as :meth:`decode`."""
        results = self.decode(texts, **options)
        if isinstance(results, DecodeResult):
            return results.text
        return [r.text for r in results]

    @overload
    def decode(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        self,
        texts: str,
        *,
        batch_size: int = ...,
        max_length: int | None = ...,
        unknown: UnknownPolicy = ...,
        truncate: bool = ...,
        strategy: Strategy = ...,
    ) -> DecodeResult: ...
    @overload
    def decode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = ...,
        max_length: int | None = ...,
        unknown: UnknownPolicy = ...,
        truncate: bool = ...,
        strategy: Strategy = ...,
    ) -> list[DecodeResult]: ...
    def decode(
        self,
        texts: str | Sequence[str],
        *,
        batch_size: int = 32,
        max_length: int | None = None,
        unknown: UnknownPolicy = "error",
        truncate: bool = False,
        strategy: Strategy = "auto",
    ) -> DecodeResult | list[DecodeResult]:
        """Greedy-decode texts in batches of ``batch_size``; results in input order.

        ``max_length`` caps the generated characters (default: the config's maximum decoder length).
        ``unknown`` handles characters outside the vocabulary (``"error"``, ``"skip"``, ``"replace"``);
        ``truncate`` cuts inputs longer than the encoder maximum instead of raising.
        ``strategy`` picks the fused graph (``"fused"``), the step loop (``"steps"``) or the best (``"auto"``).
        """
        single = isinstance(texts, str)
        items: list[str] = [texts] if isinstance(texts, str) else list(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        limit = self._max_length(max_length)
        greedy = self._greedy if self._use_fused(strategy) else None
        clean = [self.vocabulary.clean(t, unknown=unknown, truncate=truncate) for t in items]
        results: list[DecodeResult] = []
        for start in range(0, len(clean), batch_size):
            chunk = clean[start : start + batch_size]
            x = self.vocabulary.encode_sources(chunk)
            if greedy is not None:
                tokens = decode_fused(greedy, x, limit)
            else:
                tokens = decode_steps(self._encoder, self._decoder, x, self.vocabulary, self.config.latent_dim, limit)
            results.extend(self._results(tokens))
        return results[0] if single else results

    def stream(
        self,
        text: str,
        *,
        max_length: int | None = None,
        unknown: UnknownPolicy = "error",
        truncate: bool = False,
    ) -> Iterator[str]:
        """Yield the characters of one translation as they are decoded (step by step)."""
        clean = self.vocabulary.clean(text, unknown=unknown, truncate=truncate)
        limit = self._max_length(max_length)
        return self._stream(self.vocabulary.encode_sources([clean]), limit)

    # -- internals ------------------------------------------------------------------------------------
    def _stream(self, x: np.ndarray, limit: int) -> Iterator[str]:
        run = StepRun(self._encoder, self._decoder, x, self.vocabulary, self.config.latent_dim)
        chars = self.vocabulary.target_chars
        end_id = self.vocabulary.end_id
        for _ in range(limit):
            next_ids = run.step().argmax(axis=1)
            token = int(next_ids[0])
            if token == end_id:
                return
            yield chars[token]
            run.feed(next_ids)

    def _max_length(self, max_length: int | None) -> int:
        limit = self.vocabulary.max_decoder_len if max_length is None else max_length
        if limit < 1:
            raise ValueError(f"max_length must be at least 1, not {limit}")
        return limit

    def _use_fused(self, strategy: Strategy) -> bool:
        if strategy == "steps":
            return False
        if strategy == "fused":
            if self._greedy is None:
                raise BundleFormatError(
                    f"{self.path} has no {names.GREEDY_NAME}; re-export with 's2s-onnx convert --fused'"
                )
            return True
        if strategy != "auto":
            raise ValueError(f"strategy must be 'auto', 'fused' or 'steps', not {strategy!r}")
        return self._greedy is not None

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


def _check_widths(config: BundleConfig, encoder: ort.InferenceSession, decoder: ort.InferenceSession) -> None:
    """The vocabulary must match the graphs' one-hot widths."""
    vocab = config.vocabulary
    enc_width = encoder.get_inputs()[0].shape[-1]
    dec_width = decoder.get_inputs()[0].shape[-1]
    if isinstance(enc_width, int) and enc_width != vocab.num_encoder_tokens:
        raise BundleFormatError(
            f"config.json has {vocab.num_encoder_tokens} input characters but encoder.onnx takes {enc_width}; "
            "the bundle's files do not belong together - re-export it"
        )
    if isinstance(dec_width, int) and dec_width != vocab.num_decoder_tokens:
        raise BundleFormatError(
            f"config.json has {vocab.num_decoder_tokens} target characters but decoder.onnx takes {dec_width}; "
            "the bundle's files do not belong together - re-export it"
        )
