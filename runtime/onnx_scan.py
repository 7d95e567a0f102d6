"""A minimal reader of ONNX protobuf bytes (no ``onnx`` package needed): does a model use external data?

A bundle may come from elsewhere, and an initializer whose data lives in an external file can point anywhere
on the disk (older onnxruntime versions follow ``../`` paths). s2s-onnx never writes external data, so the
runtime refuses it outright: this walks every tensor of the model (initializers, sparse initializers, node
attributes, subgraphs such as ``Loop`` bodies, and functions) and reports the first external one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

# Field numbers from onnx.proto.
MODEL_GRAPH, MODEL_FUNCTIONS = 7, 25
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_SPARSE_INITIALIZER = 1, 5, 15
NODE_ATTRIBUTE = 5
FUNCTION_NODE = 7
ATTR_T, ATTR_G, ATTR_TENSORS, ATTR_GRAPHS, ATTR_SPARSE, ATTR_SPARSES = 5, 6, 10, 11, 22, 23
SPARSE_VALUES, SPARSE_INDICES = 1, 2
TENSOR_NAME, TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION = 8, 13, 14
EXTERNAL = 1

# message kind -> {field number: kind of the sub-message found there}
CHILDREN: dict[str, dict[int, str]] = {
    "model": {MODEL_GRAPH: "graph", MODEL_FUNCTIONS: "function"},
    "graph": {GRAPH_NODE: "node", GRAPH_INITIALIZER: "tensor", GRAPH_SPARSE_INITIALIZER: "sparse"},
    "function": {FUNCTION_NODE: "node"},
    "node": {NODE_ATTRIBUTE: "attribute"},
    "attribute": {
        ATTR_T: "tensor",
        ATTR_G: "graph",
        ATTR_TENSORS: "tensor",
        ATTR_GRAPHS: "graph",
        ATTR_SPARSE: "sparse",
        ATTR_SPARSES: "sparse",
    },
    "sparse": {SPARSE_VALUES: "tensor", SPARSE_INDICES: "tensor"},
}
MAX_DEPTH = 64


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` of one message: ints for varints, bytes otherwise."""
    pos, stop = start, len(data) if end is None else end
    while pos < stop:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
            continue
        if wire == 2:
            size, pos = _varint(data, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        if pos + size > stop:
            raise ProtobufError("field runs past the end of its message")
        yield number, wire, data[pos : pos + size]
        pos += size


def _tensor_is_external(data: bytes) -> tuple[bool, str]:
    name, external = "", False
    for number, wire, value in fields(data):
        if number == TENSOR_NAME and wire == 2 and isinstance(value, bytes):
            name = value.decode("utf-8", "replace")
        elif number == TENSOR_EXTERNAL_DATA and wire == 2:
            external = True
        elif number == TENSOR_DATA_LOCATION and wire == 0:
            external = external or value == EXTERNAL
    return external, name


def external_tensor(data: bytes, kind: str = "model", depth: int = 0) -> str | None:
    """The name of the first tensor stored as external data (``""`` if unnamed), or ``None`` if there is none."""
    if depth > MAX_DEPTH:
        raise ProtobufError("graphs nested too deeply")
    if kind == "tensor":
        external, name = _tensor_is_external(data)
        return name if external else None
    children = CHILDREN[kind]
    for number, wire, value in fields(data):
        child = children.get(number)
        if child is not None and wire == 2 and isinstance(value, bytes):
            found = external_tensor(value, child, depth + 1)
            if found is not None:
                return found
    return None


def op_counts(model: Any) -> Counter[str]:
    """Operator counts of an ``onnx.ModelProto``, subgraphs (``Loop`` bodies) included."""
    counts: Counter[str] = Counter()

    def walk(graph: Any) -> None:
        for node in graph.node:
            counts[node.op_type] += 1
            for attr in node.attribute:
                if attr.HasField("g"):
                    walk(attr.g)

    walk(model.graph)
    return counts
