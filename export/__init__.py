"""Keras model file -> verified ONNX bundle.

Two halves: :mod:`s2s_onnx.export.tf` needs TensorFlow, Keras and tf2onnx (the ``export`` extra) and converts and
checks; :mod:`s2s_onnx.export.graphs` needs only ``onnx`` (the ``quantize`` extra) and builds the fused graphs,
quantizes and writes the Triton repository. Importing this package is cheap: TensorFlow is imported when
:func:`convert` is first used.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__all__ = ["DEFAULT_OPSET", "ConvertOptions", "ConvertResult", "ParityReport", "convert"]

_HOMES = {
    "DEFAULT_OPSET": "s2s_onnx.export.options",
    "ConvertOptions": "s2s_onnx.export.options",
    "ConvertResult": "s2s_onnx.export.tf.convert",
    "convert": "s2s_onnx.export.tf.convert",
    "ParityReport": "s2s_onnx.export.tf.parity",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
