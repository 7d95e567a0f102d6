"""The ``s2s-onnx`` command line: ``parse_args()`` + ``run()``.

``translate`` and ``inspect`` need only the runtime; ``train``, ``convert``, ``bench`` and ``demo`` import the
``export`` extra lazily and say how to install it when it is missing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from .errors import MissingExtraError, S2SError, install_hint

HEAVY_MODULES = ("tensorflow", "keras", "tf_keras", "tf2onnx", "onnx", "h5py", "tqdm", "matplotlib")


def _version() -> str:
    try:
        return metadata.version("s2s-onnx")
    except metadata.PackageNotFoundError:
        return "unknown"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2s-onnx",
        description="Ship a Keras LSTM encoder-decoder without TensorFlow: train, convert to ONNX, translate, bench.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("translate", help="translate texts with an exported bundle (no TensorFlow)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to translate (default: one per line on stdin)")
    p.add_argument("--model", type=Path, default=None, help="bundle directory (default: the built-in dates model)")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    p.add_argument("--batch-size", type=_positive, default=32)
    p.add_argument("--max-length", type=_positive, default=None, help="cap on generated characters")
    p.add_argument("--threads", type=_positive, default=None, help="onnxruntime intra-op threads")
    p.add_argument(
        "--unknown",
        choices=("error", "skip", "replace"),
        default="error",
        help="what to do with characters outside the vocabulary",
    )
    p.add_argument("--truncate", action="store_true", help="cut inputs longer than the encoder maximum")
    p.add_argument("--steps", action="store_true", help="decode step by step even if the bundle has greedy.onnx")
    p.add_argument("--json", action="store_true", help="one JSON object per line: text, tokens, probabilities")

    p = sub.add_parser("inspect", help="show a bundle's graphs, operators, vocabulary and provenance")
    p.add_argument("bundle", type=Path, nargs="?", default=None, help="bundle directory (default: built-in)")

    p = sub.add_parser("train", help="train the Keras seed model (needs the 'export' extra)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="pairs file: source<TAB>target per line")
    source.add_argument("--task", choices=("dates",), help="built-in task (no download)")
    p.add_argument("--num-samples", type=_positive, default=None, help="first N pairs of --data / pairs of --task")
    p.add_argument("--epochs", type=_positive, default=None)
    p.add_argument("--latent-dim", type=_positive, default=256)
    p.add_argument("--batch-size", type=_positive, default=64)
    p.add_argument("--optimizer", default=None, help="Keras optimizer (default: rmsprop as the example; dates: adam)")
    p.add_argument("--learning-rate", type=float, default=None, help="default: the optimizer's")
    p.add_argument(
        "--forget-bias",
        type=float,
        default=None,
        help="initial LSTM forget-gate bias (Keras: 1.0; the dates task: 3.0)",
    )
    p.add_argument("--format", choices=("keras", "h5"), default="keras", help="saved model format")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, required=True, help="output directory")

    p = sub.add_parser("convert", help="convert a trained Keras model file to a verified ONNX bundle")
    p.add_argument("model_file", type=Path, metavar="MODEL_FILE", help=".keras or .h5 training model")
    vocab = p.add_mutually_exclusive_group()
    vocab.add_argument("--vocab", type=Path, help="vocabulary.json written by 's2s-onnx train'")
    vocab.add_argument("--data", type=Path, help="pairs file the model was trained on (rebuilds the vocabulary)")
    p.add_argument("--num-samples", type=_positive, default=None, help="with --data: pairs used in training")
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory to write")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--fused", action="store_true", help="also write greedy.onnx (the whole loop in one graph)")
    p.add_argument("--no-verify", action="store_true", help="skip the Keras/ONNX parity check")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed in parity")
    p.add_argument("--force", action="store_true", help="replace an existing bundle")

    p = sub.add_parser("bench", help="latency and throughput: runtime vs Keras vs LiteRT vs floor")
    p.add_argument("--model", type=Path, required=True, help="bundle directory")
    p.add_argument("--keras", type=Path, default=None, help="the trained Keras model file (adds Keras/LiteRT rows)")
    p.add_argument("--batch-sizes", default="1,8,64", help="comma-separated batch sizes")
    p.add_argument("--steps", type=_positive, default=50, help="decoder steps per sentence (fixed)")
    p.add_argument("--repeats", type=_positive, default=20, help="timed repetitions per row and batch size")
    p.add_argument("--threads", type=_positive, default=1)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="directory for JSON and PNG")
    p.add_argument("--quick", action="store_true", help="very few repetitions (smoke test)")

    p = sub.add_parser("demo", help="train, save .h5, convert, verify, translate and time on the built-in task")
    p.add_argument("-o", "--output", type=Path, default=Path("s2s-demo"), help="output directory")
    p.add_argument("--epochs", type=_positive, default=None)
    p.add_argument("--num-samples", type=_positive, default=None)
    p.add_argument("--latent-dim", type=_positive, default=None)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.command == "translate":
        from .commands import translate

        return translate(args)
    if args.command == "inspect":
        from .inspect import inspect_command

        return inspect_command(args)
    try:
        if args.command == "train":
            from s2s_onnx.models.cli import train_command as command
        elif args.command == "convert":
            from s2s_onnx.export.cli import convert_command as command
        elif args.command == "bench":
            from s2s_onnx.benchmarks.cli import bench_command as command
        else:
            from s2s_onnx.export.demo import demo_command as command
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in HEAVY_MODULES:
            raise install_hint("export", exc.name.split(".")[0]) from exc
        raise
    return command(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except MissingExtraError as exc:
        print(f"s2s-onnx: error: {exc}", file=sys.stderr)
        return 2
    except S2SError as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        if len(lines) > 1:
            print("\n".join(lines[1:]))
        print(f"s2s-onnx: error: {lines[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("s2s-onnx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
