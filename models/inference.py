"""Build the encoder model (``input -> states``) and decoder-step model (``[token, *states] -> [probs, *states]``) of
a trained seq2seq model found by :func:`graph_search.find_seq2seq`, and rebuild training models from a spec. The
models are fresh Keras 3 models carrying the trained weights, with explicitly named inputs; states are listed
layer by layer (``h, c`` per LSTM layer, ``h`` per GRU layer), as :func:`runtime.architecture.state_names` names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from s2s_onnx.runtime import config as names

from .attention import attention_output
from .graph_search import find_seq2seq
from .legacy_h5 import KERAS2_HARD_SIGMOID
from .spec import EmbeddingSpec, RnnSpec, Seq2SeqSpec

RNN_LAYERS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


@dataclass(frozen=True)
class InferenceModels:
    encoder: keras.Model
    decoder: keras.Model
    spec: Seq2SeqSpec


def hard_sigmoid_keras2(x: Any) -> Any:
    """Keras 2's ``hard_sigmoid``: ``clip(0.2 x + 0.5, 0, 1)`` (Keras 3's is ``relu6(x + 3) / 6``)."""
    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


# activations whose meaning in the file differs from what Keras 3 calls by that name (see legacy_h5); known to
# Keras by that name, so that a rebuilt model's config reads back (and is found again) with the same meaning
FILE_ACTIVATIONS: dict[str, Any] = {KERAS2_HARD_SIGMOID: hard_sigmoid_keras2}
keras.saving.get_custom_objects().update(FILE_ACTIVATIONS)


def rnn_layer(spec: RnnSpec, name: str, sequences: bool) -> keras.layers.Layer:
    """A fresh Keras 3 LSTM or GRU (returning its states) configured like ``spec``, each activation with the
    meaning of the Keras version that wrote the file."""
    extra = {"reset_after": spec.reset_after} if spec.cell == "gru" else {}
    return RNN_LAYERS[spec.cell](
        spec.units,
        activation=FILE_ACTIVATIONS.get(spec.activation, spec.activation),
        recurrent_activation=FILE_ACTIVATIONS.get(spec.recurrent_activation, spec.recurrent_activation),
        use_bias=spec.use_bias,
        return_sequences=sequences,
        return_state=True,
        name=name,
        **extra,
    )


class Weighted:
    """Layers made for a spec, remembered with their trained weights to set once the model is built."""

    def __init__(self) -> None:
        self.pending: list[tuple[keras.layers.Layer, list[np.ndarray]]] = []

    def add(self, layer: keras.layers.Layer, weights: Any) -> keras.layers.Layer:
        self.pending.append((layer, list(weights)))
        return layer

    def set_all(self) -> None:
        for layer, weights in self.pending:
            layer.set_weights(weights)


def model_input(spec: Seq2SeqSpec, side: str, name: str) -> Any:
    """A side's Input: ``(batch, time)`` int64 ids for an Embedding, else ``(batch, time, tokens)`` one-hot."""
    embedding = spec.encoder_embedding if side == "encoder" else spec.decoder_embedding
    if embedding is not None:
        return keras.Input((None,), dtype="int64", name=name)
    width = spec.num_encoder_tokens if side == "encoder" else spec.num_decoder_tokens
    return keras.Input((None, width), name=name)


def embedded(embedding: EmbeddingSpec | None, inputs: Any, name: str, weighted: Weighted, masking: bool = False) -> Any:
    """A side's input as its first recurrent layer reads it: through its Embedding, or its Masking, or as it is."""
    if masking:
        return keras.layers.Masking(mask_value=0.0, name=name + "_masking")(inputs)
    if embedding is None:
        return inputs
    dim, width = embedding.weights.shape
    layer = keras.layers.Embedding(dim, width, mask_zero=embedding.mask_zero, name=name)
    return weighted.add(layer, [embedding.weights])(inputs)


def encoder_states(spec: Seq2SeqSpec, inputs: Any, names_in: list[str], weighted: Weighted) -> tuple[Any, list[Any]]:
    """The encoder stack on ``inputs``: the top layer's output sequence (an attention model's; else its last
    output) and every layer's final states in order (a bidirectional layer's forward and backward states
    concatenated in the training model's order)."""
    x = embedded(spec.encoder_embedding, inputs, names_in[0] + "_embedding", weighted, spec.encoder_masking)
    states: list[Any] = []
    for depth, (layer_spec, name) in enumerate(zip(spec.encoder, names_in[1:], strict=True)):
        sequences = depth < len(spec.encoder) - 1 or spec.attention is not None
        layer = rnn_layer(layer_spec, f"{name}_cell" if spec.bidirectional else name, sequences)
        if spec.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=name)
        outputs = weighted.add(layer, layer_spec.weights)(x)
        x, found = outputs[0], list(outputs[1:])
        if spec.bidirectional:
            half = len(found) // 2
            pairs = (
                zip(found[half:], found[:half], strict=True)
                if spec.backward_first
                else zip(found[:half], found[half:], strict=True)
            )
            found = [keras.layers.Concatenate()(list(pair)) for pair in pairs]
        states += found
    return x, states


def input_mask(inputs: Any, ids: bool) -> Any:
    """What Keras masks on a side's input, as floats (1: a real position): ids other than 0 (``mask_zero``), or
    one-hot rows that are not all zero (``Masking(0.)``)."""
    real = keras.ops.not_equal(inputs, 0) if ids else keras.ops.any(keras.ops.not_equal(inputs, 0.0), axis=-1)
    return keras.ops.cast(real, "float32")


def encoder_memory(spec: Seq2SeqSpec, inputs: Any, sequence: Any) -> list[Any]:
    """The encoder outputs besides the states that an attention decoder reads: its output sequence, and the
    mask of its input where the attention honours one."""
    if spec.attention is None:
        return []
    if not spec.attention.masked:
        return [sequence]
    return [sequence, input_mask(inputs, spec.encoder_embedding is not None)]


def memory_inputs(spec: Seq2SeqSpec) -> list[Any]:
    """The decoder step's Inputs for :func:`encoder_memory`."""
    widths = {names.ENCODER_OUTPUTS: (None, spec.encoder_output_width), names.ENCODER_MASK: (None,)}
    return [keras.Input(widths[name], name=name) for name in spec.memory]


def decoder_outputs(
    spec: Seq2SeqSpec,
    inputs: Any,
    states: list[Any],
    names_in: list[str],
    weighted: Weighted,
    memory: list[Any] | None = None,
) -> Any:
    """The decoder stack started from ``states``, the attention over ``memory`` (the encoder's outputs, and its
    mask in a step model; a training model's masks propagate by themselves) and the Dense: ``(probs, final
    states)``."""
    x = embedded(spec.decoder_embedding, inputs, names_in[0] + "_embedding", weighted, spec.decoder_masking)
    final: list[Any] = []
    for layer_spec, name in zip(spec.decoder, names_in[1:-1], strict=True):
        count = layer_spec.state_count
        layer = weighted.add(rnn_layer(layer_spec, name, sequences=True), layer_spec.weights)
        x, *ends = layer(x, initial_state=states[:count])
        states, final = states[count:], final + ends
    if spec.attention is not None and memory:
        masks = None
        if len(memory) > 1:  # a step model: the query's mask too, as training computed it
            masked_query = spec.decoder_masking or (
                spec.decoder_embedding is not None and spec.decoder_embedding.mask_zero
            )
            query_mask = input_mask(inputs, spec.decoder_embedding is not None) if masked_query else None
            masks = [
                None if query_mask is None else keras.ops.cast(query_mask, "bool"),
                keras.ops.cast(memory[1], "bool"),
            ]
        x = attention_output(spec.attention, x, memory[0], masks, weighted, "attention")
    dense = keras.layers.Dense(
        spec.num_output_tokens,
        activation=spec.dense_activation,
        use_bias=len(spec.dense_weights) > 1,
        name=names_in[-1],
    )
    return weighted.add(dense, spec.dense_weights)(x), final


def build_inference_models(model: Any, spec: Seq2SeqSpec | None = None) -> InferenceModels:
    """Encoder and decoder-step Keras 3 models carrying ``model``'s trained weights."""
    spec = spec if spec is not None else find_seq2seq(model)
    weighted = Weighted()
    layers = spec.layers
    enc_in = model_input(spec, "encoder", names.ENCODER_INPUT)
    enc_names = ["encoder", *(f"encoder_{spec.cell}_{k}" for k in range(layers))]
    sequence, states = encoder_states(spec, enc_in, enc_names, weighted)
    encoder = keras.Model(enc_in, [*encoder_memory(spec, enc_in, sequence), *states], name="encoder")
    dec_in = model_input(spec, "decoder", names.DECODER_INPUT)
    memory_ins = memory_inputs(spec)
    state_ins = [keras.Input((state.width,), name=state.name) for state in spec.state_tensors]
    dec_names = ["decoder", *(f"decoder_{spec.cell}_{k}" for k in range(layers)), "probs"]
    probs, final = decoder_outputs(spec, dec_in, state_ins, dec_names, weighted, memory_ins)
    decoder = keras.Model([dec_in, *memory_ins, *state_ins], [probs, *final], name="decoder_step")
    weighted.set_all()
    return InferenceModels(encoder=encoder, decoder=decoder, spec=spec)


def training_model(spec: Seq2SeqSpec, name: str = "seq2seq") -> keras.Model:
    """A Keras 3 training model with ``spec``'s architecture, weights, layer names and input order."""
    weighted = Weighted()
    layers = spec.layers
    enc_in = model_input(spec, "encoder", "encoder_inputs")
    dec_in = model_input(spec, "decoder", "decoder_inputs")
    enc_names = ["encoder", *spec.layer_names[:layers]]
    sequence, states = encoder_states(spec, enc_in, enc_names, weighted)
    dec_names = ["decoder", *spec.layer_names[layers : 2 * layers], spec.layer_names[-1]]
    probs, _ = decoder_outputs(spec, dec_in, states, dec_names, weighted, [sequence])
    model = keras.Model(spec.training_inputs(enc_in, dec_in), probs, name=name)
    weighted.set_all()
    return model


def random_inputs(rng: np.random.Generator, batch: int, steps: int, width: int, ids: bool) -> np.ndarray:
    """Random token ids ``(batch, steps)`` (``ids``) or their one-hot vectors."""
    chosen = rng.integers(0, width, size=(batch, steps))
    if ids:
        return chosen.astype(np.int64)
    x = np.zeros((batch, steps, width), dtype=np.float32)
    x[np.arange(batch)[:, None], np.arange(steps)[None, :], chosen] = 1.0
    return x


def random_one_hot(rng: np.random.Generator, batch: int, steps: int, width: int) -> np.ndarray:
    return random_inputs(rng, batch, steps, width, ids=False)


def call_keras(model: keras.Model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Call a Keras model in graph mode, as ``predict()`` does (see ``reference.compiled``), and return numpy
    outputs."""
    from .reference import compiled

    tensors = [keras.ops.convert_to_tensor(x) for x in inputs]
    outs = compiled(model)(tensors if len(tensors) > 1 else tensors[0])
    if len(model.outputs) == 1:
        outs = [outs]
    return [keras.ops.convert_to_numpy(o) for o in outs]


def split_memory(decoder: Any, encoder_outputs: list[Any]) -> tuple[list[Any], list[Any]]:
    """An encoder's outputs as (memory, states): a decoder step takes ``[token, *memory, *states]`` and returns
    ``[probs, *states]``, so its memory is what it takes beyond what it returns."""
    count = len(decoder.inputs) - len(decoder.outputs)
    return list(encoder_outputs[:count]), list(encoder_outputs[count:])


def split_max_abs_diff(training_model: object, models: InferenceModels, seed: int = 0) -> float:
    """Teacher-forced training-model outputs vs step-by-step encoder + decoder-step outputs."""
    rng = np.random.default_rng(seed)
    spec = models.spec
    enc_x = random_inputs(rng, 4, 7, spec.num_encoder_tokens, spec.encoder_embedding is not None)
    dec_x = random_inputs(rng, 4, 6, spec.num_decoder_tokens, spec.decoder_embedding is not None)
    inputs = spec.training_inputs(tf.constant(enc_x), tf.constant(dec_x))
    full = np.asarray(training_model(inputs, training=False))  # type: ignore[operator]
    memory, states = split_memory(models.decoder, call_keras(models.encoder, [enc_x]))
    worst = 0.0
    for t in range(dec_x.shape[1]):
        probs, *states = call_keras(models.decoder, [dec_x[:, t : t + 1], *memory, *states])
        worst = max(worst, float(np.max(np.abs(probs[:, 0] - full[:, t]))))
    return worst
