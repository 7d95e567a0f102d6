"""``s2s-onnx triton BUNDLE -o REPO``: a model repository for Triton Inference Server's onnxruntime backend.

Triton's dynamic batcher concatenates requests along a leading batch dimension that it owns, so every input
and output must have one. ``greedy.onnx`` also takes two scalars, ``max_length`` and ``stop_at_end``; the
repository's copy has them as constants (the bundle's own cap, the Keras example's ``max_decoder_len + 1``, and
``True``), so that requests batch freely. ``config.pbtxt`` is written from that graph's inputs and outputs
(names, data types, shapes after the batch dimension); the encoder's time dimension is fixed at the bundle's
maximum encoder length, which the client pads to. Beside them: the bundle's ``config.json`` (the vocabulary)
as ``s2s_config.json`` and ``client.py``, which encodes with it (s2s-onnx runtime) and calls Triton over HTTP.

Needs ``onnx`` (the ``quantize`` or ``export`` extra), not TensorFlow.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.config import BundleConfig
from s2s_onnx.runtime.errors import BundleFormatError

from ..options import TritonSettings
from ..writing import atomic_directory

TRITON_TYPES = {
    TensorProto.FLOAT: "TYPE_FP32",
    TensorProto.FLOAT16: "TYPE_FP16",
    TensorProto.DOUBLE: "TYPE_FP64",
    TensorProto.INT64: "TYPE_INT64",
    TensorProto.INT32: "TYPE_INT32",
    TensorProto.BOOL: "TYPE_BOOL",
}
CLIENT_SOURCE = Path(__file__).with_name("triton_client.py")  # copied as client.py


def batchable_greedy(model: onnx.ModelProto, max_length: int) -> onnx.ModelProto:
    """``greedy.onnx`` with its scalar inputs turned into constants: every input then starts with the batch."""
    graph = model.graph
    constants = {
        names.FUSED_MAX_LENGTH: np.array(max_length, dtype=np.int64),
        names.FUSED_STOP_AT_END: np.array(True),
    }
    present = {i.name for i in graph.input}
    if not set(constants) <= present or names.ENCODER_INPUT not in present:
        raise BundleFormatError(
            f"greedy.onnx takes {sorted(present)}, not {names.ENCODER_INPUT}, {', '.join(constants)}; "
            "re-export the bundle with 's2s-onnx convert --fused'"
        )
    kept = [i for i in graph.input if i.name not in constants]
    del graph.input[:]
    graph.input.extend(kept)
    graph.initializer.extend(numpy_helper.from_array(value, name) for name, value in constants.items())
    return model


def tensor_specs(values: Any, fixed: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Triton's view of graph inputs or outputs: name, data type, dims after the batch dimension (``-1``:
    any; ``fixed`` overrides), and ``reshape`` for a tensor that is only the batch dimension."""
    specs = []
    for value in values:
        kind = value.type.tensor_type
        if kind.elem_type not in TRITON_TYPES:
            raise BundleFormatError(f"{value.name}: data type {kind.elem_type} has no Triton equivalent")
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim][1:]
        dims = fixed.get(value.name, dims)
        specs.append({"name": value.name, "data_type": TRITON_TYPES[kind.elem_type], "dims": dims or [1]})
        if not dims:
            specs[-1]["reshape"] = []
    return specs


def config_text(settings: TritonSettings, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> str:
    """``config.pbtxt`` in protobuf text format."""

    def block(spec: dict[str, Any]) -> str:
        dims = ", ".join(map(str, spec["dims"]))
        line = f'  {{ name: "{spec["name"]}", data_type: {spec["data_type"]}, dims: [ {dims} ]'
        if "reshape" in spec:
            line += " reshape: { shape: [ ] }"
        return line + " }"

    return "\n".join(
        [
            f'name: "{settings.name}"',
            'backend: "onnxruntime"',
            f"max_batch_size: {settings.max_batch_size}",
            "input [",
            ",\n".join(block(s) for s in inputs),
            "]",
            "output [",
            ",\n".join(block(s) for s in outputs),
            "]",
            f"dynamic_batching {{ max_queue_delay_microseconds: {settings.max_queue_delay_us} }}",
            f"instance_group [ {{ kind: {settings.kind}, count: {settings.instances} }} ]",
            "",
        ]
    )


def write_triton_repository(bundle_dir: Path, out: Path, settings: TritonSettings, force: bool = False) -> Path:
    """Write ``out/<name>/{config.pbtxt, 1/model.onnx, s2s_config.json, client.py}``, all or nothing."""
    config = BundleConfig.load(bundle_dir)
    greedy = bundle_dir / names.GREEDY_NAME
    if not greedy.is_file():
        raise BundleFormatError(f"{bundle_dir} has no {names.GREEDY_NAME}; re-export with 's2s-onnx convert --fused'")
    vocab = config.vocabulary
    model = batchable_greedy(onnx.load(str(greedy)), vocab.max_decoder_len + 1)
    onnx.checker.check_model(model)
    fixed = {names.ENCODER_INPUT: _encoder_dims(config)}
    inputs = tensor_specs(model.graph.input, fixed)
    outputs = tensor_specs(model.graph.output, {})
    with atomic_directory(out, force) as work:
        home = work / settings.name
        (home / "1").mkdir(parents=True)
        onnx.save(model, str(home / "1" / "model.onnx"))
        (home / "config.pbtxt").write_text(config_text(settings, inputs, outputs), "utf-8")
        shutil.copyfile(bundle_dir / names.CONFIG_NAME, home / "s2s_config.json")
        shutil.copyfile(CLIENT_SOURCE, home / "client.py")
    return out / settings.name


def _encoder_dims(config: BundleConfig) -> list[int]:
    vocab = config.vocabulary
    if config.model.input == "ids":
        return [vocab.max_encoder_len]
    return [vocab.max_encoder_len, vocab.num_encoder_tokens]
