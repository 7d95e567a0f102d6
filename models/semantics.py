"""The file's own semantics, checked: every recurrent layer of the rebuilt Keras 3 model against a numpy cell written
from the file's config, with each activation as the Keras version that wrote the file computed it.

A Keras 2 file rebuilt in Keras 3 takes Keras 3's meaning of its config unless told otherwise (``hard_sigmoid``
changed from ``clip(0.2 x + 0.5, 0, 1)`` to ``relu6(x + 3) / 6``); ONNX-vs-Keras parity cannot see that, since
both sides then share the mistake. This check can: it is part of every conversion's parity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np

from s2s_onnx.runtime.errors import ModelFormatError

from .inference import InferenceModels
from .legacy_h5 import KERAS2_HARD_SIGMOID
from .spec import RnnSpec, Seq2SeqSpec

Activation = Callable[[np.ndarray], np.ndarray]
ACTIVATIONS: dict[str, Activation] = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),  # Keras 3: relu6(x + 3) / 6
    KERAS2_HARD_SIGMOID: lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),  # Keras 2
    "relu": lambda x: np.maximum(x, 0.0),
    "linear": lambda x: x,
}


def _activation(spec: RnnSpec, key: str, layer: str) -> Activation:
    name = getattr(spec, key)
    if name not in ACTIVATIONS:
        raise ModelFormatError(
            f"layer {layer!r} ({spec.cell.upper()}) has {key}={name!r}, which s2s-onnx cannot check against the "
            f"file's semantics; supported: {', '.join(sorted(ACTIVATIONS))}"
        )
    return ACTIVATIONS[name]


def numpy_rnn(spec: RnnSpec, x: np.ndarray, states: list[np.ndarray], layer: str = "") -> np.ndarray:
    """The layer's output sequence ``(batch, time, units)`` for ``x`` from ``states``, as Keras defines the cell
    (gates ``i f c o`` for an LSTM, ``z r h`` for a GRU), in float64."""
    act, rec = _activation(spec, "activation", layer), _activation(spec, "recurrent_activation", layer)
    kernel, recurrent = (np.asarray(w, np.float64) for w in spec.weights[:2])
    bias = np.asarray(spec.weights[2], np.float64) if spec.use_bias else np.zeros(kernel.shape[1])
    u, h, outputs = spec.units, np.asarray(states[0], np.float64), []
    c = np.asarray(states[1], np.float64) if spec.cell == "lstm" else None
    for step in range(x.shape[1]):
        xt = x[:, step].astype(np.float64)
        if spec.cell == "lstm":
            z = xt @ kernel + h @ recurrent + bias
            c = rec(z[:, u : 2 * u]) * c + rec(z[:, :u]) * act(z[:, 2 * u : 3 * u])
            h = rec(z[:, 3 * u :]) * act(c)
        else:
            h = _gru_step(xt, h, kernel, recurrent, bias, spec.reset_after, u, act, rec)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def _gru_step(
    x: np.ndarray,
    h: np.ndarray,
    kernel: np.ndarray,
    recurrent: np.ndarray,
    bias: np.ndarray,
    reset_after: bool,
    u: int,
    act: Activation,
    rec: Activation,
) -> np.ndarray:
    bias_x, bias_h = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros_like(bias))
    xz = x @ kernel + bias_x
    hz = h @ recurrent + bias_h if reset_after else h @ recurrent[:, : 2 * u]
    z, r = rec(xz[:, :u] + hz[:, :u]), rec(xz[:, u : 2 * u] + hz[:, u : 2 * u])
    candidate = r * hz[:, 2 * u :] if reset_after else (r * h) @ recurrent[:, 2 * u :]
    return z * h + (1 - z) * act(xz[:, 2 * u :] + candidate)


def directions(spec: RnnSpec) -> list[RnnSpec]:
    """A Bidirectional layer's spec holds both directions' weights: one spec each."""
    if len(spec.weights) <= 3:
        return [spec]
    half = len(spec.weights) // 2
    return [
        dataclasses.replace(spec, weights=spec.weights[:half]),
        dataclasses.replace(spec, weights=spec.weights[half:]),
    ]


def recurrent_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """A model's LSTM, GRU and Bidirectional layers, in order."""
    kinds = (keras.layers.LSTM, keras.layers.GRU, keras.layers.Bidirectional)
    return [layer for layer in model.layers if isinstance(layer, kinds)]


def semantics_max_abs_diff(source: Seq2SeqSpec, models: InferenceModels, seed: int = 0) -> float:
    """Largest difference, over every recurrent layer (and direction) of the inference models being converted,
    between that Keras layer and the numpy cell of ``source``, the spec found in the file with its own semantics,
    on random inputs and states (final states compared)."""
    rng = np.random.default_rng(seed)
    layers = recurrent_layers(models.encoder) + recurrent_layers(models.decoder)
    specs = (*source.encoder, *source.decoder)
    if len(layers) != len(specs):
        raise ModelFormatError(f"the inference models have {len(layers)} recurrent layers, the file {len(specs)}")
    worst = 0.0
    for layer, name, layer_spec in zip(layers, source.layer_names, specs, strict=False):
        parts = (
            [layer.forward_layer, layer.backward_layer] if isinstance(layer, keras.layers.Bidirectional) else [layer]
        )
        for part, one in zip(parts, directions(layer_spec), strict=True):
            x = rng.normal(0, 1.5, (2, 4, one.input_width)).astype(np.float32)
            states = [rng.normal(0, 0.5, (2, one.units)).astype(np.float32) for _ in range(one.state_count)]
            expected = numpy_rnn(one, x[:, ::-1] if part.go_backwards else x, states, name)[:, -1]
            got = keras.ops.convert_to_numpy(part(x, initial_state=states)[1])
            worst = max(worst, float(np.max(np.abs(got - expected))))
    return worst
