"""The model families of the Keras tier: tiny training models built the way their tutorials build them.

One builder serves Keras 3 (the tests) and tf_keras 2 (``fixtures/make_legacy_families.py``, which wrote the
committed legacy ``.h5`` files), so the three file flavours hold the same architecture. Weights are random but
seeded, with the end token's Dense bias raised so that some decodes end and others run into the length cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from s2s_onnx.runtime.vocab import Vocabulary


@dataclass(frozen=True)
class Family:
    name: str
    cell: str = "LSTM"
    layers: int = 1
    bidirectional: bool = False
    encoder_embedding: bool = False
    decoder_embedding: bool = False
    mask_zero: bool = False
    tokenization: str = "char"
    units: int = 6
    end_bias: float = 0.5  # chosen per family so that its decodes mix ended rows and capped rows

    @property
    def ids(self) -> bool:
        return self.encoder_embedding or self.decoder_embedding


FAMILIES = (
    Family("gru", cell="GRU"),
    Family("stacked-lstm", layers=2),
    Family("stacked-bigru", cell="GRU", layers=2, bidirectional=True, units=4, end_bias=3.0),
    Family("embedding-masked", encoder_embedding=True, decoder_embedding=True, mask_zero=True, end_bias=1.2),
    Family("word-gru", cell="GRU", encoder_embedding=True, tokenization="word", end_bias=3.0),
)
WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away")


def family_pairs(family: Family, count: int = 60, seed: int = 0) -> tuple[list[str], list[str]]:
    """Source and target texts (characters, or words) to build the family's vocabulary from."""
    rng = random.Random(seed)
    sources, targets = [], []
    for _ in range(count):
        if family.tokenization == "word":
            words = [rng.choice(WORDS) for _ in range(rng.randint(1, 6))]
            sources.append(" ".join(words))
            targets.append(" ".join(w.upper() for w in reversed(words)))
        else:
            word = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 8)))
            sources.append(word)
            targets.append(word[::-1].upper())
    return sources, targets


def family_vocabulary(family: Family) -> Vocabulary:
    return Vocabulary.from_pairs(*family_pairs(family), tokenization=family.tokenization, ids=family.ids)  # type: ignore[arg-type]


def _side(keras: Any, name: str, tokens: int, embedding: bool, mask_zero: bool) -> tuple[Any, Any]:
    if not embedding:
        inputs = keras.Input(shape=(None, tokens), name=f"{name}_inputs")
        return inputs, inputs
    inputs = keras.Input(shape=(None,), name=f"{name}_inputs")
    return inputs, keras.layers.Embedding(tokens, 5, mask_zero=mask_zero, name=f"{name}_embedding")(inputs)


def build_family_model(keras: Any, family: Family, vocab: Vocabulary, seed: int = 0) -> Any:
    """The family's training model in ``keras`` (Keras 3 or tf_keras), with seeded random weights."""
    rnn = getattr(keras.layers, family.cell)
    enc_in, x = _side(keras, "encoder", vocab.num_encoder_tokens, family.encoder_embedding, family.mask_zero)
    states = []
    for depth in range(family.layers):
        layer = rnn(family.units, return_sequences=depth < family.layers - 1, return_state=True)
        if family.bidirectional:
            layer = keras.layers.Bidirectional(layer)
        x, *found = layer(x)
        if family.bidirectional:
            half = len(found) // 2
            found = [keras.layers.Concatenate()([f, b]) for f, b in zip(found[:half], found[half:], strict=True)]
        states.append(found)
    dec_in, x = _side(keras, "decoder", vocab.num_decoder_tokens, family.decoder_embedding, family.mask_zero)
    width = family.units * (2 if family.bidirectional else 1)
    for depth in range(family.layers):
        x, *_ = rnn(width, return_sequences=True, return_state=True)(x, initial_state=states[depth])
    probs = keras.layers.Dense(vocab.num_decoder_tokens, activation="softmax")(x)
    model = keras.Model([enc_in, dec_in], probs)
    randomize(model, vocab.end_id, family.end_bias, seed)
    return model


def randomize(model: Any, end_id: int, end_bias: float, seed: int) -> None:
    """Seeded weights large enough for varied decodes; the end token's Dense bias raised by ``end_bias``."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = [rng.normal(0.0, 0.7, w.shape).astype(np.float32) for w in layer.get_weights()]
        if weights and type(layer).__name__ == "Dense":
            weights[1][end_id] += end_bias
        layer.set_weights(weights)
