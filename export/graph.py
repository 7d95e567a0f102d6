"""Small ONNX graph edits and checks: stable tensor names, named dynamic axes, fused recurrent-op checks."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import onnx

from s2s_onnx.runtime.errors import ConversionError
from s2s_onnx.runtime.inspect import op_counts

logger = logging.getLogger(__name__)


def rename_outputs(model: onnx.ModelProto, new_names: Sequence[str]) -> None:
    """Rename the graph outputs, in order, everywhere they are referenced."""
    graph = model.graph
    if len(graph.output) != len(new_names):
        raise ConversionError(f"expected {len(new_names)} graph outputs, tf2onnx produced {len(graph.output)}")
    mapping = {out.name: new for out, new in zip(graph.output, new_names, strict=True)}
    _rename(graph, mapping)


def rename_inputs(model: onnx.ModelProto, new_names: Sequence[str]) -> None:
    graph = model.graph
    inputs = [i for i in graph.input if i.name not in {init.name for init in graph.initializer}]
    if len(inputs) != len(new_names):
        raise ConversionError(f"expected {len(new_names)} graph inputs, tf2onnx produced {len(inputs)}")
    _rename(graph, {i.name: new for i, new in zip(inputs, new_names, strict=True)})


def _rename(graph: onnx.GraphProto, mapping: dict[str, str]) -> None:
    mapping = {old: new for old, new in mapping.items() if old != new}
    if not mapping:
        return
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = mapping.get(value.name, value.name)


def name_dynamic_axes(model: onnx.ModelProto, axis_names: dict[str, Sequence[str]]) -> None:
    """Give the symbolic dimensions of inputs/outputs readable names (``batch``, ``time``)."""
    for value in (*model.graph.input, *model.graph.output):
        names = axis_names.get(value.name)
        if names is None:
            continue
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(dims, names, strict=False):
            if name and not dim.HasField("dim_value"):
                dim.dim_param = name


def check_recurrent_ops(model: onnx.ModelProto, cell: str, layers: int, what: str) -> bool:
    """Whether tf2onnx fused every recurrent layer into one ONNX ``LSTM``/``GRU`` node (no ``Loop``/``Scan``
    left); a loop still converts correctly (parity proves it) but runs slower, so it is logged."""
    counts = op_counts(model)
    op = cell.upper()
    fused = counts[op] == layers and not counts["Loop"] and not counts["Scan"]
    if not fused:
        logger.info(
            "%s: tf2onnx left %d of %d %s layers as a Loop (%s=%d, Loop=%d, Scan=%d); decoding is correct but slower",
            what,
            layers - counts[op],
            layers,
            op,
            op,
            counts[op],
            counts["Loop"],
            counts["Scan"],
        )
    return fused
