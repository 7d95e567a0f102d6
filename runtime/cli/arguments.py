"""Argument types and flags whose defaults come from the dataclasses that own them.

Every option with a library default is added through :func:`option`, which reads that default from the
dataclass field (``DecodeOptions.batch_size``, ``ConvertOptions.opset``, ...), writes it into the help, and
records where it came from (``action.source``), so that ``--help`` and the API cannot disagree (tested).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from ..sessions import DEVICES, SessionConfig

T = TypeVar("T")
OPTION_FIELDS = "option_fields"  # the parsed arguments' (dataclass name, field) pairs that option() added
SOURCE = "source"  # attribute of an argparse action: (dataclass, field name) its default comes from


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def field_default(cls: type, name: str) -> Any:
    """The default of dataclass ``cls``'s field ``name`` (a ``KeyError`` if it has none)."""
    for found in dataclasses.fields(cls):
        if found.name == name:
            if found.default is not dataclasses.MISSING:
                return found.default
            if found.default_factory is not dataclasses.MISSING:
                return found.default_factory()
    raise KeyError(f"{cls.__name__} has no field {name!r} with a default")


def option(parser: Any, *flags: str, source: tuple[type, str], help: str, **kwargs: Any) -> argparse.Action:
    """``parser.add_argument(*flags, ...)`` with the default of ``source`` (a dataclass and one of its fields),
    written into the help unless it is ``None`` (then ``help`` says what happens)."""
    default = field_default(*source)
    kwargs.setdefault("default", default)
    kwargs.setdefault("dest", source[1])  # the field's own name: from_args() collects them
    if kwargs["default"] is not None and kwargs.get("action") not in ("store_true", "store_false"):
        help = f"{help} (default: {kwargs['default']})"
    action: argparse.Action = parser.add_argument(*flags, help=help, **kwargs)
    setattr(action, SOURCE, source)
    owned: frozenset[tuple[str, str]] = parser.get_default(OPTION_FIELDS) or frozenset()
    parser.set_defaults(**{OPTION_FIELDS: owned | {(source[0].__name__, action.dest)}})
    return action


def from_args(cls: type[T], args: argparse.Namespace, **values: Any) -> T:
    """``cls`` built from the parsed flags named after its fields (see :func:`option`), plus ``values``."""
    owned: frozenset[tuple[str, str]] = getattr(args, OPTION_FIELDS, frozenset())
    found = {name: value for name, value in vars(args).items() if (cls.__name__, name) in owned}
    return cls(**{**found, **values})


def verbose_flag(parser: Any) -> None:
    """``-v/--verbose``, accepted before or after the subcommand."""
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress details")


def model_flag(parser: Any) -> None:
    parser.add_argument(
        "--model", type=Path, default=None, metavar="BUNDLE", help="bundle directory (default: the built-in model)"
    )


def session_flags(parser: Any) -> None:
    """``--device``, ``--threads`` and ``--steps``: how the bundle's sessions run."""
    option(parser, "--device", source=(SessionConfig, "device"), choices=DEVICES, help="where onnxruntime runs")
    threads = "intra-op threads (default: onnxruntime's choice)"
    option(parser, "--threads", source=(SessionConfig, "threads"), type=positive_int, help=threads)
    parser.add_argument(
        "--steps", action="store_true", help="decode step by step even if the bundle has the fused graphs"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the check of the bundle against its stored Keras decodes"
    )


def session_config(args: argparse.Namespace) -> SessionConfig:
    return from_args(SessionConfig, args)


def output_flag(parser: Any, what: str, default: Path | None = None) -> None:
    """``-o/--output`` (``--out`` too, the old spelling, for one release): the one name for where a command
    writes."""
    required = default is None
    suffix = "" if required else f" (default: {default})"
    parser.add_argument(
        "-o", "--output", "--out", dest="output", type=Path, required=required, default=default, help=what + suffix
    )
