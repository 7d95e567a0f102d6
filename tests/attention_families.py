"""The attention families of the Keras tier: tiny training models with attention over the encoder's outputs, built
the way their tutorials build them. One builder serves Keras 3 (the tests) and tf_keras 2
(``fixtures/make_legacy_attention.py``, which wrote the committed legacy ``.h5`` files). Weights are random but
seeded, the end token's Dense bias raised so that some decodes end and others reach the cap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from families import Family, family_pairs, randomize

from s2s_onnx.runtime.vocab import Vocabulary


@dataclass(frozen=True)
class AttentionFamily:
    name: str
    form: str  # dot, concat, additive, luong
    cell: str = "LSTM"
    embedding: bool = False  # Embedding(mask_zero=True) on both sides, else one-hot
    masking: bool = False  # Masking(0.) on a one-hot encoder input
    use_scale: bool = False
    combine: bool = False  # Dense(tanh) between the Concatenate and the softmax
    context_first: bool = True
    bidirectional: bool = False  # a Bidirectional encoder, its outputs and states twice as wide
    units: int = 6
    end_bias: float = 0.5


ATTENTION_FAMILIES = (
    AttentionFamily("dot-lstm-onehot", "dot", end_bias=1.0),
    AttentionFamily("dot-gru-embedding", "dot", cell="GRU", embedding=True, use_scale=True, end_bias=1.5),
    AttentionFamily("concat-lstm-embedding", "concat", embedding=True, use_scale=True, context_first=False),
    AttentionFamily("additive-gru-onehot", "additive", cell="GRU", combine=True, use_scale=True, end_bias=-0.5),
    AttentionFamily("additive-lstm-masking", "additive", masking=True, end_bias=1.0),
    AttentionFamily("luong-lstm-combine", "luong", combine=True, end_bias=2.0),
    AttentionFamily("luong-gru-embedding", "luong", cell="GRU", embedding=True, context_first=False, end_bias=2.5),
    AttentionFamily("dot-bilstm-onehot", "dot", bidirectional=True, units=4, end_bias=-1.0),
)


def attention_vocabulary(family: AttentionFamily) -> Vocabulary:
    return Vocabulary.from_pairs(*family_pairs(plain(family)), ids=family.embedding)  # type: ignore[arg-type]


def plain(family: AttentionFamily) -> Family:
    """The plain family whose texts (characters) this one reads."""
    return Family(family.name)


def build_attention_model(keras: Any, family: AttentionFamily, vocab: Vocabulary, seed: int = 0) -> Any:
    """The training model as its tutorial builds it, with seeded random weights."""
    layers = keras.layers
    rnn = getattr(layers, family.cell)

    def side(name: str, tokens: int) -> tuple[Any, Any]:
        if family.embedding:
            inputs = keras.Input((None,), name=f"{name}_inputs")
            return inputs, layers.Embedding(tokens, 5, mask_zero=True)(inputs)
        inputs = keras.Input((None, tokens), name=f"{name}_inputs")
        return inputs, (layers.Masking(0.0)(inputs) if family.masking and name == "encoder" else inputs)

    enc_in, x = side("encoder", vocab.num_encoder_tokens)
    encoder = rnn(family.units, return_sequences=True, return_state=True)
    if family.bidirectional:
        enc_out, *found = layers.Bidirectional(encoder)(x)
        half = len(found) // 2
        states = [layers.Concatenate()([f, b]) for f, b in zip(found[:half], found[half:], strict=True)]
    else:
        enc_out, *states = encoder(x)
    dec_in, y = side("decoder", vocab.num_decoder_tokens)
    width = family.units * (2 if family.bidirectional else 1)
    dec_out, *_ = rnn(width, return_sequences=True, return_state=True)(y, initial_state=states)
    if family.form == "luong":
        scores = layers.Dot(axes=[2, 2])([dec_out, enc_out])
        context = layers.Dot(axes=[2, 1])([layers.Activation("softmax")(scores), enc_out])
    elif family.form == "additive":
        context = layers.AdditiveAttention(use_scale=family.use_scale)([dec_out, enc_out])
    else:
        context = layers.Attention(use_scale=family.use_scale, score_mode=family.form)([dec_out, enc_out])
    joined = layers.Concatenate()([context, dec_out] if family.context_first else [dec_out, context])
    if family.combine:
        joined = layers.Dense(width, activation="tanh")(joined)
    probs = layers.Dense(vocab.num_decoder_tokens, activation="softmax")(joined)
    model = keras.Model([enc_in, dec_in], probs)
    randomize(model, vocab.end_id, family.end_bias, seed)
    if family.embedding:  # as training leaves it (the padding target is masked out of the loss): never chosen
        dense = model.layers[-1]
        kernel, bias = dense.get_weights()
        bias[0] -= 20.0
        dense.set_weights([kernel, bias])
    return model
