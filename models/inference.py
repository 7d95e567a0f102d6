"""Find the encoder LSTM, decoder LSTM and Dense of a trained seq2seq model by its graph, and build the
encoder model (``input -> [h, c]``) and decoder-step model (``[token, h, c] -> [probs, h, c]``).

Works on Keras 3 models and on legacy Keras 2 configs alike (see ``legacy_h5``): the graph is read from the
functional config both write, never from layer names or order. The inference models are fresh Keras 3
models carrying the trained weights, with explicitly named inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.errors import NotEncoderDecoderError

Ref = tuple[str, int, int]  # (layer name, node index, tensor index)


@dataclass(frozen=True)
class LstmSpec:
    units: int
    input_width: int
    activation: str
    recurrent_activation: str
    use_bias: bool
    weights: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Seq2SeqSpec:
    """What the inference models need: both LSTMs and the Dense, with weights."""

    encoder: LstmSpec
    decoder: LstmSpec
    dense_weights: tuple[np.ndarray, ...]
    dense_activation: str
    layer_names: tuple[str, str, str]  # encoder LSTM, decoder LSTM, Dense in the source model
    encoder_input_position: int = 0  # which of the training model's inputs feeds the encoder

    def training_inputs(self, encoder_input: object, decoder_input: object) -> list[object]:
        """Arrange inputs in the training model's own order."""
        pair = [encoder_input, decoder_input]
        return pair if self.encoder_input_position == 0 else pair[::-1]

    @property
    def latent_dim(self) -> int:
        return self.encoder.units

    @property
    def num_encoder_tokens(self) -> int:
        return self.encoder.input_width

    @property
    def num_decoder_tokens(self) -> int:
        return self.decoder.input_width

    @property
    def num_output_tokens(self) -> int:
        return int(self.dense_weights[0].shape[1])


@dataclass(frozen=True)
class InferenceModels:
    encoder: keras.Model
    decoder: keras.Model
    spec: Seq2SeqSpec


def _refs(node: Any) -> Iterator[Ref]:
    """Every tensor reference in one inbound node, in Keras 3 or Keras 2 config format."""
    if isinstance(node, dict):
        history = node.get("keras_history") if "keras_history" in node else None
        if history is None and isinstance(node.get("config"), dict):
            history = node["config"].get("keras_history")
        if history is not None:
            yield (str(history[0]), int(history[1]), int(history[2]))
            return
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, (list, tuple)):
        if len(node) >= 3 and isinstance(node[0], str) and isinstance(node[1], int) and isinstance(node[2], int):
            yield (node[0], node[1], node[2])
            if len(node) > 3:
                yield from _refs(node[3])
            return
        for item in node:
            yield from _refs(item)


def _class_name(layer_config: dict[str, Any]) -> str:
    return str(layer_config.get("class_name", "")).rsplit(">", 1)[-1].rsplit(".", 1)[-1]


def _activation_name(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # Keras 3 may serialise functions as objects
        return str(value.get("config", value.get("class_name", "")))
    return str(value)


def find_seq2seq(model: Any) -> Seq2SeqSpec:
    """Locate the encoder-decoder in a trained training model (Keras 3, or a Keras 2 file's config)."""
    try:
        layer_configs = model.get_config()["layers"]
    except (AttributeError, KeyError, TypeError, NotImplementedError) as exc:
        raise NotEncoderDecoderError(
            f"model is not a functional Keras model ({type(model).__name__}); expected the seq2seq training "
            "model with two inputs (encoder, decoder)"
        ) from exc
    by_name = {cfg.get("name") or cfg["config"]["name"]: cfg for cfg in layer_configs}
    inbound = {name: [r for r in _refs(cfg.get("inbound_nodes", []))] for name, cfg in by_name.items()}
    kinds = {name: _class_name(cfg) for name, cfg in by_name.items()}
    lstms = [n for n, k in kinds.items() if k == "LSTM"]
    found = ", ".join(f"{n} ({k})" for n, k in kinds.items() if k not in ("InputLayer",))
    if len(lstms) != 2:
        raise NotEncoderDecoderError(
            f"expected an LSTM encoder-decoder (2 LSTM layers), found {len(lstms)} LSTM layers; layers: {found}"
        )
    decoder_name = encoder_name = None
    for name in lstms:
        other = next(n for n in lstms if n != name)
        state_refs = {r[2] for r in inbound[name] if r[0] == other}
        if {1, 2} <= state_refs:
            decoder_name, encoder_name = name, other
    if decoder_name is None or encoder_name is None:
        raise NotEncoderDecoderError(
            "found two LSTM layers but neither is initialised with the other's states (state_h, state_c); "
            f"layers: {found}"
        )
    enc_cfg, dec_cfg = by_name[encoder_name]["config"], by_name[decoder_name]["config"]
    if enc_cfg.get("return_sequences") or not enc_cfg.get("return_state"):
        raise NotEncoderDecoderError(
            f"encoder LSTM {encoder_name!r} must have return_state=True and return_sequences=False"
        )
    if not dec_cfg.get("return_sequences"):
        raise NotEncoderDecoderError(f"decoder LSTM {decoder_name!r} must have return_sequences=True")
    denses = [n for n in by_name if any(r[0] == decoder_name and r[2] == 0 for r in inbound[n])]
    if len(denses) != 1 or kinds[denses[0]] != "Dense":
        what = ", ".join(f"{n} ({kinds[n]})" for n in denses) or "nothing"
        raise NotEncoderDecoderError(
            f"expected a Dense layer on the decoder LSTM's output sequence, found {what}; layers: {found}"
        )
    dense_name = denses[0]
    for name, cfg in ((encoder_name, enc_cfg), (decoder_name, dec_cfg)):
        for flag in ("go_backwards", "stateful", "time_major"):
            if cfg.get(flag):
                raise NotEncoderDecoderError(f"LSTM {name!r} uses {flag}=True, which is not supported")
        sources = [r[0] for r in inbound[name] if r[0] not in lstms]
        for source in sources:
            if kinds[source] != "InputLayer":
                raise NotEncoderDecoderError(
                    f"LSTM {name!r} reads from {source!r} ({kinds[source]}); only a plain Input is supported "
                    "before each LSTM"
                )
    dense_layer = model.get_layer(dense_name)
    config = model.get_config()
    input_order = [ref[0] for ref in _refs(config.get("input_layers", []))]
    encoder_source = next((r[0] for r in inbound[encoder_name] if kinds.get(r[0]) == "InputLayer"), None)
    return Seq2SeqSpec(
        encoder=_lstm_spec(model.get_layer(encoder_name), enc_cfg),
        decoder=_lstm_spec(model.get_layer(decoder_name), dec_cfg),
        dense_weights=tuple(np.asarray(w) for w in dense_layer.get_weights()),
        dense_activation=_activation_name(by_name[dense_name]["config"].get("activation", "linear")),
        layer_names=(encoder_name, decoder_name, dense_name),
        encoder_input_position=input_order.index(encoder_source) if encoder_source in input_order else 0,
    )


def _lstm_spec(layer: Any, cfg: dict[str, Any]) -> LstmSpec:
    weights = tuple(np.asarray(w) for w in layer.get_weights())
    return LstmSpec(
        units=int(cfg["units"]),
        input_width=int(weights[0].shape[0]),
        activation=_activation_name(cfg.get("activation", "tanh")),
        recurrent_activation=_activation_name(cfg.get("recurrent_activation", "sigmoid")),
        use_bias=bool(cfg.get("use_bias", True)),
        weights=weights,
    )


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


def build_inference_models(model: Any) -> InferenceModels:
    """Encoder and decoder-step Keras 3 models carrying ``model``'s trained weights."""
    spec = find_seq2seq(model)
    if spec.encoder.units != spec.decoder.units:
        raise NotEncoderDecoderError(
            f"encoder has {spec.encoder.units} units but decoder has {spec.decoder.units}; they must match"
        )
    latent = spec.latent_dim
    enc_in = keras.Input((None, spec.num_encoder_tokens), name=names.ENCODER_INPUT)
    enc_lstm = lstm_layer(spec.encoder, "encoder_lstm", sequences=False)
    _, state_h, state_c = enc_lstm(enc_in)
    encoder = keras.Model(enc_in, [state_h, state_c], name="encoder")
    enc_lstm.set_weights(list(spec.encoder.weights))

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
