"""The ``bench`` and ``demo`` subcommands. Nothing heavy at module level."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from s2s_onnx.runtime.commands import positive_int
from s2s_onnx.runtime.errors import S2SError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("bench", help="latency and throughput: runtime vs Keras vs LiteRT vs floor")
    p.add_argument("--model", type=Path, required=True, help="bundle directory")
    p.add_argument("--keras", type=Path, default=None, help="the trained Keras model file (adds Keras/LiteRT rows)")
    p.add_argument("--int8", type=Path, default=None, help="its 's2s-onnx quantize' output (adds int8 rows)")
    p.add_argument("--batch-sizes", default="1,8,64", help="comma-separated batch sizes")
    p.add_argument("--steps", type=positive_int, default=50, help="decoder steps per sentence (fixed)")
    p.add_argument("--repeats", type=positive_int, default=20, help="timed repetitions per row and batch size")
    p.add_argument("--threads", type=positive_int, default=1)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="directory for JSON and PNG")
    p.add_argument("--quick", action="store_true", help="very few repetitions (smoke test)")
    p.set_defaults(handler=run)

    p = subparsers.add_parser("demo", help="train, save .h5, convert, verify, translate and time on the built-in task")
    p.add_argument("-o", "--output", type=Path, default=Path("s2s-demo"), help="output directory")
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--num-samples", type=positive_int, default=None)
    p.add_argument("--latent-dim", type=positive_int, default=None)
    p.add_argument("--force", action="store_true", help="write into an existing output directory")
    p.set_defaults(handler=run)


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(b) for b in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise S2SError(f"--batch-sizes must be comma-separated positive integers, got {text!r}")
    return sizes


def bench(args: argparse.Namespace) -> int:
    from .bench import BenchSettings, benchmark

    if args.keras is not None:
        from s2s_onnx.models.quiet import quiet_frameworks

        quiet_frameworks(args.verbose)

    settings = BenchSettings(
        bundle=args.model,
        keras_file=args.keras,
        int8_bundle=args.int8,
        batch_sizes=_batch_sizes(args.batch_sizes),
        steps=args.steps,
        repeats=2 if args.quick else args.repeats,
        slow_repeats=1 if args.quick else 3,
        threads=args.threads,
        device=args.device,
        out=args.out,
    )
    result = benchmark(settings)
    print(result.table)
    for note in settings.notes:
        print(f"note: {note}")
    print(f"wrote {result.json_path}" + (f" and {result.plot_path}" if result.plot_path else ""))
    return 0


def demo(args: argparse.Namespace) -> int:
    from s2s_onnx.models.quiet import quiet_frameworks

    from .demo import DemoSettings, run_demo

    quiet_frameworks(args.verbose)

    defaults = DemoSettings()
    settings = DemoSettings(
        output=args.output,
        samples=args.num_samples or defaults.samples,
        epochs=args.epochs or defaults.epochs,
        latent_dim=args.latent_dim or defaults.latent_dim,
        force=args.force,
    )
    run_demo(settings)
    return 0


def run(args: argparse.Namespace) -> int:
    return bench(args) if args.command == "bench" else demo(args)
