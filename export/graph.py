"""Small ONNX graph edits and checks: stable tensor names, named dynamic axes, fused-LSTM checks."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from s2s_onnx.runtime.errors import ConversionError
from s2s_onnx.runtime.inspect import op_counts


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


def check_fused_lstm(model: onnx.ModelProto, what: str) -> None:
    """The LSTM must have become exactly one ONNX ``LSTM`` node, with no ``Loop``/``Scan`` left."""
    counts = op_counts(model)
    if counts["LSTM"] != 1 or counts["Loop"] or counts["Scan"]:
        raise ConversionError(
            f"{what}: expected exactly one fused ONNX LSTM node and no Loop, got LSTM={counts['LSTM']}, "
            f"Loop={counts['Loop']}, Scan={counts['Scan']}; tf2onnx did not recognise the LSTM (is it a "
            "cuDNN graph or a custom cell?)"
        )
