"""Keras model file -> verified ONNX bundle (needs the ``export`` extra)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from .convert import DEFAULT_OPSET, ConvertResult, convert
from .parity import ParityReport

__all__ = ["DEFAULT_OPSET", "ConvertResult", "ParityReport", "convert"]
