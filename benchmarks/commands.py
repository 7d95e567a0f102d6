"""The ``bench`` and ``demo`` subcommands. Nothing heavy at module level."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from s2s_onnx.runtime.cli.arguments import option, output_flag, positive_int, verbose_flag
from s2s_onnx.runtime.errors import S2SError
from s2s_onnx.runtime.serving.batching import BatchingOptions


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("bench", help="latency and throughput: runtime vs Keras vs LiteRT vs floor")
    verbose_flag(p)
    p.add_argument("--model", type=Path, required=True, help="bundle directory")
    p.add_argument("--keras", type=Path, default=None, help="the trained Keras model file (adds Keras/LiteRT rows)")
    p.add_argument("--int8", type=Path, default=None, help="its 's2s-onnx quantize' output (adds int8 rows)")
    p.add_argument("--batch-sizes", default="1,8,64", help="comma-separated batch sizes")
    p.add_argument("--tokens", type=positive_int, default=50, help="tokens decoded per sentence, fixed (default: 50)")
    # the old spelling, kept for one release; hidden, since --steps elsewhere means step-by-step decoding
    p.add_argument("--steps", dest="old_steps", type=positive_int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--repeats", type=positive_int, default=20, help="timed repetitions per row and batch size")
    p.add_argument("--threads", type=positive_int, default=1)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    output_flag(p, "directory for JSON and PNG", Path("bench-results"))
    p.add_argument("--quick", action="store_true", help="very few repetitions (smoke test)")
    p.set_defaults(handler=run)

    p = subparsers.add_parser("demo", help="train, save .h5, convert, verify, translate and time on the built-in task")
    verbose_flag(p)
    output_flag(p, "output directory (a demo's own earlier output is replaced)", Path("s2s-demo"))
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--num-samples", type=positive_int, default=None)
    p.add_argument("--latent-dim", type=positive_int, default=None)
    p.add_argument("--force", action="store_true", help="write into an existing output directory")
    p.set_defaults(handler=run)

    p = subparsers.add_parser("loadtest", help="load-test 's2s-onnx serve' with and without dynamic batching")
    verbose_flag(p)
    p.add_argument("--model", type=Path, default=None, help="bundle directory (default: the built-in dates model)")
    p.add_argument("--texts", type=Path, default=None, help="one text per line (default: the bundle's reference.json)")
    p.add_argument("--clients", default="1,8,64", help="comma-separated concurrent client counts")
    p.add_argument("--requests", type=positive_int, default=2000, help="requests per run (after a warm-up)")
    p.add_argument("--seconds", type=float, default=30.0, help="time cap per run")
    b = BatchingOptions
    option(p, "--max-batch", source=(b, "max_batch_size"), type=positive_int, help="the batching server's --max-batch")
    option(p, "--max-delay-ms", source=(b, "max_delay_ms"), type=float, help="the batching server's --max-delay-ms")
    p.add_argument("--threads", type=positive_int, default=1, help="the server's onnxruntime threads")
    option(p, "--workers", source=(b, "workers"), type=positive_int, help="the server's decode workers (both modes)")
    output_flag(p, "directory for JSON, table and PNG", Path("loadtest-results"))
    p.set_defaults(handler=run)


def _batch_sizes(text: str, flag: str = "--batch-sizes") -> tuple[int, ...]:
    try:
        sizes = tuple(int(b) for b in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise S2SError(f"{flag} must be comma-separated positive integers, got {text!r}")
    return sizes


def _tokens(args: argparse.Namespace) -> int:
    if args.old_steps is None:
        return int(args.tokens)
    print("s2s-onnx: warning: bench --steps N is now --tokens N (the old spelling goes in the next release)",
          file=sys.stderr)  # fmt: skip
    return int(args.old_steps)


def bench(args: argparse.Namespace) -> int:
    from .bench import BenchSettings, benchmark

    if args.keras is not None:
        from s2s_onnx.models.quiet import quiet_frameworks

        quiet_frameworks(args.verbose)

    settings = BenchSettings(
        bundle_dir=args.model,
        keras_file=args.keras,
        int8_bundle=args.int8,
        batch_sizes=_batch_sizes(args.batch_sizes),
        steps=_tokens(args),
        repeats=2 if args.quick else args.repeats,
        slow_repeats=1 if args.quick else 3,
        threads=args.threads,
        device=args.device,
        out=args.output,
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


def loadtest(args: argparse.Namespace) -> int:
    from s2s_onnx.runtime.bundle import default_model_path
    from s2s_onnx.runtime.config import BundleConfig

    from .load_test import (
        LoadSettings,
        ceiling_notes,
        decode_ceiling,
        default_texts,
        load_test,
        markdown,
        usable_texts,
        write_results,
    )

    vocab = BundleConfig.load(args.model if args.model is not None else default_model_path()).vocabulary
    if args.texts is None:
        texts = default_texts(args.model)
    else:
        try:
            texts = tuple(line.rstrip("\r\n") for line in args.texts.read_text("utf-8").splitlines())
        except (OSError, UnicodeDecodeError) as exc:
            raise S2SError(f"cannot read --texts {args.texts}: {exc}; give a UTF-8 file, one text per line") from None
    settings = LoadSettings(
        bundle_dir=args.model,
        texts=usable_texts(vocab, texts),
        clients=_batch_sizes(args.clients, "--clients"),
        requests=args.requests,
        seconds=args.seconds,
        max_batch=args.max_batch_size,
        max_delay_ms=args.max_delay_ms,
        threads=args.threads,
        workers=args.workers,
        out=args.output,
    )
    runs = load_test(settings)
    ceiling = decode_ceiling(settings)
    print(markdown(runs))
    one, many = ceiling.values()
    print(
        f"decoding alone, no HTTP: {one:,.0f} sentences/s one at a time, {many:,.0f} in batches of "
        f"{settings.max_batch} ({many / one:.2f}×: the most batching can gain here)"
    )
    for note in ceiling_notes(runs, many / one):
        print(f"note: {note}")
    bad = sum(r.errors + r.mismatches for r in runs)
    print(f"{sum(r.requests for r in runs)} requests, {bad} errors or mismatches against sequential decoding")
    print("wrote " + ", ".join(str(p) for p in write_results(settings, runs, ceiling)))
    return 0 if bad == 0 else 1


def run(args: argparse.Namespace) -> int:
    handlers = {"bench": bench, "demo": demo, "loadtest": loadtest}
    return handlers[args.command](args)
