"""The ``s2s-onnx`` command line (``parse_args()`` + ``run()``): the parser in :mod:`.main`, the runtime's own
subcommands (``translate``, ``inspect``) in :mod:`.commands`, the line streaming of ``translate`` in
:mod:`.streaming`, argument types and dataclass-backed defaults in :mod:`.arguments`."""

from .main import build_parser, main, parse_args, run

__all__ = ["build_parser", "main", "parse_args", "run"]
