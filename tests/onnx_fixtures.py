"""Tiny encoder/decoder ONNX graphs built with ``onnx.helper`` (the layout tf2onnx produces), a numpy LSTM,
and the Keras example's decode loop over that numpy model: the TensorFlow-free tier's reference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from s2s_onnx.export.graphs.fused_weights import CellWeights, DecoderWeights
from s2s_onnx.runtime import BundleConfig, Vocabulary
from s2s_onnx.runtime import config as names

OPSET = 17


@dataclass(frozen=True)
class TinyWeights:
    """ONNX-layout LSTM weights (gates i o f c) of encoder and decoder, and the Dense layer."""

    enc_w: np.ndarray  # (4H, n_in)
    enc_r: np.ndarray  # (4H, H)
    enc_b: np.ndarray  # (8H,)
    dec_w: np.ndarray  # (4H, n_out)
    dec_r: np.ndarray
    dec_b: np.ndarray
    dense_w: np.ndarray  # (H, n_out)
    dense_b: np.ndarray  # (n_out,)

    @property
    def hidden(self) -> int:
        return int(self.enc_r.shape[1])


def random_weights(
    n_in: int, n_out: int, hidden: int, seed: int, end_bias: tuple[int, float] = (1, 0.0)
) -> TinyWeights:
    rng = np.random.default_rng(seed)

    def w(*shape: int, scale: float = 0.6) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    dense_b = w(n_out, scale=0.3)
    dense_b[end_bias[0]] += end_bias[1]
    return TinyWeights(
        w(4 * hidden, n_in),
        w(4 * hidden, hidden),
        w(8 * hidden, scale=0.2),
        w(4 * hidden, n_out),
        w(4 * hidden, hidden),
        w(8 * hidden, scale=0.2),
        w(hidden, n_out, scale=1.5),
        dense_b,
    )


def keras_gates(onnx_blocks: np.ndarray, hidden: int) -> np.ndarray:
    """ONNX LSTM gate blocks ``i o f c`` (axis 0) -> Keras columns ``i f c o`` (last axis)."""
    i, o, f, c = (onnx_blocks[k * hidden : (k + 1) * hidden] for k in range(4))
    return np.concatenate([i, f, c, o], axis=0).T


def decoder_weights(weights: TinyWeights) -> DecoderWeights:
    """The decoder of ``weights`` in Keras' layout, as the fused builder takes it."""
    hidden = weights.hidden
    bias = weights.dec_b[: 4 * hidden] + weights.dec_b[4 * hidden :]
    cell = CellWeights(
        "lstm", keras_gates(weights.dec_w, hidden), keras_gates(weights.dec_r, hidden), keras_gates(bias, hidden)
    )
    return DecoderWeights((cell,), weights.dense_w, weights.dense_b)


def _init(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def encoder_graph(weights: TinyWeights, n_in: int) -> onnx.ModelProto:
    hidden = weights.hidden
    nodes = [
        helper.make_node("Transpose", [names.ENCODER_INPUT], ["x_tm"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["x_tm", "W", "R", "B"], ["", "y_h", "y_c"], hidden_size=hidden),
        helper.make_node("Squeeze", ["y_h", "axis0"], [names.STATE_H]),
        helper.make_node("Squeeze", ["y_c", "axis0"], [names.STATE_C]),
    ]
    inits = [
        _init("W", weights.enc_w[None]),
        _init("R", weights.enc_r[None]),
        _init("B", weights.enc_b[None]),
        _init("axis0", np.array([0], np.int64)),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_encoder",
        [helper.make_tensor_value_info(names.ENCODER_INPUT, TensorProto.FLOAT, ["batch", "time", n_in])],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", hidden])
            for n in (names.STATE_H, names.STATE_C)
        ],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def decoder_graph(weights: TinyWeights, n_out: int) -> onnx.ModelProto:
    hidden = weights.hidden
    nodes = [
        helper.make_node("Transpose", [names.DECODER_INPUT], ["x_tm"], perm=[1, 0, 2]),
        helper.make_node("Unsqueeze", [names.STATE_H, "axis0"], ["h0"]),
        helper.make_node("Unsqueeze", [names.STATE_C, "axis0"], ["c0"]),
        helper.make_node("LSTM", ["x_tm", "W", "R", "B", "", "h0", "c0"], ["y", "y_h", "y_c"], hidden_size=hidden),
        helper.make_node("Squeeze", ["y", "axis1"], ["y_tbh"]),
        helper.make_node("Transpose", ["y_tbh"], ["y_bth"], perm=[1, 0, 2]),
        helper.make_node("MatMul", ["y_bth", "dense_kernel"], ["logits0"]),
        helper.make_node("Add", ["logits0", "dense_bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [names.PROBS], axis=-1),
        helper.make_node("Squeeze", ["y_h", "axis0"], [names.STATE_H_OUT]),
        helper.make_node("Squeeze", ["y_c", "axis0"], [names.STATE_C_OUT]),
    ]
    inits = [
        _init("W", weights.dec_w[None]),
        _init("R", weights.dec_r[None]),
        _init("B", weights.dec_b[None]),
        _init("dense_kernel", weights.dense_w),
        _init("dense_bias", weights.dense_b),
        _init("axis0", np.array([0], np.int64)),
        _init("axis1", np.array([1], np.int64)),
    ]
    state = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", hidden]) for n in (names.STATE_H, names.STATE_C)
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_decoder",
        [helper.make_tensor_value_info(names.DECODER_INPUT, TensorProto.FLOAT, ["batch", "time", n_out]), *state],
        [
            helper.make_tensor_value_info(names.PROBS, TensorProto.FLOAT, ["batch", "time", n_out]),
            *[
                helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", hidden])
                for n in (names.STATE_H_OUT, names.STATE_C_OUT)
            ],
        ],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def lstm_step(
    x: np.ndarray, h: np.ndarray, c: np.ndarray, w: np.ndarray, r: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One ONNX-layout LSTM step in float64 numpy (gates i o f c)."""
    hidden = r.shape[1]
    gates = x @ w.T.astype(np.float64) + h @ r.T.astype(np.float64) + b[: 4 * hidden] + b[4 * hidden :]
    i, o, f, g = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_new), c_new


def numpy_example_decode(
    weights: TinyWeights, x: np.ndarray, vocab: Vocabulary, max_length: int | None = None
) -> list[tuple[list[int], bool]]:
    """The Keras example's decode_sequence over the numpy model, one input at a time."""
    max_decoder_seq_length = (vocab.max_decoder_len + 1 if max_length is None else max_length) - 1
    hidden, out = weights.hidden, []
    for row in x.astype(np.float64):
        h = c = np.zeros((1, hidden))
        for t in range(row.shape[0]):
            h, c = lstm_step(row[t : t + 1], h, c, weights.enc_w, weights.enc_r, weights.enc_b)
        token, decoded = vocab.start_id, []
        while True:
            one_hot = np.zeros((1, vocab.num_decoder_tokens))
            one_hot[0, token] = 1.0
            h, c = lstm_step(one_hot, h, c, weights.dec_w, weights.dec_r, weights.dec_b)
            token = int(np.argmax(h @ weights.dense_w + weights.dense_b))
            decoded.append(token)
            if token == vocab.end_id or len(decoded) > max_decoder_seq_length:
                break
        ended = decoded[-1] == vocab.end_id
        out.append((decoded[:-1] if ended else decoded, ended))
    return out


TINY_VOCAB = Vocabulary(
    input_chars=tuple(" abcdefg"),
    target_chars=tuple("\t\nABCDEFGHIJ"),
    max_encoder_len=7,
    max_decoder_len=6,
)


def write_bundle(directory: Path, weights: TinyWeights, vocab: Vocabulary = TINY_VOCAB, fused: bool = True) -> Path:
    """A complete bundle (encoder, decoder, optionally greedy, config) from tiny helper-built graphs."""
    from s2s_onnx.export.graphs.fused import build_greedy
    from s2s_onnx.export.graphs.fused_beam import build_beam

    directory.mkdir(parents=True, exist_ok=True)
    encoder = encoder_graph(weights, vocab.num_encoder_tokens)
    decoder = decoder_graph(weights, vocab.num_decoder_tokens)
    onnx.save(encoder, directory / names.ENCODER_NAME)
    onnx.save(decoder, directory / names.DECODER_NAME)
    if fused:
        onnx.save(build_greedy(encoder, decoder_weights(weights), vocab, OPSET), directory / names.GREEDY_NAME)
        onnx.save(build_beam(encoder, decoder_weights(weights), vocab, OPSET), directory / names.BEAM_NAME)
    BundleConfig(vocabulary=vocab, latent_dim=weights.hidden, opset=OPSET, fused=fused, beam=fused).save(directory)
    return directory
