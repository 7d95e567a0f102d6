"""The runtime's subcommands, ``translate`` and ``inspect`` (numpy + onnxruntime only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .bundle import Bundle
from .inspect import describe
from .model import Seq2SeqModel
from .options import DecodeOptions
from .serve import register as register_serve
from .sessions import SessionConfig
from .streaming import LineTranslator, argument_lines, stream_lines


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
    p.add_argument(
        "--beam", type=positive_int, default=1, metavar="N", help="beam search with N beams (default: greedy)"
    )
    p.add_argument(
        "--n-best", type=positive_int, default=1, metavar="K", help="with --beam: K hypotheses per text, tab-separated"
    )
    p.add_argument("--sample", action="store_true", help="draw each token from the probabilities instead of argmax")
    p.add_argument("--temperature", type=float, default=1.0, help="with --sample: divides the log-probabilities")
    p.add_argument("--top-k", type=int, default=0, help="with --sample: keep the K likeliest tokens (0: all)")
    p.add_argument("--top-p", type=float, default=1.0, help="with --sample: keep the smallest set reaching P")
    p.add_argument("--seed", type=int, default=None, help="with --sample: reproducible draws")
    p.add_argument(
        "--length-penalty", type=float, default=0.0, metavar="ALPHA", help="with --beam: ((5+len)/6)**ALPHA ranking"
    )
    p.add_argument("--allow-empty", action="store_true", help="decode empty or blank lines instead of failing")
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="on a bad line print the error to stderr and --error-marker to stdout, go on, and exit 2 at the end",
    )
    p.add_argument("--error-marker", default="<error>", help="what --keep-going prints for a bad line")
    p.set_defaults(handler=run)

    p = subparsers.add_parser("inspect", help="show a bundle's graphs, operators, vocabulary and provenance")
    p.add_argument("bundle", type=Path, nargs="?", default=None, help="bundle directory (default: built-in)")
    p.set_defaults(handler=run)
    register_serve(subparsers, positive_int)


def decode_options(args: argparse.Namespace) -> DecodeOptions:
    """The CLI's flags as one :class:`DecodeOptions` value."""
    return DecodeOptions(
        max_length=args.max_length,
        unknown=args.unknown,
        truncate=args.truncate,
        strategy="steps" if args.steps else "auto",
        batch_size=args.batch_size,
        allow_empty=args.allow_empty,
        beam_size=args.beam,
        num_return=args.n_best,
        length_penalty=args.length_penalty,
        sampling=args.sample,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )


def translate(args: argparse.Namespace) -> int:
    """Translate the arguments, or stdin line by line; each batch is printed as soon as it is decoded (on a
    terminal, each line as soon as it is entered)."""
    options = decode_options(args)
    sessions = SessionConfig(device=args.device, threads=args.threads)
    model = Seq2SeqModel(Bundle.open(args.model, sessions, greedy=not args.steps), options)
    interactive = not args.texts and sys.stdin.isatty()
    translator = LineTranslator(
        model,
        sys.stdout.buffer,
        batch_size=1 if interactive else options.batch_size,
        as_json=args.json,
        keep_going=args.keep_going,
        marker=args.error_marker,
        err=sys.stderr,
        unit="argument" if args.texts else "line",
    )
    translator.run(argument_lines(args.texts) if args.texts else stream_lines(sys.stdin.buffer))
    if translator.failures:
        print(f"s2s-onnx: {len(translator.failures)} line(s) failed (reported above)", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "translate":
        return translate(args)
    print(describe(Bundle.open(args.bundle)))
    return 0
