"""``GraphBuilder``: a tiny ONNX node builder that names values and hides opset differences."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper


class GraphBuilder:
    """Collects nodes and initializers; every value gets a unique ``prefix``-ed name."""

    def __init__(self, opset: int, prefix: str = "") -> None:
        self.opset = opset
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> list[str]:
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self.name(op_type), **attrs))
        return outs

    def one(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        return self.op(op_type, inputs, **attrs)[0]

    def rename(self, mapping: dict[str, str]) -> None:
        """Rename values in the nodes built so far (to make them graph outputs without Identity nodes)."""
        for node in self.nodes:
            node.input[:] = [mapping.get(n, n) for n in node.input]
            node.output[:] = [mapping.get(n, n) for n in node.output]

    def split(self, x: str, sizes: Sequence[int], axis: int) -> list[str]:
        return self.op("Split", [x, self.const("split", np.array(sizes, np.int64))], len(sizes), axis=axis)

    def reduce(self, op_type: str, x: str, axis: int, keepdims: int = 0) -> str:
        if self.opset >= 18:
            return self.one(op_type, [x, self.const("axes", np.array([axis], np.int64))], keepdims=keepdims)
        return self.one(op_type, [x], axes=[axis], keepdims=keepdims)

    def leading_dim(self, x: str) -> str:
        """``Shape(x)[0:1]``: the first dimension as a 1-element int64 tensor."""
        zero, one = self.const("zero", np.array([0], np.int64)), self.const("one", np.array([1], np.int64))
        return self.one("Slice", [self.one("Shape", [x]), zero, one])

    def unsqueeze(self, x: str, axis: int) -> str:
        return self.one("Unsqueeze", [x, self.const("axes", np.array([axis], np.int64))])

    def squeeze(self, x: str, axis: int) -> str:
        return self.one("Squeeze", [x, self.const("axes", np.array([axis], np.int64))])
