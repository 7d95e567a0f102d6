"""Build the encoder model (``input -> [h, c]``) and decoder-step model (``[token, h, c] -> [probs, h, c]``) of a
trained seq2seq model found by :func:`graph_search.find_seq2seq`. The inference models are fresh Keras 3 models
carrying the trained weights, with explicitly named inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from s2s_onnx.runtime import config as names

from .graph_search import LstmSpec, Seq2SeqSpec, find_seq2seq


@dataclass(frozen=True)
class InferenceModels:
    encoder: keras.Model
    decoder: keras.Model
    spec: Seq2SeqSpec


def lstm_layer(spec: LstmSpec, name: str, sequences: bool) -> keras.layers.LSTM:
    """A fresh Keras 3 LSTM (returning its states) configured like ``spec``."""
    return keras.layers.LSTM(
        spec.units,
        activation=spec.activation,
        recurrent_activation=spec.recurrent_activation,
        use_bias=spec.use_bias,
        return_sequences=sequences,
        return_state=True,
        name=name,
    )


def encoder_states(spec: Seq2SeqSpec, inputs: Any, name: str) -> tuple[Any, Any, Any]:
    """The encoder on ``inputs``: ``(state_h, state_c, layer)``; a bidirectional encoder's forward and backward
    states are concatenated in the training model's order. Set the weights on ``layer`` afterwards."""
    if not spec.bidirectional:
        layer = lstm_layer(spec.encoder, name, sequences=False)
        _, state_h, state_c = layer(inputs)
        return state_h, state_c, layer
    layer = keras.layers.Bidirectional(lstm_layer(spec.encoder, f"{name}_cell", sequences=False), name=name)
    _, fw_h, fw_c, bw_h, bw_c = layer(inputs)
    pairs = ([bw_h, fw_h], [bw_c, fw_c]) if spec.backward_first else ([fw_h, bw_h], [fw_c, bw_c])
    return keras.layers.Concatenate()(pairs[0]), keras.layers.Concatenate()(pairs[1]), layer


def build_inference_models(model: Any) -> InferenceModels:
    """Encoder and decoder-step Keras 3 models carrying ``model``'s trained weights."""
    spec = find_seq2seq(model)
    latent = spec.latent_dim
    enc_in = keras.Input((None, spec.num_encoder_tokens), name=names.ENCODER_INPUT)
    state_h, state_c, enc_layer = encoder_states(spec, enc_in, "encoder_lstm")
    encoder = keras.Model(enc_in, [state_h, state_c], name="encoder")
    enc_layer.set_weights(list(spec.encoder.weights))

    dec_in = keras.Input((None, spec.num_decoder_tokens), name=names.DECODER_INPUT)
    h_in = keras.Input((latent,), name=names.STATE_H)
    c_in = keras.Input((latent,), name=names.STATE_C)
    dec_lstm = lstm_layer(spec.decoder, "decoder_lstm", sequences=True)
    seq, h_out, c_out = dec_lstm(dec_in, initial_state=[h_in, c_in])
    dense = keras.layers.Dense(
        spec.num_output_tokens,
        activation=spec.dense_activation,
        use_bias=len(spec.dense_weights) > 1,
        name="probs",
    )
    probs = dense(seq)
    decoder = keras.Model([dec_in, h_in, c_in], [probs, h_out, c_out], name="decoder_step")
    dec_lstm.set_weights(list(spec.decoder.weights))
    dense.set_weights(list(spec.dense_weights))
    return InferenceModels(encoder=encoder, decoder=decoder, spec=spec)


def random_one_hot(rng: np.random.Generator, batch: int, steps: int, width: int) -> np.ndarray:
    x = np.zeros((batch, steps, width), dtype=np.float32)
    ids = rng.integers(0, width, size=(batch, steps))
    x[np.arange(batch)[:, None], np.arange(steps)[None, :], ids] = 1.0
    return x


def call_keras(model: keras.Model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Call a Keras model directly (no ``predict()``) and return numpy outputs."""
    tensors = [keras.ops.convert_to_tensor(x) for x in inputs]
    outs = model(tensors if len(tensors) > 1 else tensors[0], training=False)
    return [keras.ops.convert_to_numpy(o) for o in outs]


def split_max_abs_diff(training_model: object, models: InferenceModels, seed: int = 0) -> float:
    """Teacher-forced training-model outputs vs step-by-step encoder + decoder-step outputs."""
    rng = np.random.default_rng(seed)
    spec = models.spec
    enc_x = random_one_hot(rng, 4, 7, spec.num_encoder_tokens)
    dec_x = random_one_hot(rng, 4, 6, spec.num_decoder_tokens)
    inputs = spec.training_inputs(tf.constant(enc_x), tf.constant(dec_x))
    full = np.asarray(training_model(inputs, training=False))  # type: ignore[operator]
    state_h, state_c = call_keras(models.encoder, [enc_x])
    worst = 0.0
    for t in range(dec_x.shape[1]):
        probs, state_h, state_c = call_keras(models.decoder, [dec_x[:, t : t + 1], state_h, state_c])
        worst = max(worst, float(np.max(np.abs(probs[:, 0] - full[:, t]))))
    return worst
