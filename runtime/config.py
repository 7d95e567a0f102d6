"""The bundle format: ``config.json`` beside ``encoder.onnx``, ``decoder.onnx`` and optionally ``greedy.onnx``.

One dataclass, written by the exporter and read by the runtime.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .architecture import ENCODER_MASK as ENCODER_MASK  # stable tensor names: attention models
from .architecture import ENCODER_OUTPUTS as ENCODER_OUTPUTS
from .architecture import Architecture
from .errors import BundleFormatError, BundleReadError, DataFormatError, ModelFileNotFoundError
from .json_files import JsonDepthError, load_json
from .vocab import Vocabulary

FORMAT_VERSION = 2
ATTENTION_FORMAT_VERSION = 3  # a model with attention: older runtimes must refuse it, not decode without it
SUPPORTED_VERSIONS = (1, 2, 3)  # 1: the classic LSTM, vocabulary as character strings; 3: with attention
CONFIG_NAME = "config.json"
ENCODER_NAME = "encoder.onnx"
DECODER_NAME = "decoder.onnx"
GREEDY_NAME = "greedy.onnx"
BEAM_NAME = "beam.onnx"
BEAM_SIZE = "beam_size"
LENGTH_PENALTY = "length_penalty"
BEAM_OUTPUTS = ("beam_tokens", "beam_parents", "beam_probs", "beam_scores", "beam_finished")
REFERENCE_NAME = "reference.json"  # Keras decodes the bundle was verified against
REFERENCE_RANDOM = "random strings"  # reference.json's "inputs" when no real inputs were at hand

MAX_LATENT = 65_536
MAX_CONFIG_BYTES = 16 * 2**20
MAX_ONNX_BYTES = 2**31  # protobuf's own limit; larger models would need external data, which is refused
_REQUIRED = object()
_JSON_NAMES = {bool: "true or false", int: "an integer", str: "a string", dict: "a JSON object", list: "a list"}

# Stable tensor names of the exported graphs.
ENCODER_INPUT = "encoder_inputs"
DECODER_INPUT = "decoder_inputs"
STATE_H = "state_h"
STATE_C = "state_c"
PROBS = "probs"
OUT_SUFFIX = "_out"  # the decoder step's output states: the input states' names plus this
STATE_H_OUT = STATE_H + OUT_SUFFIX
STATE_C_OUT = STATE_C + OUT_SUFFIX
# inputs and outputs of the fused graphs (greedy.onnx and beam.onnx share the first)
FUSED_MAX_LENGTH = "max_length"
FUSED_STOP_AT_END = "stop_at_end"
FUSED_TOKENS = "token_ids"
FUSED_PROBS = "token_probs"
FUSED_LENGTHS = "lengths"


@dataclass(frozen=True)
class BundleConfig:
    """Everything the runtime needs besides the ONNX graphs."""

    vocabulary: Vocabulary
    latent_dim: int
    opset: int
    format_version: int = FORMAT_VERSION
    fused: bool = False
    beam: bool = False  # beam.onnx: the whole beam search in one graph (bundles from before it have none)
    provenance: dict[str, Any] = field(default_factory=dict)
    architecture: Architecture | None = None  # None: the classic LSTM of latent_dim

    @property
    def model(self) -> Architecture:
        """What the bundle holds (format 1 bundles all hold the classic LSTM)."""
        return self.architecture or Architecture.classic_lstm(self.latent_dim)

    def to_dict(self) -> dict[str, Any]:
        """The format-2 JSON form (token tables as lists in id order), whatever version was read."""
        return {
            "format_version": ATTENTION_FORMAT_VERSION if self.model.attention else FORMAT_VERSION,
            "model": self.model.to_dict(),
            "vocabulary": self.vocabulary.to_token_lists(),
            "latent_dim": self.latent_dim,
            "opset": self.opset,
            "fused": self.fused,
            **({"beam": True} if self.beam else {}),
            "files": {
                "encoder": ENCODER_NAME,
                "decoder": DECODER_NAME,
                **({"greedy": GREEDY_NAME} if self.fused else {}),
                **({"beam": BEAM_NAME} if self.beam else {}),
            },
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = CONFIG_NAME) -> BundleConfig:
        """Read and validate the JSON form; every error names ``source`` and the field."""
        fields = _Fields(data, source)
        version = fields.integer("format_version", 1, 1_000)
        if version not in SUPPORTED_VERSIONS:
            raise BundleFormatError(
                f"{source}: format_version {version!r} is not supported (this s2s-onnx reads "
                f"{', '.join(map(str, SUPPORTED_VERSIONS))}); re-export the bundle with this version's "
                "'s2s-onnx convert', or upgrade s2s-onnx"
            )
        vocabulary = fields.get("vocabulary", dict)
        try:
            vocab = Vocabulary.from_dict(vocabulary) if version == 1 else Vocabulary.from_token_lists(vocabulary)
        except DataFormatError as exc:
            raise BundleFormatError(f"{source}: {exc}; re-export the bundle") from exc
        latent = fields.integer("latent_dim", 1, MAX_LATENT)
        if version == 1:
            architecture = Architecture.classic_lstm(latent)
        else:
            architecture = Architecture.from_dict(fields.get("model", dict), source)
        architecture.check_consistent(source)
        first = architecture.states[0].width
        if first != latent:
            raise BundleFormatError(f"{source}: model.states[0] is {first} wide but latent_dim is {latent}")
        if architecture.tokenization != vocab.tokenization:
            raise BundleFormatError(
                f"{source}: model.tokenization is {architecture.tokenization!r} but the vocabulary's is "
                f"{vocab.tokenization!r}; re-export the bundle"
            )
        return cls(
            vocabulary=vocab,
            latent_dim=latent,
            opset=fields.integer("opset", 7, 100),
            format_version=version,
            fused=fields.get("fused", bool, False),
            beam=fields.get("beam", bool, False),
            provenance=fields.get("provenance", dict, {}),
            architecture=architecture,
        )

    def save(self, directory: Path) -> Path:
        path = Path(directory) / CONFIG_NAME
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        # Lists of plain values (the token tables) on one line each: strings never hold a raw newline in JSON.
        text = re.sub(r"\[\n\s+([^\[\]{}]*?)\n\s*\]", lambda m: "[" + re.sub(r",\n\s+", ", ", m.group(1)) + "]", text)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> BundleConfig:
        directory = Path(directory)
        if not directory.exists():
            raise ModelFileNotFoundError(
                f"bundle {str(directory)!r} does not exist; create one with 's2s-onnx convert MODEL -o DIR'"
            )
        if directory.is_file():
            kind = "a Keras model file" if directory.suffix in (".keras", ".h5", ".hdf5") else "a file"
            raise BundleFormatError(
                f"{str(directory)!r} is {kind}, not a bundle folder: give the folder that 's2s-onnx convert -o' "
                f"wrote (it holds {CONFIG_NAME} and the .onnx files)"
                + (f"; convert it first: s2s-onnx convert {directory} -o BUNDLE" if "Keras" in kind else "")
            )
        path = directory / CONFIG_NAME
        if not path.exists():
            raise BundleFormatError(
                f"{str(directory)!r} is not an s2s-onnx bundle: {CONFIG_NAME} is missing (re-run 's2s-onnx convert')"
            )
        raw = read_bundle_file(path, MAX_CONFIG_BYTES)
        try:
            data = load_json(raw)
        except JsonDepthError as exc:
            raise BundleFormatError(f"{path}: {exc}; re-export the bundle") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleFormatError(f"{path}: not valid JSON ({exc}); re-export the bundle") from exc
        return cls.from_dict(data, str(path))


def read_bundle_file(path: Path, limit: int) -> bytes:
    """A bundle file's bytes: only a regular file is read (not a device, FIFO or socket, whatever a link points
    at), and its size is bounded as it is read, not taken from ``stat``; errors say what is wrong."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO would block an ordinary open
    except PermissionError as exc:
        raise BundleReadError(f"cannot read {path}: permission denied; make it readable (chmod a+r)") from exc
    except IsADirectoryError as exc:
        raise BundleReadError(f"cannot read {path}: it is a directory, not a file; re-export the bundle") from exc
    except OSError as exc:
        raise BundleReadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    kind = os.fstat(fd).st_mode
    if not stat.S_ISREG(kind):
        os.close(fd)
        if stat.S_ISDIR(kind):
            raise BundleReadError(f"cannot read {path}: it is a directory, not a file; re-export the bundle")
        raise BundleReadError(
            f"{path} is not a regular file (a device, FIFO or socket, or a link to one); a bundle holds only "
            "files: re-export it"
        )
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise BundleReadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise BundleFormatError(f"{path} has more than the {limit} bytes a bundle file may have; re-export it")
    return data


class _Fields:
    """Typed access to a config object's fields, with errors that name the file and the field."""

    def __init__(self, data: Any, source: str) -> None:
        if not isinstance(data, dict):
            raise BundleFormatError(
                f"{source} must hold a JSON object, not {type(data).__name__}; re-export the bundle"
            )
        self.data, self.source = data, source

    def get(self, key: str, kind: type, default: Any = _REQUIRED) -> Any:
        if key not in self.data:
            if default is _REQUIRED:
                raise BundleFormatError(f"{self.source}: required field {key!r} is missing; re-export the bundle")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BundleFormatError(
                f"{self.source}: field {key!r} must be {_JSON_NAMES[kind]}, not {type(value).__name__} {value!r:.40}; "
                "re-export the bundle"
            )
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value: int = self.get(key, int)
        if not low <= value <= high:
            raise BundleFormatError(f"{self.source}: field {key!r} must be between {low} and {high}, not {value}")
        return value
