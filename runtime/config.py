"""The bundle format: ``config.json`` beside ``encoder.onnx``, ``decoder.onnx`` and optionally ``greedy.onnx``.

One dataclass, written by the exporter and read by the runtime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BundleFormatError, DataFormatError, ModelFileNotFoundError
from .vocab import Vocabulary

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
ENCODER_NAME = "encoder.onnx"
DECODER_NAME = "decoder.onnx"
GREEDY_NAME = "greedy.onnx"
REFERENCE_NAME = "reference.json"  # Keras decodes the bundle was verified against

# Stable tensor names of the exported graphs.
ENCODER_INPUT = "encoder_inputs"
DECODER_INPUT = "decoder_inputs"
STATE_H = "state_h"
STATE_C = "state_c"
PROBS = "probs"
STATE_H_OUT = "state_h_out"
STATE_C_OUT = "state_c_out"
GREEDY_MAX_LENGTH = "max_length"
GREEDY_STOP_AT_END = "stop_at_end"
GREEDY_TOKENS = "token_ids"
GREEDY_PROBS = "token_probs"
GREEDY_LENGTHS = "lengths"


@dataclass(frozen=True)
class BundleConfig:
    """Everything the runtime needs besides the ONNX graphs."""

    vocabulary: Vocabulary
    latent_dim: int
    opset: int
    format_version: int = FORMAT_VERSION
    fused: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "vocabulary": self.vocabulary.to_dict(),
            "latent_dim": self.latent_dim,
            "opset": self.opset,
            "fused": self.fused,
            "files": {
                "encoder": ENCODER_NAME,
                "decoder": DECODER_NAME,
                **({"greedy": GREEDY_NAME} if self.fused else {}),
            },
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, data: Any) -> BundleConfig:
        if not isinstance(data, dict):
            raise BundleFormatError("config.json must hold a JSON object; re-export the bundle")
        version = data.get("format_version")
        if version is None:
            raise BundleFormatError("config.json: required field 'format_version' is missing")
        if version != FORMAT_VERSION:
            raise BundleFormatError(
                f"config.json: format_version {version!r} is not supported (this s2s-onnx reads "
                f"{FORMAT_VERSION}); re-export the bundle with this version's 's2s-onnx convert'"
            )
        for key, kind in (("vocabulary", dict), ("latent_dim", int), ("opset", int)):
            if key not in data:
                raise BundleFormatError(f"config.json: required field {key!r} is missing")
            if not isinstance(data[key], kind) or isinstance(data[key], bool):
                raise BundleFormatError(f"config.json: field {key!r} must be {kind.__name__}")
        try:
            vocab = Vocabulary.from_dict(data["vocabulary"])
        except DataFormatError as exc:
            raise BundleFormatError(f"config.json: {exc}") from exc
        return cls(
            vocabulary=vocab,
            latent_dim=data["latent_dim"],
            opset=data["opset"],
            format_version=version,
            fused=bool(data.get("fused", False)),
            provenance=dict(data.get("provenance") or {}),
        )

    def save(self, directory: Path) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> BundleConfig:
        directory = Path(directory)
        if not directory.exists():
            raise ModelFileNotFoundError(
                f"bundle {str(directory)!r} does not exist; create one with 's2s-onnx convert MODEL -o DIR'"
            )
        path = directory / CONFIG_NAME
        if not path.is_file():
            raise BundleFormatError(
                f"{str(directory)!r} is not an s2s-onnx bundle: {CONFIG_NAME} is missing (re-run 's2s-onnx convert')"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleFormatError(f"{path}: not valid JSON ({exc}); re-export the bundle") from exc
        return cls.from_dict(data)
