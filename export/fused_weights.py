"""Weights of the converted decoder graph -> the constant tables of the fused greedy loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from s2s_onnx.runtime.errors import ConversionError
from s2s_onnx.runtime.vocab import Vocabulary


def initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def lstm_weights(model: onnx.ModelProto, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, R, B) of the single ONNX LSTM node, checked to be a plain forward sigmoid/tanh LSTM."""
    nodes = [n for n in model.graph.node if n.op_type == "LSTM"]
    if len(nodes) != 1:
        raise ConversionError(f"{what}: expected one LSTM node to build the fused graph, found {len(nodes)}")
    node = nodes[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    acts = [_text(a).lower() for a in attrs.get("activations", [])]
    if acts and acts != ["sigmoid", "tanh", "tanh"]:
        raise ConversionError(f"{what}: fused decoding supports sigmoid/tanh LSTMs only, found {acts}")
    if _text(attrs.get("direction", b"forward")) != "forward" or attrs.get("clip"):
        raise ConversionError(f"{what}: fused decoding supports forward LSTMs without clip only")
    inits = initializers(model)
    try:
        weight, recurrent = inits[node.input[1]], inits[node.input[2]]
    except KeyError as exc:
        raise ConversionError(f"{what}: LSTM weights are not constant initializers") from exc
    hidden = recurrent.shape[-1]
    bias = inits.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    if bias is None:
        bias = np.zeros((1, 8 * hidden), dtype=np.float32)
    return weight[0], recurrent[0], bias[0]


def dense_weights(model: onnx.ModelProto, hidden: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The Dense kernel ``(hidden, vocab)`` and bias among the decoder's initializers, found by shape."""
    inits = initializers(model)
    kernels = [v for v in inits.values() if v.shape == (hidden, vocab_size)]
    biases = [v for v in inits.values() if v.shape == (vocab_size,) and v.dtype == np.float32]
    if len(kernels) != 1 or len(biases) > 1:
        raise ConversionError(
            f"decoder: could not identify the Dense kernel ({hidden}x{vocab_size}) and bias among the initializers"
        )
    bias = biases[0] if biases else np.zeros(vocab_size, dtype=np.float32)
    return kernels[0], bias


def ifog(blocks: np.ndarray, hidden: int) -> np.ndarray:
    """Reorder ONNX gate blocks ``i o f c`` (along axis 0) to ``i f o c``: one Sigmoid covers ``i f o``."""
    i, o, f, c = (blocks[k * hidden : (k + 1) * hidden] for k in range(4))
    return np.concatenate([i, f, o, c], axis=0)


@dataclass(frozen=True)
class GreedyTables:
    """Constants of the fused loop, in a token order that puts the end token last.

    ``table[t]`` is token t's input-weight row plus both LSTM biases (gates ``i f o c``); ``joint`` is
    ``[W_dense | R^T]`` so one product gives a step's logits and the next step's recurrent gates.
    """

    table: np.ndarray  # (vocab, 4 * hidden)
    joint: np.ndarray  # (hidden, vocab + 4 * hidden)
    joint_bias: np.ndarray  # (vocab + 4 * hidden,)
    perm: np.ndarray  # position in the loop's order -> original token id
    start: int  # the start token's position in the loop's order
    hidden: int

    @property
    def vocab_size(self) -> int:
        return int(self.perm.shape[0])

    @property
    def end(self) -> int:
        """The end token's position in the loop's order: always the last."""
        return self.vocab_size - 1


def greedy_tables(decoder: onnx.ModelProto, vocab: Vocabulary) -> GreedyTables:
    weight, recurrent, bias = lstm_weights(decoder, "decoder")
    hidden = recurrent.shape[-1]
    size = vocab.num_decoder_tokens
    kernel, dense_bias = dense_weights(decoder, hidden, size)
    perm = np.array([i for i in range(size) if i != vocab.end_id] + [vocab.end_id], dtype=np.int64)
    table = ifog(weight, hidden).T + ifog(bias[: 4 * hidden], hidden) + ifog(bias[4 * hidden :], hidden)
    joint = np.concatenate([kernel[:, perm], ifog(recurrent, hidden).T], axis=1)
    joint_bias = np.concatenate([dense_bias[perm], np.zeros(4 * hidden, np.float32)])
    return GreedyTables(
        table=table[perm].astype(np.float32),
        joint=joint.astype(np.float32),
        joint_bias=joint_bias.astype(np.float32),
        perm=perm,
        start=int(np.nonzero(perm == vocab.start_id)[0][0]),
        hidden=int(hidden),
    )
