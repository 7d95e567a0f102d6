"""The runtime's subcommands, ``translate``, ``translate-file`` and ``inspect`` (numpy + onnxruntime only; with
``--ray``, Ray)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ..bundle import Bundle
from ..errors import install_hint
from ..model import Seq2SeqModel
from ..options import DecodeOptions
from ..serving.serve import register as register_serve
from ..vocab import UNKNOWN_POLICIES
from ..web.command import register as register_web
from .arguments import (
    from_args,
    model_flag,
    option,
    output_flag,
    positive_int,
    session_config,
    session_flags,
    verbose_flag,
)
from .files import FileJob, count_rows, local_records, write_records
from .inspect import describe
from .streaming import LineTranslator, argument_lines, stream_lines


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("translate", help="translate texts with an exported bundle (no TensorFlow)")
    verbose_flag(p)
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to translate (default: one per line on stdin)")
    model_flag(p)
    session_flags(p)
    decoding_flags(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line: text, tokens, probabilities")
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="on a bad line print the error to stderr and --error-marker to stdout, go on, and exit 2 at the end",
    )
    option(p, "--error-marker", source=(LineTranslator, "marker"), help="what --keep-going prints for a bad line")
    p.set_defaults(handler=run)

    p = subparsers.add_parser("translate-file", help="translate a file of texts into JSON Lines, here or on Ray")
    verbose_flag(p)
    p.add_argument("input", type=Path, metavar="INPUT", help="text lines, .jsonl, .csv or .parquet")
    output_flag(p, "the JSON Lines file to write (whole, or not at all)")
    model_flag(p)
    session_flags(p)
    decoding_flags(p)
    option(p, "--column", source=(FileJob, "column"), help="the text field of .jsonl, .csv or .parquet rows")
    option(p, "--details", source=(FileJob, "details"), action="store_true", help="add each row's token ids")
    option(
        p, "--keep-going", source=(FileJob, "keep_going"), action="store_true",
        help="write a bad row's error in its place and go on (exit 2 at the end)",
    )  # fmt: skip
    p.add_argument("--ray", metavar="ADDRESS", default=None, help="run on this Ray cluster (auto: this machine's)")
    p.add_argument("--concurrency", type=positive_int, default=2, help="with --ray: translator actors")
    p.set_defaults(handler=run)

    p = subparsers.add_parser("inspect", help="show a bundle's graphs, operators, vocabulary and provenance")
    verbose_flag(p)
    p.add_argument("bundle", type=Path, nargs="?", default=None, help="bundle directory (default: built-in)")
    p.set_defaults(handler=run)
    register_serve(subparsers)
    register_web(subparsers)


def decoding_flags(parser: Any) -> None:
    """The :class:`DecodeOptions` flags of ``translate``."""
    d = DecodeOptions
    option(parser, "--batch-size", source=(d, "batch_size"), type=positive_int, help="texts decoded together")
    cap = "most tokens per text (default: the Keras example's cap)"
    option(parser, "--max-length", source=(d, "max_length"), type=positive_int, help=cap)
    option(parser, "--unknown", source=(d, "unknown"), choices=UNKNOWN_POLICIES, help="tokens outside the vocabulary")
    option(parser, "--truncate", source=(d, "truncate"), action="store_true", help="cut over-long inputs")
    option(parser, "--allow-empty", source=(d, "allow_empty"), action="store_true", help="decode empty lines")
    option(parser, "--beam", source=(d, "beam_size"), type=positive_int, metavar="N", help="beam search, N beams")
    option(parser, "--n-best", source=(d, "num_return"), type=positive_int, metavar="K", help="with --beam: K per text")
    option(
        parser, "--length-penalty", source=(d, "length_penalty"), type=float, metavar="ALPHA",
        help="with --beam: rank by log-prob / ((5+len)/6)**ALPHA",
    )  # fmt: skip
    option(parser, "--sample", source=(d, "sampling"), action="store_true", help="draw each token (not argmax)")
    option(parser, "--temperature", source=(d, "temperature"), type=float, help="with --sample: log-prob divisor")
    option(parser, "--top-k", source=(d, "top_k"), type=int, help="with --sample: keep the K likeliest (0: all)")
    option(parser, "--top-p", source=(d, "top_p"), type=float, help="with --sample: smallest set reaching P")
    option(parser, "--seed", source=(d, "seed"), type=int, help="with --sample: reproducible draws (default: random)")


def decode_options(args: argparse.Namespace) -> DecodeOptions:
    """The CLI's flags as one :class:`DecodeOptions` value."""
    return from_args(DecodeOptions, args, strategy="steps" if args.steps else "auto")


def translate(args: argparse.Namespace) -> int:
    """Translate the arguments, or stdin line by line; each batch is printed as soon as it is decoded, and what
    is pending as soon as the input pauses (a terminal or a co-process gets each answer when it waits for it)."""
    options = decode_options(args)
    model = Seq2SeqModel.open(args.model, session_config(args), options, verify=not args.no_verify)
    translator = LineTranslator(
        model,
        sys.stdout.buffer,
        batch_size=options.batch_size,
        as_json=args.json,
        keep_going=args.keep_going,
        marker=args.marker,
        err=sys.stderr,
        unit="argument" if args.texts else "line",
    )
    translator.run(argument_lines(args.texts) if args.texts else stream_lines(sys.stdin.buffer))
    if translator.failures:
        print(f"s2s-onnx: {len(translator.failures)} line(s) failed (reported above)", file=sys.stderr)
        return 2
    return 0


def translate_file(args: argparse.Namespace) -> int:
    """``translate-file``: the rows in input order, locally or through Ray Data."""
    options = decode_options(args)
    job = FileJob(args.input, args.output, args.column, args.details, args.keep_going)
    if args.ray is None:
        model = Seq2SeqModel.open(args.model, session_config(args), options, verify=not args.no_verify)
        records = local_records(model, job, options)
    else:
        if importlib.util.find_spec("ray") is None:
            raise install_hint("ray", "ray")
        from s2s_onnx.ray.data import file_records

        records = file_records(job, args.model, options, args.ray, args.concurrency)
    rows, failures = write_records(job, records, count_rows(job))
    if failures:
        print(f"s2s-onnx: {failures} of {rows} row(s) failed (their errors are in {job.target})", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "translate":
        return translate(args)
    if args.command == "translate-file":
        return translate_file(args)
    print(describe(Bundle.open(args.bundle)))
    return 0
