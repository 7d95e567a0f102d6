"""The options of ``convert``, ``quantize`` and ``triton``, each default in one place (the CLI reads them here).

Nothing heavy is imported: the command line builds its flags from these without TensorFlow or ``onnx``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from s2s_onnx.runtime.errors import InvalidOptionError

DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-4  # largest |ONNX - Keras| allowed in parity
DEFAULT_MIN_IDENTICAL = 0.99  # share of int8 decodes that must equal fp32's
MAX_TRITON_BATCH = 4096


@dataclass(frozen=True)
class ConvertOptions:
    """Everything ``convert`` can be told besides the model, the output and the vocabulary."""

    opset: int = DEFAULT_OPSET
    verify: bool = True
    sentences: tuple[str, ...] = ()  # real inputs (e.g. from the pairs file) for the parity check
    inputs: str = "sentences of the pairs file"  # what ``sentences`` are, as reference.json records them
    tolerance: float = DEFAULT_TOLERANCE
    fused: bool = False
    force: bool = False
    progress: bool = False
    decoder_model: Path | None = None  # with it, model_file is the inference encoder model of a saved pair


@dataclass(frozen=True)
class QuantizeOptions:
    """One quantization scheme and how it is judged."""

    # False: one scale per weight matrix. On the canonical model's 2,000 held-out pairs per-tensor kept more
    # decodes identical to fp32 than per-channel (89.4 % vs 84.0 %) and ran faster (1.82x vs 1.60x fp32); the
    # dates model keeps 100 % with either. True: one scale per output column (gate unit).
    per_channel: bool = False
    weight_type: Literal["int8", "uint8"] = "int8"
    reduce_range: bool = False  # 7-bit weights (helps some CPUs without VNNI)
    min_identical: float = DEFAULT_MIN_IDENTICAL  # share of decodes that must equal fp32's
    force: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.min_identical, (int, float)) or not 0.0 <= self.min_identical <= 1.0:
            raise InvalidOptionError(
                f"min_identical must be a share between 0 and 1 (CLI: --min-identical), not {self.min_identical!r}"
            )

    def scheme(self) -> str:
        return (
            f"dynamic {self.weight_type}, {'per-channel' if self.per_channel else 'per-tensor'}"
            f"{', reduced range' if self.reduce_range else ''}"
        )


@dataclass(frozen=True)
class TritonSettings:
    """The model's name in the repository, Triton's batch limit and queue delay, and its instances."""

    name: str = "s2s"
    max_batch_size: int = 64
    max_queue_delay_us: int = 2000
    instances: int = 1
    kind: Literal["KIND_CPU", "KIND_GPU"] = "KIND_CPU"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", self.name):
            raise InvalidOptionError(
                f"model name {self.name!r}: use letters, digits, '_' or '-', starting with a letter"
            )
        for field_name, low, high in (
            ("max_batch_size", 1, MAX_TRITON_BATCH),
            ("max_queue_delay_us", 0, 10_000_000),
            ("instances", 1, 256),
        ):
            value = getattr(self, field_name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise InvalidOptionError(f"{field_name} must be a whole number from {low} to {high}, not {value!r}")
