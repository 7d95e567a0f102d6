"""The int8 greedy loop's float structure (``export/fused_lstm.py``): one ONNX ``LSTM`` op per layer, weights read from
the step decoder. Checked on tiny ``onnx.helper`` bundles against the lean float loop (TensorFlow-free)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from onnx_fixtures import OPSET, TINY_VOCAB, random_weights, write_bundle

from s2s_onnx.export.graphs.fused_lstm import build_greedy_lstm, lstm_step
from s2s_onnx.export.graphs.quantize import QuantizeOptions, quantize
from s2s_onnx.runtime import Seq2SeqModel
from s2s_onnx.runtime import config as names


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    weights = random_weights(TINY_VOCAB.num_encoder_tokens, TINY_VOCAB.num_decoder_tokens, 6, seed=5, end_bias=(1, 1.2))
    return write_bundle(tmp_path_factory.mktemp("tiny"), weights)


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_weights_are_the_step_decoders(tiny: Path) -> None:
    decoder = onnx.load(str(tiny / names.DECODER_NAME))
    step = lstm_step(decoder, TINY_VOCAB, ids=False)
    assert step is not None and len(step.layers) == 1
    arrays = {i.name: onnx.numpy_helper.to_array(i) for i in decoder.graph.initializer}
    np.testing.assert_array_equal(step.layers[0].weight[0], arrays["W"][0])
    np.testing.assert_array_equal(step.layers[0].recurrent[0], arrays["R"][0])
    # Loop order: the end token last; a token's input row is its one-hot row in id order.
    end, start = TINY_VOCAB.end_id, TINY_VOCAB.start_id
    assert step.perm[-1] == end and step.perm[step.start] == start
    np.testing.assert_array_equal(step.inputs, np.eye(TINY_VOCAB.num_decoder_tokens, dtype=np.float32)[step.perm])
    np.testing.assert_array_equal(step.dense, arrays["dense_kernel"][:, step.perm])


def test_lstm_op_loop_decodes_like_the_lean_loop(tiny: Path) -> None:
    step = lstm_step(onnx.load(str(tiny / names.DECODER_NAME)), TINY_VOCAB, ids=False)
    assert step is not None
    lstm_loop = _session(build_greedy_lstm(onnx.load(str(tiny / names.ENCODER_NAME)), step, OPSET))
    lean_loop = _session(onnx.load(str(tiny / names.GREEDY_NAME)))
    rng = np.random.default_rng(3)
    x = np.eye(TINY_VOCAB.num_encoder_tokens, dtype=np.float32)[rng.integers(0, 5, size=(6, 4))]
    for stop in (True, False):
        feeds = {names.ENCODER_INPUT: x, names.FUSED_MAX_LENGTH: np.array(9), names.FUSED_STOP_AT_END: np.array(stop)}
        ids, probs, lengths = lstm_loop.run(None, feeds)
        want_ids, want_probs, want_lengths = lean_loop.run(None, feeds)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(lengths, want_lengths)
        np.testing.assert_allclose(probs, want_probs, atol=1e-5)
    assert lengths.min() < 9  # some rows stop at the end token: the stop rule is exercised


def _edited(tiny: Path, edit: str) -> onnx.ModelProto:
    decoder = onnx.load(str(tiny / names.DECODER_NAME))
    lstm = next(n for n in decoder.graph.node if n.op_type == "LSTM")
    if edit == "clip":
        lstm.attribute.append(helper.make_attribute("clip", 3.0))
    elif edit == "sequence_lens":
        lstm.input[4] = "lens"
    elif edit == "activations":
        lstm.attribute.append(helper.make_attribute("activations", ["Sigmoid", "Relu", "Relu"]))
    elif edit == "no_dense":
        next(n for n in decoder.graph.node if n.op_type == "MatMul").op_type = "Mul"
    elif edit == "not_a_stack":  # a second LSTM whose input width is not the first one's hidden size
        decoder.graph.node.append(helper.make_node("LSTM", ["y", "W", "R", "B"], ["", "y2_h", "y2_c"], hidden_size=6))
    return decoder


@pytest.mark.parametrize("edit", ["clip", "sequence_lens", "activations", "no_dense", "not_a_stack"])
def test_anything_but_plain_lstm_ops_is_declined(tiny: Path, edit: str) -> None:
    assert lstm_step(_edited(tiny, edit), TINY_VOCAB, ids=False) is None


def test_int8_loop_is_one_int8_lstm_kernel_and_equals_the_int8_step_loop(tiny: Path, tmp_path: Path) -> None:
    report = quantize(tiny, tmp_path / "int8", QuantizeOptions(min_identical=0))
    assert report.fused_loop.startswith("LSTM ops") and report.fused_equals_steps == 1.0
    graph = onnx.load(str(tmp_path / "int8" / names.GREEDY_NAME)).graph
    body = next(n for n in graph.node if n.op_type == "Loop").attribute[0].g
    ops = [n.op_type for n in body.node]
    assert ops.count("DynamicQuantizeLSTM") == 1 and "Sigmoid" not in ops and "LSTM" not in ops
    model = Seq2SeqModel.load(tmp_path / "int8")
    texts = ["ab", "ba", "gab", "fed", "cafe"]
    fused, steps = model.decode(texts), model.decode(texts, strategy="steps")
    assert [r.token_ids for r in fused] == [r.token_ids for r in steps]
    for a, b in zip(fused, steps, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-4)
