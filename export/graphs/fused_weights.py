"""A decoder's trained weights -> the constant tables of the fused greedy loop.

The weights come from the Keras model (:func:`decoder_weights`), in Keras' layout: kernels ``(input, gates)``,
LSTM gates ``i f c o``, GRU gates ``z r h``. The tables reorder LSTM gates to ``i f o c`` (one ``Sigmoid`` covers
``i f o``), fold the first layer's input weights, biases and any ``Embedding`` into one row per token, and put the
end token last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2s_onnx.models.attention import AttentionSpec
from s2s_onnx.models.legacy_h5 import KERAS2_HARD_SIGMOID
from s2s_onnx.models.spec import RnnSpec, Seq2SeqSpec
from s2s_onnx.runtime.errors import ConversionError
from s2s_onnx.runtime.vocab import Vocabulary

from .fused_attention import AttentionTables, attention_tables


@dataclass(frozen=True)
class CellWeights:
    """One decoder layer in Keras' layout."""

    cell: str  # "lstm" or "gru"
    kernel: np.ndarray  # (input, gates * hidden)
    recurrent: np.ndarray  # (hidden, gates * hidden)
    bias: np.ndarray  # LSTM (4H,); GRU (2, 3H) with reset_after (input, recurrent), else (3H,)
    reset_after: bool = True
    gate: str = "sigmoid"  # the recurrent activation: a key of GATES

    @property
    def hidden(self) -> int:
        return int(self.recurrent.shape[0])


@dataclass(frozen=True)
class DecoderWeights:
    """The decoder stack, its Dense layer and the Embedding it reads (None: one-hot tokens)."""

    layers: tuple[CellWeights, ...]
    dense_kernel: np.ndarray  # (top hidden, vocab)
    dense_bias: np.ndarray  # (vocab,)
    embedding: np.ndarray | None = None  # (tokens, width)
    attention: AttentionSpec | None = None  # the attention over the encoder's outputs, between stack and Dense


# recurrent activations the fused cells compute: None is ONNX Sigmoid, else HardSigmoid's (alpha, beta), with the
# meaning of the Keras version that wrote the file (Keras 3: relu6(x + 3) / 6; Keras 2: clip(0.2 x + 0.5, 0, 1))
GATES: dict[str, tuple[float, float] | None] = {
    "sigmoid": None,
    "hard_sigmoid": (1.0 / 6.0, 0.5),
    KERAS2_HARD_SIGMOID: (0.2, 0.5),
}


def _cell_weights(spec: RnnSpec) -> CellWeights:
    if spec.activation != "tanh" or spec.recurrent_activation not in GATES:
        raise ConversionError(
            f"--fused supports tanh cells with a sigmoid or hard_sigmoid recurrent activation, not "
            f"activation={spec.activation!r}, recurrent_activation={spec.recurrent_activation!r}; convert without "
            "--fused"
        )
    kernel, recurrent = spec.weights[0], spec.weights[1]
    width = recurrent.shape[1]
    default = np.zeros((2, width) if spec.cell == "gru" and spec.reset_after else width, np.float32)
    bias = spec.weights[2] if spec.use_bias else default
    return CellWeights(spec.cell, kernel, recurrent, bias, spec.reset_after, spec.recurrent_activation)


def decoder_weights(spec: Seq2SeqSpec) -> DecoderWeights:
    """The fused loop's weights from a model spec; refused (with the fix) for what the loop cannot compute."""
    if spec.dense_activation != "softmax":
        raise ConversionError(f"--fused needs a softmax Dense, not {spec.dense_activation!r}; convert without --fused")
    kernel = spec.dense_weights[0]
    bias = spec.dense_weights[1] if len(spec.dense_weights) > 1 else np.zeros(kernel.shape[1], np.float32)
    embedding = spec.decoder_embedding.weights if spec.decoder_embedding is not None else None
    layers = tuple(_cell_weights(layer) for layer in spec.decoder)
    return DecoderWeights(layers, kernel, bias, embedding, spec.attention)


def ifoc(columns: np.ndarray, hidden: int) -> np.ndarray:
    """Reorder Keras LSTM gate blocks ``i f c o`` (along the last axis) to ``i f o c``."""
    i, f, c, o = (columns[..., k * hidden : (k + 1) * hidden] for k in range(4))
    return np.concatenate([i, f, o, c], axis=-1)


@dataclass(frozen=True)
class LayerTables:
    """One layer's constants in the loop's gate order."""

    cell: str
    hidden: int
    recurrent: np.ndarray  # (hidden, R): the part of the gates computed from the layer's own state
    recurrent_bias: np.ndarray  # (R,); zeros for an LSTM (Keras puts its one bias on the input side)
    kernel: np.ndarray | None  # (hidden below, gates): layers above the first
    bias: np.ndarray | None  # (gates,)
    candidate: np.ndarray | None = None  # GRU without reset_after: (r * h) @ candidate
    gate: str = "sigmoid"  # the recurrent activation: a key of GATES

    @property
    def state_count(self) -> int:
        return 2 if self.cell == "lstm" else 1


@dataclass(frozen=True)
class GreedyTables:
    """Constants of the fused loop, in a token order that puts the end token last.

    ``table[t]`` is token t's first-layer input gates, biases included (for an LSTM, the ``C`` of the ``Gemm`` that
    adds the recurrent product); ``dense`` and ``dense_bias`` the Dense layer, its columns in the loop's order.
    """

    table: np.ndarray  # (vocab, gates of the first layer)
    layers: tuple[LayerTables, ...]
    dense: np.ndarray  # (top hidden, vocab)
    dense_bias: np.ndarray  # (vocab,)
    perm: np.ndarray  # position in the loop's order -> original token id
    start: int  # the start token's position in the loop's order
    attention: AttentionTables | None = None  # an attention decoder's step after its stack (see fused_attention)

    @property
    def vocab_size(self) -> int:
        return int(self.perm.shape[0])

    @property
    def end(self) -> int:
        """The end token's position in the loop's order: always the last."""
        return self.vocab_size - 1


def _split_bias(layer: CellWeights) -> tuple[np.ndarray, np.ndarray]:
    """(input-side bias, recurrent-side bias) in the loop's gate order."""
    hidden = layer.hidden
    if layer.cell == "lstm":
        return ifoc(layer.bias, hidden), np.zeros(4 * hidden, np.float32)
    if layer.reset_after:
        return layer.bias[0], layer.bias[1]
    return layer.bias, np.zeros(2 * hidden, np.float32)


def layer_tables(layer: CellWeights, first: bool) -> LayerTables:
    hidden = layer.hidden
    input_bias, recurrent_bias = _split_bias(layer)
    order = (lambda m: ifoc(m, hidden)) if layer.cell == "lstm" else (lambda m: m)
    recurrent, candidate = order(layer.recurrent), None
    if layer.cell == "gru" and not layer.reset_after:
        recurrent, candidate = layer.recurrent[:, : 2 * hidden], layer.recurrent[:, 2 * hidden :]
    return LayerTables(
        cell=layer.cell,
        hidden=hidden,
        recurrent=recurrent.astype(np.float32),
        recurrent_bias=np.asarray(recurrent_bias, np.float32),
        kernel=None if first else order(layer.kernel).astype(np.float32),
        bias=None if first else np.asarray(input_bias, np.float32),
        candidate=None if candidate is None else candidate.astype(np.float32),
        gate=layer.gate,
    )


def loop_order(vocab: Vocabulary) -> tuple[np.ndarray, int]:
    """The fused loops' token order: every token id in order, the end token moved last (``perm``: loop position ->
    id), and the start token's loop position."""
    size = vocab.num_decoder_tokens
    perm = np.array([i for i in range(size) if i != vocab.end_id] + [vocab.end_id], dtype=np.int64)
    return perm, int(np.nonzero(perm == vocab.start_id)[0][0])


def greedy_tables(weights: DecoderWeights, vocab: Vocabulary) -> GreedyTables:
    size = vocab.num_decoder_tokens
    if weights.dense_kernel.shape[1] != size:
        raise ConversionError(f"the Dense outputs {weights.dense_kernel.shape[1]} tokens but the vocabulary has {size}")
    first = weights.layers[0]
    perm, start = loop_order(vocab)
    inputs = weights.embedding @ first.kernel if weights.embedding is not None else first.kernel
    input_bias, _ = _split_bias(first)
    order = (lambda m: ifoc(m, first.hidden)) if first.cell == "lstm" else (lambda m: m)
    table = order(inputs[:size]) + input_bias
    layers = tuple(layer_tables(layer, depth == 0) for depth, layer in enumerate(weights.layers))
    dense = weights.dense_kernel[:, perm].astype(np.float32)
    dense_bias = np.asarray(weights.dense_bias[perm], np.float32)
    attention = weights.attention
    return GreedyTables(
        table=table[perm].astype(np.float32),
        layers=layers,
        dense=dense,
        dense_bias=dense_bias,
        perm=perm,
        start=start,
        attention=None if attention is None else attention_tables(attention, dense, dense_bias, layers[-1].hidden),
    )
