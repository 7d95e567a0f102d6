"""``greedy.onnx``: encoder plus the whole greedy loop in one ONNX graph, for a single ``run`` per batch.

Built from small pieces, each testable on its own: :func:`greedy_tables` (weights -> constants),
:func:`lstm_cell` / :func:`gru_cell`, :func:`loop_body` and :func:`build_greedy` (the outer graph). One loop
iteration feeds the previous token (the start token first) through the stack and picks the next; it is arranged
so that a step runs as few and as large kernels as it can (ablation on the canonical model: each small kernel in
the loop costs about half a microsecond, a 256 x 1024 mat-vec about fifteen):

* the first layer's input (one-hot or ``Embedding``) times its input weights, biases included, is a row lookup
  (``Gather``) in a table, and for an LSTM that row is the ``C`` of the ``Gemm`` that adds ``h @ R`` (no ``Add``);
  layers above compute their input part with a ``Gemm`` on the new h below; the Dense layer is one ``Gemm`` on
  the top layer's new h;
* LSTM gate columns are reordered to ``i f o | c`` and split in two, so one ``Gemm`` + ``Sigmoid`` and one
  ``Gemm`` + ``Tanh`` (each fused into one kernel by onnxruntime) compute them, with no ``Split`` of the gates;
* no softmax and no argmax bookkeeping in the output: the loop scans out only the logits; the tokens are their
  argmax, taken once after the loop, and the chosen tokens' probabilities likewise;
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
from s2s_onnx.runtime.architecture import MEMORY_NAMES
from s2s_onnx.runtime.errors import ConversionError
from s2s_onnx.runtime.vocab import Vocabulary

from .fused_attention import attention_constants, attention_logits
from .fused_weights import GATES, DecoderWeights, GreedyTables, LayerTables, greedy_tables
from .onnx_builder import GraphBuilder

MIN_OPSET = 13
F32, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
ValueSpec = tuple[str, int, list[str | int]]  # name, element type, shape


def gate(g: GraphBuilder, x: str, kind: str = "sigmoid") -> str:
    """The recurrent activation ``kind`` (a key of ``GATES``): ``Sigmoid``, or ``HardSigmoid`` with its alpha/beta."""
    params = GATES[kind]
    if params is None:
        return g.one("Sigmoid", [x])
    return g.one("HardSigmoid", [x], alpha=params[0], beta=params[1])


def lstm_cell(g: GraphBuilder, ifo: str, cand: str, c: str, hidden: int, kind: str = "sigmoid") -> tuple[str, str]:
    """LSTM cell from its gate pre-activations, input and recurrent parts summed: ``ifo`` (gates ``i f o``) and
    ``cand`` (the candidate); returns (h', c')."""
    i, f, o = g.split(gate(g, ifo, kind), [hidden, hidden, hidden], axis=1)
    c_new = g.one("Add", [g.one("Mul", [f, c]), g.one("Mul", [i, g.one("Tanh", [cand])])])
    h_new = g.one("Mul", [o, g.one("Tanh", [c_new])])
    return h_new, c_new


def gru_cell(
    g: GraphBuilder,
    inputs: str,
    recurrent: str,
    h: str,
    hidden: int,
    candidate: str | None = None,
    kind: str = "sigmoid",
) -> str:
    """GRU cell (gates ``z r h``) from its input part and recurrent part; ``candidate`` (reset_after=False): the
    recurrent part holds only ``z r`` and the candidate's is ``(r * h) @ candidate``. Returns h'."""
    x_zr, x_h = g.split(inputs, [2 * hidden, hidden], axis=1)
    if candidate is None:
        r_zr, r_h = g.split(recurrent, [2 * hidden, hidden], axis=1)
    else:
        r_zr = recurrent
    z, r = g.split(gate(g, g.one("Add", [x_zr, r_zr]), kind), [hidden, hidden], axis=1)
    reset = g.one("Mul", [r, r_h]) if candidate is None else g.one("MatMul", [g.one("Mul", [r, h]), candidate])
    h_hat = g.one("Tanh", [g.one("Add", [x_h, reset])])
    return g.one("Add", [h_hat, g.one("Mul", [z, g.one("Sub", [h, h_hat])])])


def stack_step(
    g: GraphBuilder, tables: GreedyTables, constants: dict[str, str], token: str, states: list[str]
) -> list[str]:
    """One step of the whole stack for ``token``; ``states`` and the result list every layer's (h[, c]).

    An LSTM layer's gates come in two parts, ``i f o`` and the candidate, each one ``Gemm`` whose ``C`` is the
    input part with every bias (onnxruntime fuses the activation that follows into the ``Gemm``): no ``Add``
    and no ``Split`` of the gates."""
    parts = [g.one("Gather", [constants[f"table{part}"], token], axis=0) for part in _parts(tables.layers[0])]
    new_states: list[str] = []
    h_new = ""
    for depth, layer in enumerate(tables.layers):
        own, states = states[: layer.state_count], states[layer.state_count :]
        if depth:  # the layer below's new h is this layer's input
            parts = [_gemm(g, h_new, constants, f"kernel_{depth}{p}", f"bias_{depth}{p}") for p in _parts(layer)]
        if layer.cell == "lstm":
            ifo, cand = (
                g.one("Gemm", [own[0], constants[f"recurrent_{depth}{p}"], x])
                for p, x in zip(LSTM_PARTS, parts, strict=True)
            )
            h_new, c_new = lstm_cell(g, ifo, cand, own[1], layer.hidden, layer.gate)
            new_states += [h_new, c_new]
        else:
            recurrent = _gemm(g, own[0], constants, f"recurrent_{depth}", f"recurrent_bias_{depth}")
            candidate = constants.get(f"candidate_{depth}")
            h_new = gru_cell(g, parts[0], recurrent, own[0], layer.hidden, candidate, layer.gate)
            new_states.append(h_new)
    return new_states


LSTM_PARTS = ("_ifo", "_c")  # an LSTM's gate columns i f o | c, as two constants each


def _parts(layer: LayerTables) -> tuple[str, ...]:
    return LSTM_PARTS if layer.cell == "lstm" else ("",)


def _gemm(g: GraphBuilder, x: str, constants: dict[str, str], weight: str, bias: str) -> str:
    return g.one("Gemm", [x, constants[weight], constants[bias]])


def _column_parts(layer: LayerTables, columns: np.ndarray) -> dict[str, np.ndarray]:
    """A layer's gate columns as the loop reads them: an LSTM's split into ``i f o`` and ``c``."""
    if layer.cell != "lstm":
        return {"": columns}
    ifo = 3 * layer.hidden
    return {LSTM_PARTS[0]: columns[..., :ifo], LSTM_PARTS[1]: columns[..., ifo:]}


def state_specs(tables: GreedyTables) -> list[ValueSpec]:
    """The loop-carried recurrent states, layer by layer."""
    specs: list[ValueSpec] = []
    for depth, layer in enumerate(tables.layers):
        kinds = ("h", "c") if layer.cell == "lstm" else ("h",)
        specs += [(f"{kind}{depth}", F32, ["batch", layer.hidden]) for kind in kinds]
    return specs


def loop_body(tables: GreedyTables, constants: dict[str, str], opset: int) -> onnx.GraphProto:
    """One greedy step: ``(iter, cond, *states, token, seen) -> (cond, *states', token', seen', logits)``.

    ``token`` is the previous step's choice (the start token first); ``token'`` the argmax of ``logits``, this
    step's output. ``constants`` names the outer-scope values the body reads: ``table``, ``dense``,
    ``dense_bias``, each layer's weights and ``threshold`` (the loop continues while ``min(seen) < threshold``).
    """
    size = tables.vocab_size
    top = tables.layers[-1]
    body = GraphBuilder(opset, prefix="b_")
    specs = state_specs(tables)
    states_new = stack_step(body, tables, constants, "token_in", [f"{name}_in" for name, _, _ in specs])
    logits = output_logits(body, tables, constants, states_new[-top.state_count])
    token = body.one("ArgMax", [logits], axis=1, keepdims=0)
    seen, cond = end_test(body, token, constants["threshold"])
    renames = {new: f"{name}_out" for new, (name, _, _) in zip(states_new, specs, strict=True)}
    body.rename({cond: "cond_out", seen: "seen_out", token: "token_out", logits: "logits_out", **renames})
    state: list[ValueSpec] = [*specs, ("token", I64, ["batch"]), ("seen", I64, ["batch"])]
    return body_graph(body, "greedy_step", state, [("logits_out", F32, ["batch", size])])


def output_logits(g: GraphBuilder, tables: GreedyTables, constants: dict[str, str], top: str) -> str:
    """A step's logits from the top layer's new h: the Dense, or the attention step and then the Dense."""
    if tables.attention is not None:
        return attention_logits(g, tables.attention, constants, top)
    return g.one("Gemm", [top, constants["dense"], constants["dense_bias"]])


def memory_constants(outer: GraphBuilder, tables: GreedyTables, memory: list[str]) -> dict[str, str]:
    """The attention's outer-scope values from the encoder's outputs (and mask), rows as the loop runs them."""
    if tables.attention is None:
        return {}
    return attention_constants(outer, tables.attention, memory[0], memory[1] if len(memory) > 1 else None)


def end_test(body: GraphBuilder, token: str, threshold: str) -> tuple[str, str]:
    """``(seen', cond')``: each row's largest loop position so far (``seen_in`` and ``token``), and whether the loop
    goes on, ``min(seen') < threshold`` (a scalar). The end token is the last position: three small ops per step."""
    seen = body.one("Max", ["seen_in", token])
    return seen, body.one("Less", [body.one("ReduceMin", [seen], keepdims=0), threshold])


def stop_threshold(outer: GraphBuilder, end: int) -> str:
    """The :func:`end_test` threshold: the end position, or one past it (never reached) without ``stop_at_end``."""
    end_at, never = np.array(end, np.int64), np.array(end + 1, np.int64)
    return outer.one("Where", [names.FUSED_STOP_AT_END, outer.const("end", end_at), outer.const("never", never)])


def body_graph(g: GraphBuilder, name: str, state: list[ValueSpec], scans: list[ValueSpec]) -> onnx.GraphProto:
    """A ``Loop`` body from the nodes in ``g``: inputs ``iter, cond_in`` and each ``<state>_in``; outputs
    ``cond_out``, each ``<state>_out``, then the scan outputs ``scans``."""
    inputs: list[ValueSpec] = [("iter", I64, []), ("cond_in", BOOL, []), *((f"{n}_in", t, s) for n, t, s in state)]
    outputs: list[ValueSpec] = [("cond_out", BOOL, []), *((f"{n}_out", t, s) for n, t, s in state), *scans]
    return helper.make_graph(
        g.nodes,
        name,
        [helper.make_tensor_value_info(*v) for v in inputs],
        [helper.make_tensor_value_info(*v) for v in outputs],
        initializer=g.inits,
    )


def prefixed_encoder(encoder: onnx.ModelProto, prefix: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The encoder's nodes and initializers with every name prefixed, in subgraphs too (a ``Loop`` body reads
    outer values by name), except the graph input."""
    graph = onnx.GraphProto()
    graph.CopyFrom(encoder.graph)
    _prefix_names(graph, prefix, keep={names.ENCODER_INPUT, ""})
    return list(graph.node), list(graph.initializer)


def _prefix_names(graph: onnx.GraphProto, prefix: str, keep: set[str]) -> None:
    def rename(name: str) -> str:
        return name if name in keep else prefix + name

    for index, node in enumerate(graph.node):
        node.name = f"{prefix}{node.name or node.op_type}_{index}"
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        for attribute in node.attribute:
            for subgraph in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                _prefix_names(subgraph, prefix, keep)
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        value.name = rename(value.name)


def layer_constants(outer: GraphBuilder, tables: GreedyTables) -> dict[str, str]:
    """Outer-graph constants the loop reads: the token table, the Dense layer, and each layer's weights."""
    constants = {}
    if tables.attention is None:  # else the attention's tables hold the Dense (see fused_attention)
        constants["dense"] = outer.const("dense_kernel", tables.dense)
        constants["dense_bias"] = outer.const("dense_bias", tables.dense_bias)
    for part, columns in _column_parts(tables.layers[0], tables.table).items():
        constants[f"table{part}"] = outer.const(f"token_table{part}", columns)
    for depth, layer in enumerate(tables.layers):
        constants.update(_layer_constants(outer, layer, depth))
    return constants


def _layer_constants(outer: GraphBuilder, layer: LayerTables, depth: int) -> dict[str, str]:
    arrays = {f"recurrent_{depth}{p}": v for p, v in _column_parts(layer, layer.recurrent).items()}
    if layer.kernel is not None and layer.bias is not None:
        arrays.update({f"kernel_{depth}{p}": v for p, v in _column_parts(layer, layer.kernel).items()})
        arrays.update({f"bias_{depth}{p}": v for p, v in _column_parts(layer, layer.bias).items()})
    if layer.cell == "gru":
        arrays[f"recurrent_bias_{depth}"] = layer.recurrent_bias
    if layer.candidate is not None:
        arrays[f"candidate_{depth}"] = layer.candidate
    return {name: outer.const(name, value) for name, value in arrays.items()}


def _loop(outer: GraphBuilder, tables: GreedyTables, states0: list[str], memory: list[str]) -> tuple[str, str]:
    """The loop from the start token; returns (tokens, logits), time-major."""
    constants = {**layer_constants(outer, tables), **memory_constants(outer, tables, memory)}
    batch = outer.leading_dim(states0[0])
    start_tokens = outer.one("Expand", [outer.const("start", np.array([tables.start], np.int64)), batch])
    constants["threshold"] = stop_threshold(outer, tables.end)
    seen0 = outer.one("ConstantOfShape", [batch], value=helper.make_tensor("v", I64, [1], [0]))
    body = loop_body(tables, constants, outer.opset)
    true = outer.const("true", np.array(True))
    loop_inputs = [names.FUSED_MAX_LENGTH, true, *states0, start_tokens, seen0]
    logits = outer.op("Loop", loop_inputs, len(states0) + 3, body=body)[-1]
    return outer.one("ArgMax", [logits], axis=2, keepdims=0), logits


def token_results(outer: GraphBuilder, perm: np.ndarray, tokens: str, logits: str) -> list[onnx.NodeProto]:
    """Original token ids (``perm``: loop position -> id; the end token last), the chosen tokens' probabilities and
    the lengths, batch-major, from the loop's time-major ``tokens`` and ``logits``."""
    ids = outer.one("Gather", [outer.const("perm", perm), tokens], axis=0)
    probs = outer.one("Softmax", [logits], axis=-1)
    chosen = outer.squeeze(outer.one("GatherElements", [probs, outer.unsqueeze(tokens, 2)], axis=2), 2)
    end = outer.const("end", np.array(len(perm) - 1, np.int64))
    is_end = outer.one("Cast", [outer.one("Equal", [tokens, end])], to=TensorProto.INT32)
    first_end = outer.one("ArgMax", [is_end], axis=0, keepdims=0)
    any_end = outer.one("Cast", [outer.reduce("ReduceMax", is_end, axis=0)], to=TensorProto.BOOL)
    steps = outer.leading_dim(tokens)
    return [
        helper.make_node("Transpose", [ids], [names.FUSED_TOKENS], perm=[1, 0]),
        helper.make_node("Transpose", [chosen], [names.FUSED_PROBS], perm=[1, 0]),
        helper.make_node("Where", [any_end, first_end, steps], [names.FUSED_LENGTHS]),
    ]


def encoder_input_info(encoder: onnx.ModelProto) -> onnx.ValueInfoProto:
    """The encoder's input as the fused graph's: one-hot floats or token ids, as converted."""
    info = onnx.ValueInfoProto()
    info.CopyFrom(next(i for i in encoder.graph.input if i.name == names.ENCODER_INPUT))
    return info


def build_greedy(encoder: onnx.ModelProto, weights: DecoderWeights, vocab: Vocabulary, opset: int) -> onnx.ModelProto:
    """Build ``greedy.onnx`` from the converted encoder graph (whose outputs are the states, layer by layer) and
    the decoder's weights."""
    tables, outer, (enc_nodes, enc_inits, states0, memory) = fused_start(encoder, weights, vocab, opset, "g_")
    tokens, logits = _loop(outer, tables, states0, memory)
    result_nodes = token_results(outer, tables.perm, tokens, logits)
    nodes, inits = [*enc_nodes, *outer.nodes, *result_nodes], [*enc_inits, *outer.inits]
    return greedy_graph(encoder, "s2s_greedy", nodes, inits, opset)


def greedy_graph(
    encoder: onnx.ModelProto, name: str, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], opset: int
) -> onnx.ModelProto:
    """The checked ``greedy.onnx`` model around ``nodes``: the encoder's input, ``max_length`` and ``stop_at_end``
    in; token ids, their probabilities and the lengths out."""
    graph = helper.make_graph(
        nodes,
        name,
        [
            encoder_input_info(encoder),
            helper.make_tensor_value_info(names.FUSED_MAX_LENGTH, I64, []),
            helper.make_tensor_value_info(names.FUSED_STOP_AT_END, BOOL, []),
        ],
        [
            helper.make_tensor_value_info(names.FUSED_TOKENS, I64, ["batch", "steps"]),
            helper.make_tensor_value_info(names.FUSED_PROBS, F32, ["batch", "steps"]),
            helper.make_tensor_value_info(names.FUSED_LENGTHS, I64, ["batch"]),
        ],
        initializer=inits,
    )
    return fused_model(encoder, graph, opset)


EncoderPart = tuple[list[onnx.NodeProto], list[onnx.TensorProto], list[str], list[str]]


def fused_start(
    encoder: onnx.ModelProto, weights: DecoderWeights, vocab: Vocabulary, opset: int, prefix: str
) -> tuple[GreedyTables, GraphBuilder, EncoderPart]:
    """What a fused graph starts from: the decoder's tables, a builder, and the encoder's nodes, initializers,
    state outputs and memory outputs (an attention model's encoder outputs and mask; names prefixed ``enc_``)."""
    if opset < MIN_OPSET:
        raise ConversionError(f"--fused needs opset {MIN_OPSET} or newer, got {opset}")
    nodes, inits = prefixed_encoder(encoder, "enc_")
    outputs = [output.name for output in encoder.graph.output]
    memory = ["enc_" + name for name in outputs if name in MEMORY_NAMES]
    states0 = ["enc_" + name for name in outputs if name not in MEMORY_NAMES]
    return greedy_tables(weights, vocab), GraphBuilder(opset, prefix=prefix), (nodes, inits, states0, memory)


def fused_model(encoder: onnx.ModelProto, graph: onnx.GraphProto, opset: int) -> onnx.ModelProto:
    """The checked model around a fused graph, at the encoder's IR version."""
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="s2s-onnx", ir_version=encoder.ir_version)
    onnx.checker.check_model(model)
    return model
