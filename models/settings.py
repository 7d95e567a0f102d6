"""``TrainSettings``: how ``s2s-onnx train`` trains, each default in one place (no Keras needed to read them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from s2s_onnx.runtime.vocab import Tokenization

CELLS = ("lstm", "gru")
ATTENTIONS = ("dot", "additive", "luong")
SAVE_FORMATS = ("keras", "h5")


@dataclass(frozen=True)
class TrainSettings:
    """Defaults are the Keras example's: latent 256, rmsprop, batch 64, validation split 0.2."""

    epochs: int = 100
    latent_dim: int = 256
    batch_size: int = 64
    validation_split: float = 0.2
    optimizer: str = "rmsprop"
    learning_rate: float | None = None
    clipnorm: float | None = None
    seed: int = 0
    jit_compile: bool = False  # XLA measured only ~7% faster per step on 2 cores, and costs seconds to compile
    forget_bias: float | None = None  # initial forget-gate bias of both LSTMs; None keeps Keras' 1.0
    verbose: int | None = None  # Keras fit verbosity; None: progress bar on a terminal, a line per epoch otherwise
    bidirectional: bool = False  # a Bidirectional encoder; the decoder is then 2 * latent_dim wide
    cell: Literal["lstm", "gru"] = "lstm"
    layers: int = 1  # recurrent layers on each side, states handed over layer by layer
    embedding: int = 0  # Embedding width on both inputs (token ids, mask_zero); 0: one-hot inputs, the example's
    tokenization: Tokenization = "char"
    attention: Literal["dot", "additive", "luong"] | None = None  # over the encoder's outputs; None: the example's
