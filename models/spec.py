"""What a trained encoder-decoder is, as found in its graph: recurrent layers, embeddings and the Dense, with weights.

A :class:`Seq2SeqSpec` is everything the inference models, the rebuilt training model and the fused graph need;
it is made by :mod:`graph_search` (training models) and :mod:`inference_pair` (saved inference models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from s2s_onnx.runtime.architecture import ENCODER_MASK, ENCODER_OUTPUTS, Architecture, StateTensor, state_names

if TYPE_CHECKING:
    from .attention import AttentionSpec

CELL_OF_KIND = {"LSTM": "lstm", "GRU": "gru"}
STATE_COUNT = {"lstm": 2, "gru": 1}


def activation_name(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # Keras 3 may serialise functions as objects
        return str(value.get("config", value.get("class_name", "")))
    return str(value)


@dataclass(frozen=True)
class RnnSpec:
    """One recurrent layer (one direction of a ``Bidirectional``): its settings and Keras-layout weights."""

    cell: str  # "lstm" or "gru"
    units: int
    input_width: int
    activation: str
    recurrent_activation: str
    use_bias: bool
    weights: tuple[np.ndarray, ...]  # kernel, recurrent kernel, bias (forward then backward if bidirectional)
    reset_after: bool = True  # GRU only

    @classmethod
    def of_layer(cls, layer: Any, kind: str, cfg: dict[str, Any]) -> RnnSpec:
        weights = tuple(np.asarray(w) for w in layer.get_weights())
        return cls(
            cell=CELL_OF_KIND[kind],
            units=int(cfg["units"]),
            input_width=int(weights[0].shape[0]),
            activation=activation_name(cfg.get("activation", "tanh")),
            recurrent_activation=activation_name(cfg.get("recurrent_activation", "sigmoid")),
            use_bias=bool(cfg.get("use_bias", True)),
            weights=weights,
            reset_after=bool(cfg.get("reset_after", True)),
        )

    @property
    def state_count(self) -> int:
        return STATE_COUNT[self.cell]


@dataclass(frozen=True)
class EmbeddingSpec:
    """An ``Embedding`` on one side's input: token ids instead of one-hot vectors."""

    weights: np.ndarray  # (input_dim, output_dim)
    mask_zero: bool

    @property
    def input_dim(self) -> int:
        return int(self.weights.shape[0])


@dataclass(frozen=True)
class Seq2SeqSpec:
    """Encoder and decoder recurrent stacks (equal depth, the same cell), the Dense, and the embeddings."""

    encoder: tuple[RnnSpec, ...]
    decoder: tuple[RnnSpec, ...]
    dense_weights: tuple[np.ndarray, ...]
    dense_activation: str
    layer_names: tuple[str, ...]  # encoder layers, decoder layers, Dense in the source model
    encoder_embedding: EmbeddingSpec | None = None
    decoder_embedding: EmbeddingSpec | None = None
    encoder_input_position: int = 0  # which of the training model's inputs feeds the encoder
    bidirectional: bool = False
    backward_first: bool = False  # a bidirectional encoder's states are concatenated [backward, forward]
    encoder_masking: bool = False  # a Masking(mask_value=0.) on the encoder's one-hot input: zero rows skipped
    decoder_masking: bool = False  # the same on the decoder's (a no-op at inference: a token is never all zero)
    attention: AttentionSpec | None = None  # the decoder attends over the top encoder layer's outputs

    @property
    def memory(self) -> tuple[str, ...]:
        """What the encoder hands every decoder step besides the states: its outputs, and its mask if the
        attention honours one."""
        if self.attention is None:
            return ()
        return (ENCODER_OUTPUTS, ENCODER_MASK) if self.attention.masked else (ENCODER_OUTPUTS,)

    @property
    def encoder_output_width(self) -> int:
        """The top encoder layer's output width (both directions of a Bidirectional one)."""
        return self.encoder[-1].units * (2 if self.bidirectional else 1)

    def training_inputs(self, encoder_input: object, decoder_input: object) -> list[object]:
        """Arrange inputs in the training model's own order."""
        pair = [encoder_input, decoder_input]
        return pair if self.encoder_input_position == 0 else pair[::-1]

    @property
    def cell(self) -> str:
        return self.decoder[0].cell

    @property
    def layers(self) -> int:
        return len(self.decoder)

    @property
    def latent_dim(self) -> int:
        """The width of the first decoder layer's states."""
        return self.decoder[0].units

    @property
    def state_widths(self) -> list[int]:
        """The width of every state tensor the decoder step carries, layer by layer."""
        return [layer.units for layer in self.decoder for _ in range(layer.state_count)]

    @property
    def num_encoder_tokens(self) -> int:
        embedding = self.encoder_embedding
        return embedding.input_dim if embedding is not None else self.encoder[0].input_width

    @property
    def num_decoder_tokens(self) -> int:
        embedding = self.decoder_embedding
        return embedding.input_dim if embedding is not None else self.decoder[0].input_width

    @property
    def num_output_tokens(self) -> int:
        return int(self.dense_weights[0].shape[1])

    @property
    def state_tensors(self) -> tuple[StateTensor, ...]:
        """The decoder step's state tensors, named as the bundle names them, layer by layer."""
        names = state_names(self.cell, self.layers)
        return tuple(StateTensor(n, w) for n, w in zip(names, self.state_widths, strict=True))

    def architecture(self, tokenization: str) -> Architecture:
        """What ``config.json`` says about this model."""
        return Architecture(
            cell=self.cell,
            layers=self.layers,
            direction="bidirectional" if self.bidirectional else "forward",
            input="ids" if self.encoder_embedding is not None else "one_hot",
            target_input="ids" if self.decoder_embedding is not None else "one_hot",
            tokenization=tokenization,
            states=self.state_tensors,
            attention=self.attention.form if self.attention is not None else None,
            memory=self.memory,
        )

    def describe(self) -> str:
        """One line for logs and errors, e.g. ``2-layer bidirectional GRU, Embedding inputs``."""
        inputs = [
            side
            for side, emb in (("encoder", self.encoder_embedding), ("decoder", self.decoder_embedding))
            if emb is not None
        ]
        direction = " bidirectional" if self.bidirectional else ""
        embedding = f", Embedding on the {' and '.join(inputs)} input" if inputs else ", one-hot inputs"
        attention = f", {self.attention.describe()}" if self.attention is not None else ""
        return f"{self.layers}-layer{direction} {self.cell.upper()}{embedding}{attention}"
