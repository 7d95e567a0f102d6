"""The ``train`` subcommand. Nothing heavy at module level: Keras is imported when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from s2s_onnx.runtime.commands import positive_int

from . import dates

DATA_EPOCHS = 100  # the Keras example's


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="train the Keras seed model (needs the 'export' extra)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="pairs file: source<TAB>target per line")
    source.add_argument("--task", choices=("dates",), help="built-in task (no download)")
    p.add_argument("--num-samples", type=positive_int, default=None, help="first N pairs of --data / pairs of --task")
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--latent-dim", type=positive_int, default=256)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--optimizer", default=None, help="Keras optimizer (default: rmsprop as the example; dates: adam)")
    p.add_argument("--learning-rate", type=float, default=None, help="default: the optimizer's")
    p.add_argument(
        "--forget-bias",
        type=float,
        default=None,
        help="initial LSTM forget-gate bias (Keras: 1.0; the dates task: 3.0)",
    )
    p.add_argument(
        "--bidirectional",
        action="store_true",
        help="Bidirectional encoder (its states concatenated into a decoder of twice --latent-dim)",
    )
    p.add_argument("--cell", choices=("lstm", "gru"), default="lstm", help="recurrent cell (default: lstm)")
    p.add_argument("--layers", type=positive_int, default=1, help="recurrent layers on each side (default: 1)")
    p.add_argument(
        "--embedding", type=positive_int, default=None, help="Embedding width: token-id inputs (default: one-hot)"
    )
    p.add_argument(
        "--tokenization", choices=("char", "word"), default="char", help="characters (default) or whitespace words"
    )
    p.add_argument("--format", choices=("keras", "h5"), default="keras", help="saved model format")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    p.set_defaults(handler=run)


def _pairs_and_settings(args: argparse.Namespace) -> tuple[list[str], list[str], dict[str, Any]]:
    from .data import read_pairs

    extra: dict[str, Any] = {}
    if args.task == "dates":
        sources, targets = dates.make_pairs(args.num_samples or dates.DEFAULT_SAMPLES, seed=args.seed)
        extra.update(dates.TRAIN_SETTINGS, epochs=args.epochs or dates.DEFAULT_EPOCHS)
    else:
        sources, targets = read_pairs(args.data, args.num_samples)
        extra.update(epochs=args.epochs or DATA_EPOCHS)
    for name in ("optimizer", "learning_rate", "forget_bias"):
        if getattr(args, name) is not None:
            extra[name] = getattr(args, name)
    return sources, targets, extra


def run(args: argparse.Namespace) -> int:
    from s2s_onnx.models.quiet import quiet_frameworks

    quiet_frameworks(args.verbose)
    from .training import TrainSettings, save, train

    sources, targets, extra = _pairs_and_settings(args)
    settings = TrainSettings(
        latent_dim=args.latent_dim,
        batch_size=args.batch_size,
        seed=args.seed,
        bidirectional=args.bidirectional,
        cell=args.cell,
        layers=args.layers,
        embedding=args.embedding or 0,
        tokenization=args.tokenization,
        **extra,
    )
    print(
        f"training on {len(sources)} pairs for {settings.epochs} epochs "
        f"({settings.layers}-layer {settings.cell}, latent {settings.latent_dim}, {settings.optimizer})"
    )
    result = save(train(sources, targets, settings), args.output, fmt=args.format)
    print(f"trained in {result.seconds / 60:.1f} min; saved {result.model_path} and {result.vocabulary_path}")
    if args.task == "dates":
        from .evaluation import evaluate_dates

        scores = evaluate_dates(result.model, result.vocabulary, set(sources))
        print(
            f"held-out exact match (reference greedy decoder): {scores['held_out']:.1%} on generator spellings, "
            f"{scores['realistic']:.1%} on the independent realistic set"
        )
    return 0
