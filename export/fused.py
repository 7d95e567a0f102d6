"""``greedy.onnx``: encoder plus the whole greedy loop in one ONNX graph, for a single ``run`` per batch.

Built from small pieces, each testable on its own: :func:`greedy_tables` (weights -> constants),
:func:`lstm_cell`, :func:`loop_body` and :func:`build_greedy` (the outer graph). The loop body is a
hand-written LSTM cell arranged so that a step is as cheap as it can be:

* one ``Gemm`` per step: ``h_t @ [W_dense | R^T] + [b_dense | 0]`` gives the logits of step t *and* the
  recurrent half of step t+1's gates (the first step's gates are computed before the loop);
* the one-hot input times the input weights is a row lookup (``Gather``) in a table that already holds
  both LSTM biases;
* gate columns are reordered to ``i f o | c`` so one ``Sigmoid`` and one ``Tanh`` cover them;
* no softmax in the loop: the argmax of the logits picks the token, and the chosen tokens' probabilities
  are computed once after the loop from the stacked logits;
* the end token is moved to the last index, so "every row has emitted it" is ``min(max(seen)) == V-1``
  (three small ops per step; ``stop_at_end=false`` just raises the threshold out of reach).

Inputs: ``encoder_inputs``, ``max_length`` (tokens to generate at most) and ``stop_at_end`` (true: stop once
every row has emitted the end token; false: run exactly ``max_length`` steps, for benchmarks).
Outputs: ``token_ids``, ``token_probs`` (batch, steps) and ``lengths``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.errors import ConversionError
from s2s_onnx.runtime.vocab import Vocabulary

from .fused_weights import GreedyTables, greedy_tables
from .onnx_builder import GraphBuilder

MIN_OPSET = 13
F32, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
ValueSpec = tuple[str, int, list[str | int]]  # name, element type, shape


def lstm_cell(g: GraphBuilder, recurrent_part: str, table: str, token: str, c: str, hidden: int) -> tuple[str, str]:
    """LSTM cell: gates = h@R^T (given) + table[token], gate order ``i f o c``; returns (h', c')."""
    gates = g.one("Add", [recurrent_part, g.one("Gather", [table, token], axis=0)])
    ifo, cand = g.split(gates, [3 * hidden, hidden], axis=1)
    i, f, o = g.split(g.one("Sigmoid", [ifo]), [hidden, hidden, hidden], axis=1)
    c_new = g.one("Add", [g.one("Mul", [f, c]), g.one("Mul", [i, g.one("Tanh", [cand])])])
    h_new = g.one("Mul", [o, g.one("Tanh", [c_new])])
    return h_new, c_new


def loop_body(tables: GreedyTables, constants: dict[str, str], opset: int) -> onnx.GraphProto:
    """One greedy step: ``(iter, cond, h, c, seen) -> (cond, h', c', seen', token, logits)``.

    ``constants`` names the outer-scope values the body reads: ``table``, ``joint``, ``joint_bias`` and
    ``threshold`` (the loop continues while ``min(seen) < threshold``).
    """
    hidden, size = tables.hidden, tables.vocab_size
    body = GraphBuilder(opset, prefix="b_")
    joint_out = body.one("Gemm", ["h_in", constants["joint"], constants["joint_bias"]])
    logits, recurrent_part = body.split(joint_out, [size, 4 * hidden], axis=1)
    token = body.one("ArgMax", [logits], axis=1, keepdims=0)
    h_new, c_new = lstm_cell(body, recurrent_part, constants["table"], token, "c_in", hidden)
    seen = body.one("Max", ["seen_in", token])
    cond = body.one("Less", [body.reduce("ReduceMin", seen, axis=0), constants["threshold"]])
    body.rename(
        {cond: "cond_out", h_new: "h_out", c_new: "c_out", seen: "seen_out", token: "token_out", logits: "logits_out"}
    )
    state: list[ValueSpec] = [("h", F32, ["batch", hidden]), ("c", F32, ["batch", hidden]), ("seen", I64, ["batch"])]
    inputs: list[ValueSpec] = [("iter", I64, []), ("cond_in", BOOL, []), *((f"{n}_in", t, s) for n, t, s in state)]
    outputs: list[ValueSpec] = [("cond_out", BOOL, []), *((f"{n}_out", t, s) for n, t, s in state)]
    outputs += [("token_out", I64, ["batch"]), ("logits_out", F32, ["batch", size])]
    return helper.make_graph(
        body.nodes,
        "greedy_step",
        [helper.make_tensor_value_info(*v) for v in inputs],
        [helper.make_tensor_value_info(*v) for v in outputs],
        initializer=body.inits,
    )


def prefixed_encoder(encoder: onnx.ModelProto, prefix: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The encoder's nodes and initializers with every internal name prefixed (graph input kept)."""
    keep = {names.ENCODER_INPUT}

    def rename(n: str) -> str:
        return n if (not n or n in keep) else prefix + n

    nodes = []
    for index, node in enumerate(encoder.graph.node):
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = f"{prefix}{node.name or node.op_type}_{index}"
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


def _loop(outer: GraphBuilder, tables: GreedyTables, h0: str, c0: str) -> tuple[str, str]:
    """The first step (start token) before the loop, then the loop; returns (tokens, logits), time-major."""
    size, hidden = tables.vocab_size, tables.hidden
    constants = {
        "table": outer.const("token_table", tables.table),
        "joint": outer.const("joint_weight", tables.joint),
        "joint_bias": outer.const("joint_bias", tables.joint_bias),
    }
    batch = outer.leading_dim(h0)
    start_tokens = outer.one("Expand", [outer.const("start", np.array([tables.start], np.int64)), batch])
    # The first Gemm's logits part is unused: only its recurrent part feeds the first cell.
    first = outer.one("Gemm", [h0, constants["joint"], constants["joint_bias"]])
    _, first_recurrent = outer.split(first, [size, 4 * hidden], 1)
    h1, c1 = lstm_cell(outer, first_recurrent, constants["table"], start_tokens, c0, hidden)
    # Continue while min(seen) < threshold: the end position normally, one past it (never) without stop_at_end.
    end, never = np.array(tables.end, np.int64), np.array(tables.end + 1, np.int64)
    constants["threshold"] = outer.one(
        "Where", [names.GREEDY_STOP_AT_END, outer.const("end", end), outer.const("never", never)]
    )
    seen0 = outer.one("ConstantOfShape", [batch], value=helper.make_tensor("v", I64, [1], [0]))
    body = loop_body(tables, constants, outer.opset)
    true = outer.const("true", np.array(True))
    _, _, _, tokens, logits = outer.op("Loop", [names.GREEDY_MAX_LENGTH, true, h1, c1, seen0], 5, body=body)
    return tokens, logits


def _results(outer: GraphBuilder, tables: GreedyTables, tokens: str, logits: str) -> list[onnx.NodeProto]:
    """Original token ids, the chosen tokens' probabilities and the lengths, batch-major."""
    ids = outer.one("Gather", [outer.const("perm", tables.perm), tokens], axis=0)
    probs = outer.one("Softmax", [logits], axis=-1)
    chosen = outer.squeeze(outer.one("GatherElements", [probs, outer.unsqueeze(tokens, 2)], axis=2), 2)
    end = outer.const("end", np.array(tables.end, np.int64))
    is_end = outer.one("Cast", [outer.one("Equal", [tokens, end])], to=TensorProto.INT32)
    first_end = outer.one("ArgMax", [is_end], axis=0, keepdims=0)
    any_end = outer.one("Cast", [outer.reduce("ReduceMax", is_end, axis=0)], to=TensorProto.BOOL)
    steps = outer.leading_dim(tokens)
    return [
        helper.make_node("Transpose", [ids], [names.GREEDY_TOKENS], perm=[1, 0]),
        helper.make_node("Transpose", [chosen], [names.GREEDY_PROBS], perm=[1, 0]),
        helper.make_node("Where", [any_end, first_end, steps], [names.GREEDY_LENGTHS]),
    ]


def build_greedy(encoder: onnx.ModelProto, decoder: onnx.ModelProto, vocab: Vocabulary, opset: int) -> onnx.ModelProto:
    """Build ``greedy.onnx`` from the converted encoder and decoder-step graphs."""
    if opset < MIN_OPSET:
        raise ConversionError(f"--fused needs opset {MIN_OPSET} or newer, got {opset}")
    tables = greedy_tables(decoder, vocab)
    outer = GraphBuilder(opset, prefix="g_")
    enc_nodes, enc_inits = prefixed_encoder(encoder, "enc_")
    tokens, logits = _loop(outer, tables, "enc_" + names.STATE_H, "enc_" + names.STATE_C)
    result_nodes = _results(outer, tables, tokens, logits)
    graph = helper.make_graph(
        [*enc_nodes, *outer.nodes, *result_nodes],
        "s2s_greedy",
        [
            helper.make_tensor_value_info(names.ENCODER_INPUT, F32, ["batch", "time", vocab.num_encoder_tokens]),
            helper.make_tensor_value_info(names.GREEDY_MAX_LENGTH, I64, []),
            helper.make_tensor_value_info(names.GREEDY_STOP_AT_END, BOOL, []),
        ],
        [
            helper.make_tensor_value_info(names.GREEDY_TOKENS, I64, ["batch", "steps"]),
            helper.make_tensor_value_info(names.GREEDY_PROBS, F32, ["batch", "steps"]),
            helper.make_tensor_value_info(names.GREEDY_LENGTHS, I64, ["batch"]),
        ],
        initializer=[*enc_inits, *outer.inits],
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="s2s-onnx", ir_version=encoder.ir_version)
    onnx.checker.check_model(model)
    return model
