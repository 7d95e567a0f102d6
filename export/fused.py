"""``greedy.onnx``: encoder plus the whole greedy loop in one ONNX graph, for a single ``run`` per batch.

The loop body is a hand-written LSTM cell built from the converted graphs' weights, arranged so that a step
is as cheap as it can be:

* one ``Gemm`` per step: ``h_t @ [W_dense | R^T] + [b_dense | 0]`` gives the logits of step t *and* the
  recurrent half of step t+1's gates (the first step's gates are computed before the loop);
* the one-hot input times the input weights is a row lookup (``Gather``) in a table that already holds
  both LSTM biases;
* gate columns are reordered to ``i f o | g`` so one ``Sigmoid`` and one ``Tanh`` cover them;
* no softmax in the loop: the argmax of the logits picks the token, and the chosen tokens' probabilities
  are computed once after the loop from the stacked logits;
* the end character is moved to the last index, so "every row has emitted it" is ``min(max(seen)) == V-1``
  (three small ops per step; ``stop_at_end=false`` just raises the threshold out of reach).

Inputs: ``encoder_inputs``, ``max_length`` and ``stop_at_end`` (true: stop once every row has emitted the end
character; false: run exactly ``max_length`` steps, for benchmarks).
Outputs: ``token_ids``, ``token_probs`` (batch, steps) and ``lengths``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.decoding import decode_fused, decode_steps
from s2s_onnx.runtime.errors import ConversionError
from s2s_onnx.runtime.sessions import create_session, make_session_options
from s2s_onnx.runtime.vocab import Vocabulary

from .parity import ParityReport, random_texts

MIN_OPSET = 13


def _initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def _lstm_weights(model: onnx.ModelProto, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, R, B) of the single ONNX LSTM node, checked to be a plain forward LSTM."""
    nodes = [n for n in model.graph.node if n.op_type == "LSTM"]
    if len(nodes) != 1:
        raise ConversionError(f"{what}: expected one LSTM node to build the fused graph, found {len(nodes)}")
    node = nodes[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    if acts and [a.lower() for a in acts] != ["sigmoid", "tanh", "tanh"]:
        raise ConversionError(f"{what}: fused decoding supports sigmoid/tanh LSTMs only, found {acts}")
    direction = attrs.get("direction", b"forward")
    if (direction.decode() if isinstance(direction, bytes) else direction) != "forward" or attrs.get("clip"):
        raise ConversionError(f"{what}: fused decoding supports forward LSTMs without clip only")
    inits = _initializers(model)
    try:
        weight, recurrent = inits[node.input[1]], inits[node.input[2]]
    except KeyError as exc:
        raise ConversionError(f"{what}: LSTM weights are not constant initializers") from exc
    hidden = recurrent.shape[-1]
    bias = inits.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    if bias is None:
        bias = np.zeros((1, 8 * hidden), dtype=np.float32)
    return weight[0], recurrent[0], bias[0]


def _dense_weights(model: onnx.ModelProto, hidden: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    inits = _initializers(model)
    kernels = [v for v in inits.values() if v.shape == (hidden, vocab_size)]
    biases = [v for v in inits.values() if v.shape == (vocab_size,) and v.dtype == np.float32]
    if len(kernels) != 1 or len(biases) > 1:
        raise ConversionError(
            f"decoder: could not identify the Dense kernel ({hidden}x{vocab_size}) and bias among the initializers"
        )
    bias = biases[0] if biases else np.zeros(vocab_size, dtype=np.float32)
    return kernels[0], bias


def _ifog(blocks: np.ndarray, hidden: int) -> np.ndarray:
    """Reorder ONNX gate blocks ``i o f c`` (along axis 0) to ``i f o c``."""
    i, o, f, c = (blocks[k * hidden : (k + 1) * hidden] for k in range(4))
    return np.concatenate([i, f, o, c], axis=0)


class _Graph:
    """Tiny node builder that hides opset differences (axes as attributes or inputs)."""

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


def _cell(g: _Graph, recurrent_part: str, table: str, token: str, c: str, hidden: int) -> tuple[str, str]:
    """LSTM cell: gates = h@R^T (given) + table[token]; returns (h', c')."""
    gates = g.one("Add", [recurrent_part, g.one("Gather", [table, token], axis=0)])
    ifo, cand = g.split(gates, [3 * hidden, hidden], axis=1)
    i, f, o = g.split(g.one("Sigmoid", [ifo]), [hidden, hidden, hidden], axis=1)
    c_new = g.one("Add", [g.one("Mul", [f, c]), g.one("Mul", [i, g.one("Tanh", [cand])])])
    h_new = g.one("Mul", [o, g.one("Tanh", [c_new])])
    return h_new, c_new


def _prefixed_encoder(encoder: onnx.ModelProto, prefix: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The encoder's nodes and initializers with every internal name prefixed (graph input kept)."""
    keep = {names.ENCODER_INPUT}

    def rename(n: str) -> str:
        return n if (not n or n in keep) else prefix + n

    nodes = []
    for node in encoder.graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = prefix + node.name
        copy.input[:] = [rename(n) for n in node.input]
        copy.output[:] = [rename(n) for n in node.output]
        nodes.append(copy)
    inits = []
    for init in encoder.graph.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = prefix + init.name
        inits.append(copy)
    return nodes, inits


def build_greedy(encoder: onnx.ModelProto, decoder: onnx.ModelProto, vocab: Vocabulary, opset: int) -> onnx.ModelProto:
    """Build ``greedy.onnx`` from the converted encoder and decoder-step graphs."""
    if opset < MIN_OPSET:
        raise ConversionError(f"--fused needs opset {MIN_OPSET} or newer, got {opset}")
    weight, recurrent, bias = _lstm_weights(decoder, "decoder")
    hidden = recurrent.shape[-1]
    vocab_size = vocab.num_decoder_tokens
    kernel, dense_bias = _dense_weights(decoder, hidden, vocab_size)
    end = vocab.end_id
    perm = np.array([i for i in range(vocab_size) if i != end] + [end], dtype=np.int64)
    last = vocab_size - 1

    # Constant tables (rows of the token table follow the permuted token order).
    table = _ifog(weight, hidden).T + _ifog(bias[: 4 * hidden], hidden) + _ifog(bias[4 * hidden :], hidden)
    table = table[perm].astype(np.float32)
    joint = np.concatenate([kernel[:, perm], _ifog(recurrent, hidden).T], axis=1).astype(np.float32)
    joint_bias = np.concatenate([dense_bias[perm], np.zeros(4 * hidden, np.float32)]).astype(np.float32)
    start_perm = int(np.nonzero(perm == vocab.start_id)[0][0])

    outer = _Graph(opset, prefix="g_")
    enc_nodes, enc_inits = _prefixed_encoder(encoder, "enc_")
    h0, c0 = "enc_" + names.STATE_H, "enc_" + names.STATE_C
    table_name = outer.const("token_table", table)
    joint_name = outer.const("joint_weight", joint)
    joint_bias_name = outer.const("joint_bias", joint_bias)

    batch = outer.leading_dim(h0)
    start_tokens = outer.one("Expand", [outer.const("start", np.array([start_perm], np.int64)), batch])
    # First step (start character) before the loop; its Gemm's logits part is unused.
    _, first_recurrent = outer.split(outer.one("Gemm", [h0, joint_name, joint_bias_name]), [vocab_size, 4 * hidden], 1)
    h1, c1 = _cell(outer, first_recurrent, table_name, start_tokens, c0, hidden)
    # The loop runs while min(seen) < threshold: last (the end id) normally, last + 1 (never) without stop_at_end.
    threshold = outer.one(
        "Where",
        [
            names.GREEDY_STOP_AT_END,
            outer.const("last", np.array(last, np.int64)),
            outer.const("never", np.array(last + 1, np.int64)),
        ],
    )
    seen0 = outer.one("ConstantOfShape", [batch], value=helper.make_tensor("v", TensorProto.INT64, [1], [0]))

    # Loop body: (iter, cond, h, c, seen) -> (cond, h', c', seen', token, logits)
    body = _Graph(opset, prefix="b_")
    joint_out = body.one("Gemm", ["h_in", joint_name, joint_bias_name])
    logits, recurrent_part = body.split(joint_out, [vocab_size, 4 * hidden], axis=1)
    token = body.one("ArgMax", [logits], axis=1, keepdims=0)
    h_new, c_new = _cell(body, recurrent_part, table_name, token, "c_in", hidden)
    seen = body.one("Max", ["seen_in", token])
    cond = body.one("Less", [body.reduce("ReduceMin", seen, axis=0), threshold])
    body.rename(
        {cond: "cond_out", h_new: "h_out", c_new: "c_out", seen: "seen_out", token: "token_out", logits: "logits_out"}
    )
    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    body_graph = helper.make_graph(
        body.nodes,
        "greedy_step",
        [
            helper.make_tensor_value_info("iter", i64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_in", f32, ["batch", hidden]),
            helper.make_tensor_value_info("c_in", f32, ["batch", hidden]),
            helper.make_tensor_value_info("seen_in", i64, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_out", f32, ["batch", hidden]),
            helper.make_tensor_value_info("c_out", f32, ["batch", hidden]),
            helper.make_tensor_value_info("seen_out", i64, ["batch"]),
            helper.make_tensor_value_info("token_out", i64, ["batch"]),
            helper.make_tensor_value_info("logits_out", f32, ["batch", vocab_size]),
        ],
        initializer=body.inits,
    )
    true = outer.const("true", np.array(True))
    _, _, _, tokens_tb, logits_tbv = outer.op(
        "Loop", [names.GREEDY_MAX_LENGTH, true, h1, c1, seen0], 5, body=body_graph
    )
    # After the loop: original token ids, chosen probabilities, lengths.
    ids_tb = outer.one("Gather", [outer.const("perm", perm), tokens_tb], axis=0)
    probs = outer.one("Softmax", [logits_tbv], axis=-1)
    chosen = outer.squeeze(outer.one("GatherElements", [probs, outer.unsqueeze(tokens_tb, 2)], axis=2), 2)
    is_end = outer.one(
        "Cast", [outer.one("Equal", [tokens_tb, outer.const("last", np.array(last, np.int64))])], to=TensorProto.INT32
    )
    first_end = outer.one("ArgMax", [is_end], axis=0, keepdims=0)
    any_end = outer.one("Cast", [outer.reduce("ReduceMax", is_end, axis=0)], to=TensorProto.BOOL)
    steps = outer.leading_dim(tokens_tb)
    nodes = [
        *enc_nodes,
        *outer.nodes,
        helper.make_node("Transpose", [ids_tb], [names.GREEDY_TOKENS], perm=[1, 0]),
        helper.make_node("Transpose", [chosen], [names.GREEDY_PROBS], perm=[1, 0]),
        helper.make_node("Where", [any_end, first_end, steps], [names.GREEDY_LENGTHS]),
    ]
    graph = helper.make_graph(
        nodes,
        "s2s_greedy",
        [
            helper.make_tensor_value_info(names.ENCODER_INPUT, f32, ["batch", "time", vocab.num_encoder_tokens]),
            helper.make_tensor_value_info(names.GREEDY_MAX_LENGTH, i64, []),
            helper.make_tensor_value_info(names.GREEDY_STOP_AT_END, TensorProto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info(names.GREEDY_TOKENS, i64, ["batch", "steps"]),
            helper.make_tensor_value_info(names.GREEDY_PROBS, f32, ["batch", "steps"]),
            helper.make_tensor_value_info(names.GREEDY_LENGTHS, i64, ["batch"]),
        ],
        initializer=[*enc_inits, *outer.inits],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="s2s-onnx",
        ir_version=encoder.ir_version,
    )
    onnx.checker.check_model(model)
    return model


def check_greedy(
    bundle: Path,
    encoder: ort.InferenceSession,
    decoder: ort.InferenceSession,
    vocab: Vocabulary,
    latent_dim: int,
    sentences: Sequence[str],
    report: ParityReport,
) -> None:
    """Fused decodes must equal the step-by-step decodes (which equal Keras), token for token,
    with the full length cap and with a short one (``max_length`` reached)."""
    greedy = create_session(bundle / names.GREEDY_NAME, ["CPUExecutionProvider"], None, make_session_options(1, None))
    texts = list(sentences)[:32] or random_texts(np.random.default_rng(1), vocab, 32)
    x = vocab.encode_sources(texts)
    for limit in (vocab.max_decoder_len, 3):
        steps = decode_steps(encoder, decoder, x, vocab, latent_dim, limit)
        fused = decode_fused(greedy, x, limit)
        report.record_decodes(texts, steps.rows(), fused.rows(), vocab, f"steps vs fused, max_length {limit}")
