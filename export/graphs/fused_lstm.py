"""``greedy.onnx`` for int8: the greedy loop with each decoder layer as one ONNX ``LSTM`` op.

onnxruntime's dynamic quantization turns each ``LSTM`` op into one ``DynamicQuantizeLSTM`` kernel: int8 products,
gates, cell and activations in a single call, where the lean float body needs about ten small kernels. In float32
this body is slower (the first layer's input product is a one-hot row times ``W`` instead of a table lookup); in
int8 it is the fastest loop there is, so :mod:`.quantize` builds it for LSTM decoders.

The weights are the step decoder's own (``decoder.onnx``, as tf2onnx wrote it): each layer's ``W``, ``R`` and
``B`` in ONNX's gate order, the Dense ``MatMul`` and bias, and an ``Embedding``'s table. Quantized alike, the int8
fused loop and the int8 step loop compute the same numbers.

One iteration: ``Gather`` the previous token's input row (a one-hot row, or its ``Embedding`` row), run the
``LSTM`` ops, the Dense layer, ``ArgMax``, and the same three-op end test as the float loop (end token last).
States are ``(1, batch, hidden)`` and tokens ``(1, batch)``, the shapes the ``LSTM`` op reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import onnx
from onnx import helper, numpy_helper

from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.vocab import Vocabulary

from .fused import (
    F32,
    I64,
    ValueSpec,
    body_graph,
    end_test,
    greedy_graph,
    prefixed_encoder,
    stop_threshold,
    token_results,
)
from .fused_weights import loop_order
from .onnx_builder import GraphBuilder

DEFAULT_ACTIVATIONS = ["Sigmoid", "Tanh", "Tanh"]


@dataclass(frozen=True)
class LstmLayer:
    """One layer's ``LSTM`` op constants, ONNX layout: ``W (1, 4H, input)``, ``R (1, 4H, H)``, ``B (1, 8H)``."""

    weight: np.ndarray
    recurrent: np.ndarray
    bias: np.ndarray

    @property
    def hidden(self) -> int:
        return int(self.recurrent.shape[2])


@dataclass(frozen=True)
class LstmStep:
    """The decoder step as ``LSTM`` ops, tokens in the loop's order (the end token last)."""

    layers: tuple[LstmLayer, ...]
    inputs: np.ndarray  # (tokens, first layer's input width): one-hot rows or Embedding rows, in loop order
    dense: np.ndarray  # (top hidden, tokens), columns in loop order
    dense_bias: np.ndarray  # (tokens,)
    perm: np.ndarray  # loop position -> token id
    start: int  # the start token's loop position

    @property
    def end(self) -> int:
        return int(self.perm.shape[0]) - 1


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    return {init.name: numpy_helper.to_array(init) for init in graph.initializer}


def _lstm_layer(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> LstmLayer | None:
    """The layer's constants if the op is a plain forward LSTM with default activations, else None."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    activations = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", DEFAULT_ACTIVATIONS)]
    direction = attrs.get("direction", b"forward")
    plain = (
        activations == DEFAULT_ACTIVATIONS
        and direction in (b"forward", "forward")
        and not attrs.get("input_forget")
        and "clip" not in attrs
        and attrs.get("layout", 0) == 0
    )
    inputs = [*node.input, *[""] * (8 - len(node.input))]  # X W R B sequence_lens initial_h initial_c P
    sequence_lens, peepholes = inputs[4], inputs[7]
    if not plain or sequence_lens or peepholes or not all(n in constants for n in inputs[1:4]):
        return None
    return LstmLayer(constants[inputs[1]], constants[inputs[2]], constants[inputs[3]])


def _find(constants: dict[str, np.ndarray], nodes: list[onnx.NodeProto], op: str, shape: tuple[int, ...]) -> str | None:
    """The one constant of ``shape`` read by an ``op`` node (None unless exactly one)."""
    found = {n for node in nodes if node.op_type == op for n in node.input if n in constants}
    matches = [n for n in found if constants[n].shape == shape]
    return matches[0] if len(matches) == 1 else None


def lstm_step(decoder: onnx.ModelProto, vocab: Vocabulary, ids: bool) -> LstmStep | None:
    """The step decoder's ``LSTM`` layers, Dense layer and Embedding, read from ``decoder.onnx``; None if it is not
    a stack of plain ``LSTM`` ops with a Dense layer on top (a GRU decoder, masking, another converter's graph)."""
    constants, nodes = _constants(decoder.graph), list(decoder.graph.node)
    cells = [n for n in nodes if n.op_type in ("LSTM", "GRU", "RNN")]
    layers = [_lstm_layer(n, constants) for n in cells]
    if not layers or any(layer is None for layer in layers):
        return None
    stack = tuple(layer for layer in layers if layer is not None)
    if any(upper.weight.shape[2] != lower.hidden for lower, upper in pairwise(stack)):
        return None  # not one stack, each layer reading the one below
    size, width = vocab.num_decoder_tokens, int(stack[0].weight.shape[2])
    dense = _find(constants, nodes, "MatMul", (stack[-1].hidden, size))
    bias = _find(constants, nodes, "Add", (size,))
    embedding = _find(constants, nodes, "Gather", (size, width)) if ids else None
    if dense is None or bias is None or (ids and embedding is None) or (not ids and width != size):
        return None
    perm, start = loop_order(vocab)
    inputs = constants[embedding] if embedding is not None else np.eye(size, dtype=np.float32)
    return LstmStep(
        layers=stack,
        inputs=np.asarray(inputs[perm], np.float32),
        dense=np.asarray(constants[dense][:, perm], np.float32),
        dense_bias=np.asarray(constants[bias][perm], np.float32),
        perm=perm,
        start=start,
    )


def lstm_body(step: LstmStep, threshold: str, opset: int) -> onnx.GraphProto:
    """One greedy step: ``(iter, cond, h0, c0, ..., token, seen) -> (cond, h0', c0', ..., token', seen', logits)``.
    The weights are the body's own initializers (onnxruntime's quantizer only reaches a subgraph's own)."""
    body = GraphBuilder(opset, prefix="l_")
    x = body.one("Gather", [body.const("inputs", step.inputs), "token_in"], axis=0)
    specs: list[ValueSpec] = []
    for depth, layer in enumerate(step.layers):
        arrays = {"W": layer.weight, "R": layer.recurrent, "B": layer.bias}
        weights = [body.const(f"{kind}_{depth}", value) for kind, value in arrays.items()]
        state = [f"h{depth}_out", f"c{depth}_out"]
        body.nodes.append(
            helper.make_node(
                "LSTM", [x, *weights, "", f"h{depth}_in", f"c{depth}_in"], ["", *state], hidden_size=layer.hidden
            )
        )
        specs += [(f"{kind}{depth}", F32, [1, "batch", layer.hidden]) for kind in "hc"]
        x = state[0]
    product = body.one("MatMul", [x, body.const("dense", step.dense)])
    logits = body.one("Add", [product, body.const("dense_bias", step.dense_bias)])
    token = body.one("ArgMax", [logits], axis=2, keepdims=0)
    seen, cond = end_test(body, token, threshold)
    body.rename({cond: "cond_out", seen: "seen_out", token: "token_out", logits: "logits_out"})
    state_specs: list[ValueSpec] = [*specs, ("token", I64, [1, "batch"]), ("seen", I64, [1, "batch"])]
    return body_graph(body, "int8_greedy_step", state_specs, [("logits_out", F32, [1, "batch", step.end + 1])])


def build_greedy_lstm(encoder: onnx.ModelProto, step: LstmStep, opset: int) -> onnx.ModelProto:
    """``greedy.onnx`` (same inputs and outputs as :func:`.fused.build_greedy`) with an ``LSTM``-op loop body."""
    enc_nodes, enc_inits = prefixed_encoder(encoder, "enc_")
    states0 = ["enc_" + output.name for output in encoder.graph.output]
    outer = GraphBuilder(opset, prefix="q_")
    zero = outer.const("axis0", np.array([0], np.int64))
    states = [outer.one("Unsqueeze", [s, zero]) for s in states0]
    batch = outer.leading_dim(states0[0])
    row = outer.one("Concat", [outer.const("one", np.array([1], np.int64)), batch], axis=0)
    start = outer.one("Expand", [outer.const("start", np.array([[step.start]], np.int64)), row])
    seen0 = outer.one("ConstantOfShape", [row], value=helper.make_tensor("v", I64, [1], [0]))
    body = lstm_body(step, stop_threshold(outer, step.end), opset)
    loop_inputs = [names.FUSED_MAX_LENGTH, outer.const("true", np.array(True)), *states, start, seen0]
    logits = outer.squeeze(outer.op("Loop", loop_inputs, len(states) + 3, body=body)[-1], 1)
    tokens = outer.one("ArgMax", [logits], axis=2, keepdims=0)
    result_nodes = token_results(outer, step.perm, tokens, logits)
    nodes, inits = [*enc_nodes, *outer.nodes, *result_nodes], [*enc_inits, *outer.inits]
    return greedy_graph(encoder, "s2s_greedy_lstm", nodes, inits, opset)
