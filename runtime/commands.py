"""The runtime's subcommands, ``translate`` and ``inspect`` (numpy + onnxruntime only)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .bundle import Bundle
from .inspect import describe
from .model import Seq2SeqModel
from .options import DecodeOptions
from .sessions import SessionConfig


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("translate", help="translate texts with an exported bundle (no TensorFlow)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to translate (default: one per line on stdin)")
    p.add_argument("--model", type=Path, default=None, help="bundle directory (default: the built-in dates model)")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--max-length", type=positive_int, default=None, help="most tokens generated per text")
    p.add_argument("--threads", type=positive_int, default=None, help="onnxruntime intra-op threads")
    p.add_argument(
        "--unknown",
        choices=("error", "skip", "replace"),
        default="error",
        help="what to do with characters outside the vocabulary",
    )
    p.add_argument("--truncate", action="store_true", help="cut inputs longer than the encoder maximum")
    p.add_argument("--steps", action="store_true", help="decode step by step even if the bundle has greedy.onnx")
    p.add_argument("--json", action="store_true", help="one JSON object per line: text, tokens, probabilities")
    p.set_defaults(handler=run)

    p = subparsers.add_parser("inspect", help="show a bundle's graphs, operators, vocabulary and provenance")
    p.add_argument("bundle", type=Path, nargs="?", default=None, help="bundle directory (default: built-in)")
    p.set_defaults(handler=run)


def decode_options(args: argparse.Namespace) -> DecodeOptions:
    """The CLI's flags as one :class:`DecodeOptions` value."""
    return DecodeOptions(
        max_length=args.max_length,
        unknown=args.unknown,
        truncate=args.truncate,
        strategy="steps" if args.steps else "auto",
        batch_size=args.batch_size,
    )


def translate(args: argparse.Namespace) -> int:
    sessions = SessionConfig(device=args.device, threads=args.threads)
    model = Seq2SeqModel(Bundle.open(args.model, sessions, greedy=not args.steps), decode_options(args))
    texts = list(args.texts) if args.texts else [line.rstrip("\r\n") for line in sys.stdin]
    results = model.decode(texts)
    out = sys.stdout
    for text, result in zip(texts, results, strict=True):
        if args.json:
            out.write(json.dumps({"input": text, **result.to_dict()}, ensure_ascii=False) + "\n")
        else:
            out.write(result.text + "\n")
    out.flush()
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "translate":
        return translate(args)
    print(describe(Bundle.open(args.bundle)))
    return 0
