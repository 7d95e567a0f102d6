"""``s2s-onnx train``."""

from __future__ import annotations

import argparse
from typing import Any

from s2s_onnx.runtime.vocab import Vocabulary

from . import dates
from .data import read_pairs
from .inference import build_inference_models
from .reference import translate
from .training import TrainSettings, exact_match, save, train

# Defaults of the built-in dates task: reach >= 95% exact match on held-out dates in minutes on 2 cores.
DATES_SAMPLES = 20000
DATES_EPOCHS = 10
# Adam, not the example's rmsprop: with rmsprop the task reached only 65% in 10 epochs (5.6 min). A forget-gate
# bias of 3 lets the encoder carry what it read across the trailing padding spaces from the first epoch.
DATES_TRAIN: dict[str, Any] = {"optimizer": "adam", "learning_rate": 0.002, "forget_bias": 3.0, "clipnorm": 1.0}
DATA_EPOCHS = 100  # the Keras example's


def train_command(args: argparse.Namespace) -> int:
    extra: dict[str, Any] = {}
    if args.task == "dates":
        count = args.num_samples or DATES_SAMPLES
        sources, targets = dates.make_pairs(count, seed=args.seed)
        epochs = args.epochs or DATES_EPOCHS
        extra.update(DATES_TRAIN)
    else:
        sources, targets = read_pairs(args.data, args.num_samples)
        epochs = args.epochs or DATA_EPOCHS
    for name in ("optimizer", "learning_rate", "forget_bias"):
        if getattr(args, name) is not None:
            extra[name] = getattr(args, name)
    extra.setdefault("optimizer", "rmsprop")
    settings = TrainSettings(
        epochs=epochs,
        latent_dim=args.latent_dim,
        batch_size=args.batch_size,
        seed=args.seed,
        **extra,
    )
    print(f"training on {len(sources)} pairs for {epochs} epochs (latent {args.latent_dim}, {settings.optimizer})")
    result = save(train(sources, targets, settings), args.output, fmt=args.format)
    print(f"trained in {result.seconds / 60:.1f} min; saved {result.model_path} and {result.vocabulary_path}")
    if args.task == "dates":
        accuracy = evaluate_dates(result.model, result.vocabulary, set(sources))
        print(f"held-out exact match (reference greedy decoder): {accuracy:.1%}")
    return 0


def evaluate_dates(model: object, vocab: Vocabulary, seen: set[str], count: int = 1000) -> float:
    """Exact match of the Keras reference decoder on dates spelled differently from the training set."""
    sources, targets = dates.held_out_pairs(count * 2)
    known = vocab.input_index
    keep = [
        (s, t)
        for s, t in zip(sources, targets, strict=True)
        if s not in seen and len(s) <= vocab.max_encoder_len and all(c in known for c in s)
    ][:count]
    models = build_inference_models(model)
    predictions = translate(models.encoder, models.decoder, [s for s, _ in keep], vocab)
    return exact_match(predictions, [t for _, t in keep])
