"""The ``s2s-onnx`` command line: ``parse_args()`` + ``run()``.

Each package owns its subcommands in a ``commands`` module (``register(subparsers)`` adds them, each parser's
``handler`` runs them; ``onnx_only`` marks those that need only the ``quantize`` extra); this module only
assembles them. ``-v/--verbose`` goes before or after the subcommand. Those modules import nothing heavy at
module level: ``translate`` and ``inspect`` need only the runtime, and the others import their extra when they
run, saying how to install it when it is missing.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from ..errors import S2SError, install_hint

# Layer order: runtime <- models <- export <- benchmarks. Named, not imported, so the runtime depends on none.
COMMAND_MODULES = (
    "s2s_onnx.runtime.cli.commands",
    "s2s_onnx.models.commands",
    "s2s_onnx.export.commands",
    "s2s_onnx.benchmarks.commands",
)
HEAVY_MODULES = ("tensorflow", "keras", "tf_keras", "tf2onnx", "onnx", "ml_dtypes", "h5py", "tqdm", "matplotlib")
QUANTIZE_MODULES = ("onnx", "ml_dtypes")  # all that a command with ``onnx_only`` set needs (the 'quantize' extra)


def _version() -> str:
    try:
        return metadata.version("s2s-onnx")
    except metadata.PackageNotFoundError:
        return "unknown"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
            extra = "quantize" if top in QUANTIZE_MODULES and getattr(args, "onnx_only", False) else "export"
            raise install_hint(extra, top) from exc
        raise
    return code


def _fail(message: str) -> int:
    lines = message.strip().splitlines() or ["unknown error"]
    print(f"s2s-onnx: error: {lines[0]}", file=sys.stderr)
    return 2


def _silence_stdout() -> None:
    """After a broken pipe, send what is left of stdout nowhere, so that Python's exit flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run, and turn every failure into one line on stderr and exit code 2 (130 on Ctrl-C).

    Multi-line errors (a parity report) print their details on stdout first. ``--verbose`` logs the traceback
    of an unexpected error as well.
    """
    args = parse_args(argv)
    try:
        return run(args)
    except S2SError as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        if len(lines) > 1:
            print("\n".join(lines[1:]))
        return _fail(lines[0])
    except KeyboardInterrupt:
        print("s2s-onnx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except MemoryError:
        return _fail("out of memory; lower --batch-size or --max-length")
    except (OSError, ValueError, TypeError, RuntimeError, UnicodeError) as exc:
        logging.getLogger(__name__).debug("details", exc_info=True)
        return _fail(f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # the last line of defence: never a traceback
        logging.getLogger(__name__).debug("details", exc_info=True)
        return _fail(f"unexpected {type(exc).__name__}: {exc} (run with --verbose for details)")


if __name__ == "__main__":
    sys.exit(main())
