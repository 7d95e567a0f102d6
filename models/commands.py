"""The ``train`` subcommand. Nothing heavy at module level: Keras is imported when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from s2s_onnx.runtime.cli.arguments import from_args, option, output_flag, positive_int, verbose_flag
from s2s_onnx.runtime.vocab import TOKENIZATIONS

from . import dates
from .settings import ATTENTIONS, CELLS, SAVE_FORMATS, TrainSettings

DATA_EPOCHS = 100  # the Keras example's


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="train the Keras example's encoder-decoder (needs the 'export' extra)")
    verbose_flag(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="pairs file: source<TAB>target per line")
    source.add_argument("--task", choices=("dates",), help="built-in task (no download)")
    p.add_argument("--num-samples", type=positive_int, default=None, help="first N pairs of --data / pairs of --task")
    p.add_argument(
        "--epochs", type=positive_int, default=None, help=f"default: {DATA_EPOCHS}, dates: {dates.DEFAULT_EPOCHS}"
    )
    s = TrainSettings
    option(p, "--latent-dim", source=(s, "latent_dim"), type=positive_int, help="recurrent units")
    option(p, "--batch-size", source=(s, "batch_size"), type=positive_int, help="training batch size")
    p.add_argument("--optimizer", default=None, help="Keras optimizer (default: rmsprop as the example; dates: adam)")
    p.add_argument("--learning-rate", type=float, default=None, help="default: the optimizer's")
    p.add_argument(
        "--forget-bias",
        type=float,
        default=None,
        help="initial LSTM forget-gate bias (Keras: 1.0; the dates task: 3.0)",
    )
    option(
        p, "--bidirectional", source=(s, "bidirectional"), action="store_true",
        help="Bidirectional encoder (its states concatenated into a decoder of twice --latent-dim)",
    )  # fmt: skip
    option(p, "--cell", source=(s, "cell"), choices=CELLS, help="recurrent cell")
    option(p, "--layers", source=(s, "layers"), type=positive_int, help="recurrent layers on each side")
    p.add_argument(
        "--embedding", type=positive_int, default=None, help="Embedding width: token-id inputs (default: one-hot)"
    )
    option(p, "--tokenization", source=(s, "tokenization"), choices=TOKENIZATIONS, help="characters or words")
    option(
        p, "--attention", source=(s, "attention"), choices=ATTENTIONS,
        help="attention over the encoder's outputs: Keras' Attention (dot), AdditiveAttention, or Luong's by hand",
    )  # fmt: skip
    p.add_argument("--format", choices=SAVE_FORMATS, default="keras", help="saved model format (default: keras)")
    option(p, "--seed", source=(s, "seed"), type=int, help="random seed")
    output_flag(p, "output directory")
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
    from .quiet import quiet_frameworks

    quiet_frameworks(args.verbose)
    from .data import write_held_out
    from .training import TimeLeft, save, train

    sources, targets, extra = _pairs_and_settings(args)
    settings = from_args(TrainSettings, args, embedding=args.embedding or 0, **extra)
    print(
        f"training on {len(sources)} pairs for {settings.epochs} epochs "
        f"({settings.layers}-layer {settings.cell}, latent {settings.latent_dim}, {settings.optimizer})"
    )
    estimate = TimeLeft(lambda line: print(line, flush=True))
    result = save(train(sources, targets, settings, [estimate]), args.output, fmt=args.format)
    write_held_out(args.output, sources, targets, settings.validation_split)
    print(f"trained in {result.seconds / 60:.1f} min; saved {result.model_path} and {result.vocabulary_path}")
    if args.task == "dates":
        from .evaluation import evaluate_dates

        scores = evaluate_dates(result.model, result.vocabulary, set(sources))
        print(
            f"held-out exact match (reference greedy decoder): {scores['held_out']:.1%} on generator spellings, "
            f"{scores['realistic']:.1%} on the independent realistic set"
        )
    return 0
