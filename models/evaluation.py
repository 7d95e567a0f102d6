"""Accuracy of a trained Keras model on the built-in dates task (needs the ``export`` extra)."""

from __future__ import annotations

from typing import Any

from s2s_onnx.runtime.vocab import Vocabulary

from . import dates
from .inference import build_inference_models
from .quality import exact_match
from .realistic_dates import realistic_pairs
from .reference import translate


def evaluate_dates(model: Any, vocab: Vocabulary, seen: set[str], count: int = 2000) -> dict[str, float]:
    """Exact match of the Keras reference decoder on held-out generator spellings not seen in training, and on
    the independent realistic test set (:mod:`realistic_dates`)."""
    models = build_inference_models(model)

    def _known(tokens: list[str]) -> bool:
        return 0 < len(tokens) <= vocab.max_encoder_len and all(t in vocab.input_index for t in tokens)

    scores = {}
    held_sources, held_targets = dates.held_out_pairs(count * 2)
    real_sources, real_targets = realistic_pairs(count)
    for name, sources, targets in (
        ("held_out", held_sources, held_targets),
        ("realistic", real_sources, real_targets),
    ):
        keep = [(s, t) for s, t in zip(sources, targets, strict=True) if s not in seen and _known(vocab.tokenize(s))]
        keep = keep[:count]
        predictions = translate(models.encoder, models.decoder, [s for s, _ in keep], vocab)
        scores[name] = exact_match(predictions, [t for _, t in keep])
    return scores
