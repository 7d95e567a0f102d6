"""The fused-graph builder's pieces and both decoding paths on tiny ``onnx.helper`` graphs (no TensorFlow).

Each piece is checked against numpy: the weight tables, one LSTM cell, one loop-body step, and the whole
``greedy.onnx`` against the Keras example's loop run over a numpy LSTM, including decodes that hit the cap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnx_fixtures import (
    OPSET,
    TINY_VOCAB,
    decoder_weights,
    lstm_step,
    numpy_example_decode,
    random_weights,
    write_bundle,
)

from s2s_onnx.export.graphs.fused import gru_cell, layer_constants, loop_body, lstm_cell
from s2s_onnx.export.graphs.fused_weights import greedy_tables, ifoc
from s2s_onnx.export.graphs.onnx_builder import GraphBuilder
from s2s_onnx.runtime import Bundle, DecodeOptions, Seq2SeqModel

N_IN, N_OUT, HIDDEN = TINY_VOCAB.num_encoder_tokens, TINY_VOCAB.num_decoder_tokens, 5
TEXTS = [
    "",
    "a",
    "abc",
    "gfedcba",
    "bad",
    "cafe",
    "dee",
    "g",
    "ab",
    "fg",
    "cab",
    "ace",
    "bed",
    "age",
    "egg",
    "dab",
    "fad",
]


def _run(graph: onnx.GraphProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
    onnx.checker.check_model(model)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def ifog(blocks: np.ndarray, hidden: int) -> np.ndarray:
    """ONNX gate blocks ``i o f c`` (axis 0) -> the loop's ``i f o c``."""
    i, o, f, c = (blocks[k * hidden : (k + 1) * hidden] for k in range(4))
    return np.concatenate([i, f, o, c], axis=0)


def test_ifoc_reorders_keras_gate_columns() -> None:
    columns = np.repeat(np.arange(4), 2)[None, :]  # i i f f c c o o
    assert ifoc(columns, 2).ravel().tolist() == [0, 0, 1, 1, 3, 3, 2, 2]


def test_tables_hold_weights_in_loop_order() -> None:
    weights = random_weights(N_IN, N_OUT, HIDDEN, seed=1)
    tables = greedy_tables(decoder_weights(weights), TINY_VOCAB)
    assert tables.perm[-1] == TINY_VOCAB.end_id and tables.end == N_OUT - 1
    assert tables.perm[tables.start] == TINY_VOCAB.start_id
    assert sorted(tables.perm.tolist()) == list(range(N_OUT))
    hidden = HIDDEN
    bias = weights.dec_b[: 4 * hidden] + weights.dec_b[4 * hidden :]
    for position, token in enumerate(tables.perm):
        np.testing.assert_allclose(tables.table[position], ifog(weights.dec_w[:, token] + bias, hidden), atol=1e-6)
    np.testing.assert_allclose(tables.dense, weights.dense_w[:, tables.perm])
    np.testing.assert_allclose(tables.dense_bias, weights.dense_b[tables.perm])
    np.testing.assert_allclose(tables.layers[0].recurrent, ifog(weights.dec_r, hidden).T)


def test_lstm_cell_matches_numpy() -> None:
    weights = random_weights(N_IN, N_OUT, HIDDEN, seed=2)
    tables = greedy_tables(decoder_weights(weights), TINY_VOCAB)
    rng = np.random.default_rng(0)
    h = rng.standard_normal((3, HIDDEN)).astype(np.float32)
    c = rng.standard_normal((3, HIDDEN)).astype(np.float32)
    positions = np.array([0, 4, N_OUT - 1], np.int64)
    gates = (tables.table[positions] + h @ tables.layers[0].recurrent).astype(np.float32)  # i f o | c
    g = GraphBuilder(OPSET)
    h_new, c_new = lstm_cell(g, "ifo", "cand", "c", HIDDEN)
    g.rename({h_new: "h_out", c_new: "c_out"})
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes,
        "cell",
        [
            helper.make_tensor_value_info("ifo", f32, [3, 3 * HIDDEN]),
            helper.make_tensor_value_info("cand", f32, [3, HIDDEN]),
            helper.make_tensor_value_info("c", f32, [3, HIDDEN]),
        ],
        [
            helper.make_tensor_value_info("h_out", f32, [3, HIDDEN]),
            helper.make_tensor_value_info("c_out", f32, [3, HIDDEN]),
        ],
        g.inits,
    )
    got_h, got_c = _run(graph, {"ifo": gates[:, : 3 * HIDDEN], "cand": gates[:, 3 * HIDDEN :], "c": c})
    one_hot = np.eye(N_OUT)[tables.perm[positions]]
    want_h, want_c = lstm_step(
        one_hot, h.astype(np.float64), c.astype(np.float64), weights.dec_w, weights.dec_r, weights.dec_b
    )
    np.testing.assert_allclose(got_h, want_h, atol=1e-5)
    np.testing.assert_allclose(got_c, want_c, atol=1e-5)


def test_loop_body_step_and_stop_condition() -> None:
    """One iteration feeds the previous token through the cell, then picks the next from the new state's logits;
    the loop goes on while some row has not yet emitted the end token."""
    weights = random_weights(N_IN, N_OUT, HIDDEN, seed=3)
    tables = greedy_tables(decoder_weights(weights), TINY_VOCAB)
    outer = GraphBuilder(OPSET, prefix="o_")
    constants = layer_constants(outer, tables)
    constants["threshold"] = outer.const("threshold", np.array(tables.end, np.int64))
    body = loop_body(tables, constants, OPSET)
    body.initializer.extend(outer.inits)  # run the body alone: its outer-scope constants become its own
    rng = np.random.default_rng(1)
    h = rng.standard_normal((2, HIDDEN)).astype(np.float32)
    c = rng.standard_normal((2, HIDDEN)).astype(np.float32)
    previous, seen = np.array([tables.start, 3], np.int64), np.array([tables.end, 0], np.int64)
    feeds = {"iter": np.array(0, np.int64), "cond_in": np.array(True), "h0_in": h, "c0_in": c}
    cond, h_out, c_out, token, seen_out, logits = _run(body, {**feeds, "token_in": previous, "seen_in": seen})
    want_h, want_c = lstm_step(np.eye(N_OUT)[tables.perm[previous]], h, c, weights.dec_w, weights.dec_r, weights.dec_b)
    np.testing.assert_allclose(h_out, want_h, atol=1e-5)
    np.testing.assert_allclose(c_out, want_c, atol=1e-5)
    want_logits = want_h @ tables.dense + tables.dense_bias
    np.testing.assert_allclose(logits, want_logits, atol=1e-5)
    assert token.tolist() == want_logits.argmax(axis=1).tolist()
    assert seen_out.tolist() == np.maximum(seen, token).tolist()
    assert bool(cond) == (seen_out.min() < tables.end)


def numpy_gru(x, h, kernel, recurrent, bias, reset_after):
    """Keras' GRU step in float64 numpy (gates z r h)."""
    hidden = h.shape[1]
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    input_bias, recurrent_bias = (bias[0], bias[1]) if reset_after else (bias, np.zeros(3 * hidden))
    xs = x @ kernel + input_bias
    z = sig(xs[:, :hidden] + h @ recurrent[:, :hidden] + recurrent_bias[:hidden])
    r = sig(xs[:, hidden : 2 * hidden] + h @ recurrent[:, hidden : 2 * hidden] + recurrent_bias[hidden : 2 * hidden])
    if reset_after:
        reset = r * (h @ recurrent[:, 2 * hidden :] + recurrent_bias[2 * hidden :])
    else:
        reset = (r * h) @ recurrent[:, 2 * hidden :]
    h_hat = np.tanh(xs[:, 2 * hidden :] + reset)
    return z * h + (1 - z) * h_hat


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_cell_matches_numpy(reset_after: bool) -> None:
    """The fused GRU cell (both Keras variants) against Keras' equations in numpy."""
    rng = np.random.default_rng(4)
    n_in, hidden, batch = 4, HIDDEN, 3
    kernel, recurrent = rng.standard_normal((n_in, 3 * hidden)), rng.standard_normal((hidden, 3 * hidden))
    bias = rng.standard_normal((2, 3 * hidden) if reset_after else (3 * hidden,))
    x, h = rng.standard_normal((batch, n_in)), rng.standard_normal((batch, hidden))
    input_bias = bias[0] if reset_after else bias
    inputs = (x @ kernel + input_bias).astype(np.float32)
    if reset_after:
        rec, candidate = h @ recurrent + bias[1], None
    else:
        rec, candidate = h @ recurrent[:, : 2 * hidden], recurrent[:, 2 * hidden :]
    g = GraphBuilder(OPSET)
    cand = g.const("candidate", candidate.astype(np.float32)) if candidate is not None else None
    h_new = gru_cell(g, "inputs", "recurrent", "h", hidden, cand)
    g.rename({h_new: "h_out"})
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes,
        "gru",
        [
            helper.make_tensor_value_info("inputs", f32, [batch, 3 * hidden]),
            helper.make_tensor_value_info("recurrent", f32, [batch, rec.shape[1]]),
            helper.make_tensor_value_info("h", f32, [batch, hidden]),
        ],
        [helper.make_tensor_value_info("h_out", f32, [batch, hidden])],
        g.inits,
    )
    feeds = {"inputs": inputs, "recurrent": rec.astype(np.float32), "h": h.astype(np.float32)}
    (got,) = _run(graph, feeds)
    np.testing.assert_allclose(got, numpy_gru(x, h, kernel, recurrent, bias, reset_after), atol=1e-5)


@pytest.fixture(scope="module", params=[(21, 0.0), (24, 0.6), (25, 0.6)], ids=["seed21", "seed24", "seed25"])
def tiny(request, tmp_path_factory) -> tuple[Bundle, object]:
    """A tiny random bundle whose decodes mix ended rows and rows that hit the cap (seeds picked for that)."""
    seed, end_bias = request.param
    weights = random_weights(N_IN, N_OUT, HIDDEN, seed=seed, end_bias=(TINY_VOCAB.end_id, end_bias))
    path = write_bundle(tmp_path_factory.mktemp(f"tiny{seed}"), weights)
    return Bundle.open(path), weights


@pytest.mark.parametrize("batch_size", [1, 16])
@pytest.mark.parametrize("strategy", ["steps", "fused"])
@pytest.mark.parametrize("max_length", [None, 3, 12])
def test_decodes_equal_the_example_loop(tiny, strategy, batch_size, max_length) -> None:
    bundle, weights = tiny
    model = Seq2SeqModel(
        bundle, DecodeOptions(strategy=strategy, batch_size=batch_size, max_length=max_length, allow_empty=True)
    )
    expected = numpy_example_decode(weights, TINY_VOCAB.encode_sources(TEXTS), TINY_VOCAB, max_length)
    results = model.decode(TEXTS)
    assert [(list(r.token_ids), r.stop_reason == "end") for r in results] == expected
    cap = (TINY_VOCAB.max_decoder_len + 1) if max_length is None else max_length
    assert all(len(r.token_ids) == cap for r in results if r.stop_reason == "max_length")


def test_tiny_decodes_hit_the_cap_and_end(tiny) -> None:
    """The fixture is worth its name: some decodes end, some run to the example's cap of max_decoder_len + 1."""
    _, weights = tiny
    expected = numpy_example_decode(weights, TINY_VOCAB.encode_sources(TEXTS), TINY_VOCAB)
    ended = [e for _, e in expected]
    assert any(ended) and not all(ended)
    assert {len(ids) for ids, e in expected if not e} == {TINY_VOCAB.max_decoder_len + 1}


def test_stream_equals_decode(tiny) -> None:
    bundle, _ = tiny
    model = Seq2SeqModel(bundle, DecodeOptions(allow_empty=True))
    for text in TEXTS:
        assert "".join(model.stream(text)) == model.translate(text, strategy="steps")


def test_fused_probabilities_equal_steps(tiny) -> None:
    bundle, _ = tiny
    model = Seq2SeqModel(bundle, DecodeOptions(allow_empty=True))
    for fused, steps in zip(model.decode(TEXTS, strategy="fused"), model.decode(TEXTS, strategy="steps"), strict=True):
        np.testing.assert_allclose(fused.probabilities, steps.probabilities, atol=1e-5)


def test_bundle_without_greedy(tmp_path: Path) -> None:
    weights = random_weights(N_IN, N_OUT, HIDDEN, seed=5)
    model = Seq2SeqModel(Bundle.open(write_bundle(tmp_path / "b", weights, fused=False)))
    assert not model.fused
    assert isinstance(model.translate("abc"), str)
    with pytest.raises(ValueError, match="greedy.onnx"):
        model.translate("abc", strategy="fused")
