"""Keras model file -> verified ONNX bundle (needs the ``export`` extra).

Importing this package is cheap; TensorFlow is imported when :func:`convert` is first used, so the fused-graph
builder (``fused``, ``fused_weights``, ``onnx_builder``) and the subcommands load without it.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__all__ = ["DEFAULT_OPSET", "ConvertOptions", "ConvertResult", "ParityReport", "convert"]


def __getattr__(name: str) -> Any:
    if name in ("DEFAULT_OPSET", "ConvertOptions", "ConvertResult", "convert"):
        from . import convert as module

        return getattr(module, name)
    if name == "ParityReport":
        from .parity import ParityReport

        return ParityReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
