"""``beam.onnx``: encoder plus the whole beam search in one ONNX ``Loop`` — the runtime's step-path search
(``runtime/search.py``), step for step, with the backtracking left to numpy.

The loop runs ``batch x beam`` decoder rows through the fused stack of ``greedy.onnx`` (:func:`stack_step`).
Per step: log-probabilities in float64 (``Log`` of the float32 softmax, as the step path takes them), candidates
``score + log_prob`` over ``(batch, beam x vocab)``, ``TopK`` (ties to the lower index, like a stable
``argsort``), parents and tokens by ``Div``/``Mod``, the states ``Gather``-ed to their parents. Beams that emit
the end token (or reach ``max_length``) leave: their scores, normalised by ``((5 + length) / 6) ** alpha``,
enter a running top-``beam`` of finished scores, and a row whose best live beam cannot beat its ``beam``-th
finished score any more stops (the step path's exact bound). The loop ends when no live beam is left.

Inputs: ``encoder_inputs``, ``max_length`` (int64), ``beam_size`` (int64), ``length_penalty`` (float64).
Outputs, ``(steps, batch, beam)`` each: ``beam_tokens`` (token ids), ``beam_parents`` (the slot each came from),
``beam_probs`` (its probability), ``beam_scores`` (summed log-probability) and ``beam_finished`` (this slot left
as a finished hypothesis at this step). :func:`s2s_onnx.runtime.search.backtrack` turns them into hypotheses.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.config import BEAM_OUTPUTS, BEAM_SIZE, LENGTH_PENALTY
from s2s_onnx.runtime.vocab import Vocabulary

from .fused import (
    ValueSpec,
    body_graph,
    encoder_input_info,
    fused_model,
    fused_start,
    layer_constants,
    memory_constants,
    output_logits,
    stack_step,
    state_specs,
)
from .fused_weights import DecoderWeights, GreedyTables
from .onnx_builder import GraphBuilder

F32, F64, I64, BOOL = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.BOOL
SCAN_KINDS = (I64, I64, F32, F64, BOOL)  # element types of BEAM_OUTPUTS


def _candidates(g: GraphBuilder, c: dict[str, str], logits: str) -> tuple[str, str]:
    """``(batch, beam x vocab)`` candidate scores (float64) and the probabilities (float32) in that layout."""
    probs = g.one("Reshape", [g.one("Softmax", [logits], axis=1), c["beam_shape"]])
    log_probs = g.one("Log", [g.one("Cast", [probs], to=F64)])
    wide = g.one("Add", [log_probs, g.unsqueeze("scores_in", 2)])
    return g.one("Reshape", [wide, c["flat"]]), g.one("Reshape", [probs, c["flat"]])


def _finish(g: GraphBuilder, c: dict[str, str], values: str, token: str) -> tuple[str, str, str]:
    """(finished flags, the live scores after leaving and pruning, the new top finished scores)."""
    last = g.one("Equal", ["iter", c["last_iter"]])
    leaving = g.one("Or", [g.one("Equal", [token, c["end"]]), last])
    finished = g.one("And", [leaving, g.one("Greater", [values, c["neg_inf"]])])
    length = g.one("Cast", [g.one("Add", ["iter", c["one_i64"]])], to=F64)
    norm = g.one("Pow", [g.one("Div", [g.one("Add", [length, c["five"]]), c["six"]]), LENGTH_PENALTY])
    new_done = g.one("Where", [finished, g.one("Div", [values, norm]), c["neg_inf"]])
    both = g.one("Concat", ["done_in", new_done], axis=1)
    done = g.op("TopK", [both, c["k"]], 2, axis=1, largest=1, sorted=1)[0]
    live = g.one("Where", [leaving, c["neg_inf"], values])
    kth = g.one("Gather", [done, c["k_last"]], axis=1)
    best = g.reduce("ReduceMax", live, axis=1, keepdims=1)
    hopeless = g.one("LessOrEqual", [g.one("Div", [best, c["best_norm"]]), kth])
    return finished, g.one("Where", [hopeless, c["neg_inf"], live]), done


def beam_body(tables: GreedyTables, c: dict[str, str], opset: int) -> onnx.GraphProto:
    """One beam step: ``(iter, cond, *states, token, scores, done) -> (cond, *states', token', scores', done',
    tokens, parents, probs, scores, finished)``; ``c`` names the outer-scope values it reads."""
    g = GraphBuilder(opset, prefix="b_")
    specs = state_specs(tables)
    top = tables.layers[-1]
    states_new = stack_step(g, tables, c, "token_in", [f"{name}_in" for name, _, _ in specs])
    logits = output_logits(g, tables, c, states_new[-top.state_count])
    candidates, probs = _candidates(g, c, logits)
    values, index = g.op("TopK", [candidates, c["k"]], 2, axis=1, largest=1, sorted=1)
    parent, token = g.one("Div", [index, c["vocab"]]), g.one("Mod", [index, c["vocab"]])
    chosen = g.one("GatherElements", [probs, index], axis=1)
    finished, live, done = _finish(g, c, values, token)
    cond = g.one("Greater", [g.one("ReduceMax", [live], keepdims=0), c["neg_inf"]])
    order = g.one("Reshape", [g.one("Add", [parent, c["row_base"]]), c["minus_one"]])
    moved = [g.one("Gather", [s, order], axis=0) for s in states_new]
    token_next = g.one("Reshape", [token, c["minus_one"]])
    renames = {new: f"{name}_out" for new, (name, _, _) in zip(moved, specs, strict=True)}
    outs = dict(zip(BEAM_OUTPUTS, (token, parent, chosen, values, finished), strict=True))
    g.rename({cond: "cond_out", token_next: "token_out", live: "scores_out", done: "done_out", **renames})
    g.rename({value: f"{name}_scan" for name, value in outs.items()})
    state: list[ValueSpec] = [*specs, ("token", I64, ["rows"]), ("scores", F64, ["batch", "beam"])]
    state.append(("done", F64, ["batch", "beam"]))
    scans: list[ValueSpec] = [
        (f"{name}_scan", kind, ["batch", "beam"]) for name, kind in zip(BEAM_OUTPUTS, SCAN_KINDS, strict=True)
    ]
    return body_graph(g, "beam_step", state, scans)


def _outer_constants(g: GraphBuilder, tables: GreedyTables, batch: str) -> dict[str, str]:
    """What the body reads besides the weights: shapes built from the batch and ``beam_size``, numbers."""
    one, one_1d = g.const("one", np.array(1, np.int64)), g.const("one", np.array([1], np.int64))
    k = g.one("Reshape", [BEAM_SIZE, one_1d])
    vocab = g.const("vocab", np.array(tables.vocab_size, np.int64))
    minus_one = g.const("minus_one", np.array([-1], np.int64))
    c = {
        "k": k,
        "one_1d": one_1d,
        "zero_i64": g.const("zero", np.array(0, np.int64)),
        "vocab": vocab,
        "minus_one": minus_one,
        "flat": g.one("Concat", [minus_one, g.one("Mul", [k, vocab])], axis=0),
        "beam_shape": g.one("Concat", [minus_one, k, g.unsqueeze(vocab, 0)], axis=0),
        "end": g.const("end", np.array(tables.end, np.int64)),
        "neg_inf": g.const("neg_inf", np.array(-np.inf)),
        "one_i64": one,
        "five": g.const("five", np.array(5.0)),
        "six": g.const("six", np.array(6.0)),
        "last_iter": g.one("Sub", [names.FUSED_MAX_LENGTH, one]),
        "k_last": g.one("Sub", [k, one_1d]),
    }
    max_len = g.one("Cast", [names.FUSED_MAX_LENGTH], to=F64)
    c["best_norm"] = g.one("Pow", [g.one("Div", [g.one("Add", [max_len, c["five"]]), c["six"]]), LENGTH_PENALTY])
    rows = g.one("Range", [c["zero_i64"], g.squeeze(batch, 0), one])
    c["row_base"] = g.unsqueeze(g.one("Mul", [rows, BEAM_SIZE]), 1)
    return c


def _initial(g: GraphBuilder, tables: GreedyTables, c: dict[str, str], batch: str, states0: list[str]) -> list[str]:
    """Loop-carried start values: every state repeated per beam (row ``b * beam + k``), start tokens, one live
    beam per row (scores ``0, -inf, ...``), no finished scores."""
    rows = g.one("Mul", [batch, c["k"]])
    tile = g.one("Concat", [batch, c["k"], c["one_1d"]], axis=0)
    flat = g.one("Concat", [rows, c["minus_one"]], axis=0)
    repeated = [g.one("Reshape", [g.one("Expand", [g.unsqueeze(s, 1), tile]), flat]) for s in states0]
    tokens = g.one("Expand", [g.const("start", np.array([tables.start], np.int64)), rows])
    empty = g.one("Expand", [c["neg_inf"], g.one("Concat", [batch, c["k"]], axis=0)])
    slots = g.one("Range", [c["zero_i64"], BEAM_SIZE, c["one_i64"]])
    first = g.one("Equal", [slots, c["zero_i64"]])
    scores = g.one("Where", [first, g.const("zero", np.array(0.0)), empty])
    return [*repeated, tokens, scores, empty]


def _per_beam(g: GraphBuilder, c: dict[str, str], batch: str, value: str) -> str:
    """``value`` (batch, ...) with each row repeated per beam, as the loop's rows (``b * beam + k``) run."""
    shape = g.one("Shape", [value])
    rest = g.one("Slice", [shape, c["one_1d"], g.const("end", np.array([np.iinfo(np.int64).max], np.int64))])
    ones = g.one("ConstantOfShape", [g.one("Shape", [rest])], value=helper.make_tensor("v", I64, [1], [1]))
    tiled = g.one("Expand", [g.unsqueeze(value, 1), g.one("Concat", [batch, c["k"], ones], axis=0)])
    return g.one("Reshape", [tiled, g.one("Concat", [c["minus_one"], rest], axis=0)])


def build_beam(encoder: onnx.ModelProto, weights: DecoderWeights, vocab: Vocabulary, opset: int) -> onnx.ModelProto:
    """Build ``beam.onnx`` from the converted encoder graph and the decoder's weights (as :func:`build_greedy`)."""
    tables, g, (enc_nodes, enc_inits, states0, memory) = fused_start(encoder, weights, vocab, opset, "m_")
    batch = g.leading_dim(states0[0])
    c = {**layer_constants(g, tables), **_outer_constants(g, tables, batch)}
    c.update(memory_constants(g, tables, [_per_beam(g, c, batch, m) for m in memory]))
    start = _initial(g, tables, c, batch, states0)
    body = beam_body(tables, c, opset)
    true = g.const("true", np.array(True))
    scans = g.op("Loop", [names.FUSED_MAX_LENGTH, true, *start], len(start) + len(BEAM_OUTPUTS), body=body)
    scans = scans[len(start) :]
    perm = g.const("perm", tables.perm)
    g.nodes.append(helper.make_node("Gather", [perm, scans[0]], [BEAM_OUTPUTS[0]], axis=0))
    for name, value in zip(BEAM_OUTPUTS[1:], scans[1:], strict=True):
        g.nodes.append(helper.make_node("Identity", [value], [name]))
    graph = helper.make_graph(
        [*enc_nodes, *g.nodes],
        "s2s_beam",
        [
            encoder_input_info(encoder),
            helper.make_tensor_value_info(names.FUSED_MAX_LENGTH, I64, []),
            helper.make_tensor_value_info(BEAM_SIZE, I64, []),
            helper.make_tensor_value_info(LENGTH_PENALTY, F64, []),
        ],
        [
            helper.make_tensor_value_info(name, kind, ["steps", "batch", "beam"])
            for name, kind in zip(BEAM_OUTPUTS, SCAN_KINDS, strict=True)
        ],
        initializer=[*enc_inits, *g.inits],
    )
    return fused_model(encoder, graph, opset)
