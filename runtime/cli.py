"""The ``s2s-onnx`` command line: ``parse_args()`` + ``run()``.

Each package owns its subcommands in a ``commands`` module (``register(subparsers)`` adds them, each parser's
``handler`` runs them); this module only assembles them. Those modules import nothing heavy at module level:
``translate`` and ``inspect`` need only the runtime, and the others import the ``export`` extra when they run,
saying how to install it when it is missing.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from importlib import metadata

from .errors import S2SError, install_hint

# Layer order: runtime <- models <- export <- benchmarks. Named, not imported, so the runtime depends on none.
COMMAND_MODULES = (
    "s2s_onnx.runtime.commands",
    "s2s_onnx.models.commands",
    "s2s_onnx.export.commands",
    "s2s_onnx.benchmarks.commands",
)
HEAVY_MODULES = ("tensorflow", "keras", "tf_keras", "tf2onnx", "onnx", "h5py", "tqdm", "matplotlib")


def _version() -> str:
    try:
        return metadata.version("s2s-onnx")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2s-onnx",
        description="Ship a Keras RNN encoder-decoder without TensorFlow: train, convert to ONNX, translate, bench.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; a missing heavy dependency becomes a :class:`MissingExtraError`."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        code: int = args.handler(args)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top in HEAVY_MODULES:
            raise install_hint("export", top) from exc
        raise
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
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
