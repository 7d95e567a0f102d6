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

    p = subparsers.add_parser("loadtest", help="load-test 's2s-onnx serve' with and without dynamic batching")
    p.add_argument("--model", type=Path, default=None, help="bundle directory (default: the built-in dates model)")
    p.add_argument("--texts", type=Path, default=None, help="one text per line (default: the bundle's reference.json)")
    p.add_argument("--clients", default="1,8,64", help="comma-separated concurrent client counts")
    p.add_argument("--requests", type=positive_int, default=2000, help="requests per run (after a warm-up)")
    p.add_argument("--seconds", type=float, default=30.0, help="time cap per run")
    p.add_argument("--max-batch", type=positive_int, default=32, help="the batching server's --max-batch")
    p.add_argument("--max-delay-ms", type=float, default=2.0, help="the batching server's --max-delay-ms")
    p.add_argument("--threads", type=positive_int, default=1, help="the server's onnxruntime threads")
    p.add_argument("--workers", type=positive_int, default=1, help="the server's decode workers (both modes)")
    p.add_argument("--out", type=Path, default=Path("loadtest-results"), help="directory for JSON, table and PNG")
    p.set_defaults(handler=run)


def _batch_sizes(text: str, flag: str = "--batch-sizes") -> tuple[int, ...]:
    try:
        sizes = tuple(int(b) for b in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise S2SError(f"{flag} must be comma-separated positive integers, got {text!r}")
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


def loadtest(args: argparse.Namespace) -> int:
    from s2s_onnx.runtime.bundle import default_model_path
    from s2s_onnx.runtime.config import BundleConfig

    from .load_test import (
        LoadSettings,
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
        bundle=args.model,
        texts=usable_texts(vocab, texts),
        clients=_batch_sizes(args.clients, "--clients"),
        requests=args.requests,
        seconds=args.seconds,
        max_batch=args.max_batch,
        max_delay_ms=args.max_delay_ms,
        threads=args.threads,
        workers=args.workers,
        out=args.out,
    )
    runs = load_test(settings)
    ceiling = decode_ceiling(settings)
    print(markdown(runs))
    one, many = ceiling.values()
    print(
        f"decoding alone, no HTTP: {one:,.0f} sentences/s one at a time, {many:,.0f} in batches of "
        f"{settings.max_batch} ({many / one:.2f}×: the most batching can gain here)"
    )
    bad = sum(r.errors + r.mismatches for r in runs)
    print(f"{sum(r.requests for r in runs)} requests, {bad} errors or mismatches against sequential decoding")
    print("wrote " + ", ".join(str(p) for p in write_results(settings, runs, ceiling)))
    return 0 if bad == 0 else 1


def run(args: argparse.Namespace) -> int:
    handlers = {"bench": bench, "demo": demo, "loadtest": loadtest}
    return handlers[args.command](args)
