"""Small ONNX graph edits and checks: stable tensor names, named dynamic axes, fused recurrent-op checks."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import onnx

from s2s_onnx.runtime.errors import ConversionError
from s2s_onnx.runtime.onnx_scan import op_counts

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


def gemm_to_matmul(graph: onnx.GraphProto) -> int:
    """Rewrite every ``Gemm(A, B, C)`` (no transposes, alpha = beta = 1) as ``MatMul(A, B)`` + ``Add(C)``, in
    subgraphs too, so that onnxruntime's dynamic quantization (which quantizes ``MatMul``, not ``Gemm``) reaches
    the fused loop's products. Returns how many were rewritten."""
    nodes, count = [], 0
    for node in graph.node:
        for attribute in node.attribute:
            for subgraph in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                count += gemm_to_matmul(subgraph)
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        plain = not attrs.get("transA") and not attrs.get("transB") and attrs.get("alpha", 1.0) == 1.0
        if node.op_type != "Gemm" or not plain or attrs.get("beta", 1.0) != 1.0:
            nodes.append(node)
            continue
        product = f"{node.output[0]}_matmul"
        nodes.append(onnx.helper.make_node("MatMul", list(node.input[:2]), [product], name=f"{node.name}_matmul"))
        if len(node.input) > 2 and node.input[2]:
            nodes.append(
                onnx.helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_add")
            )
        else:
            nodes.append(onnx.helper.make_node("Identity", [product], [node.output[0]], name=f"{node.name}_out"))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return count
