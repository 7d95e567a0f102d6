"""Legacy Keras 2 ``.h5`` training models, read without ``tf_keras``.

Keras 3 cannot deserialise a Keras 2 seq2seq ``.h5`` (it fails on the LSTM's ``time_major`` argument and then
on the old ``[x, h0, c0]`` call format), and ``tf_keras`` would pull in a second TensorFlow distribution. The
file holds everything needed without either: the functional config (JSON) and each layer's weights. The
encoder-decoder is found in that config by structure, exactly as for Keras 3 models, and rebuilt as a Keras 3
training model of the same architecture with the same weights (``inference.training_model``; the LSTM, GRU,
Embedding and Dense maths are the same in both).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from s2s_onnx.runtime.errors import ModelFormatError


class _Layer:
    def __init__(self, weights: list[np.ndarray]) -> None:
        self._weights = weights

    def get_weights(self) -> list[np.ndarray]:
        return list(self._weights)


class LegacyGraph:
    """The functional config and weights of a Keras 2 ``.h5``, with the two methods ``find_seq2seq`` uses."""

    def __init__(self, config: dict[str, Any], weights: dict[str, list[np.ndarray]], keras_version: str = "2") -> None:
        self._config, self._weights = config, dict(weights)
        for layer in config.get("layers", []):
            if isinstance(layer, dict) and isinstance(layer.get("config"), dict):
                name = layer["config"].get("name", layer.get("name"))
                self._weights[name] = as_plain_rnn(layer, self._weights.get(name, []))
                if keras_version.startswith("2"):
                    with_keras2_semantics(layer)

    def get_config(self) -> dict[str, Any]:
        return self._config

    def get_layer(self, name: str) -> _Layer:
        return _Layer(self._weights.get(name, []))


def read_legacy_h5(path: Path) -> LegacyGraph:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs["model_config"]
            config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            version = handle.attrs.get("keras_version", b"2")
            version = version.decode() if isinstance(version, bytes) else str(version)
            group = handle["model_weights"]
            weights = {}
            for layer in group.attrs["layer_names"]:
                name = layer.decode() if isinstance(layer, bytes) else str(layer)
                names = [w.decode() if isinstance(w, bytes) else str(w) for w in group[name].attrs["weight_names"]]
                weights[name] = [np.asarray(group[name][w]) for w in names]
    except (KeyError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path}: not a readable Keras 2 model file ({exc}); save it with model.save()") from exc
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise ModelFormatError(f"{path}: its model_config is not a functional Keras model")
    return LegacyGraph(config["config"], weights, version)


CUDNN = {"CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}


def as_plain_rnn(layer: dict[str, Any], weights: list[np.ndarray]) -> list[np.ndarray]:
    """A ``CuDNNLSTM``/``CuDNNGRU`` (Keras 2's GPU layers, also inside a ``Bidirectional``) rewritten in place as
    the LSTM/GRU it computes, and its weights in that layer's layout: an LSTM sums cuDNN's separate input and
    recurrent biases, a GRU is a ``reset_after`` GRU whose two bias rows they are. Other layers pass unchanged."""
    target = layer
    if layer.get("class_name") == "Bidirectional" and isinstance(layer["config"].get("layer"), dict):
        target = layer["config"]["layer"]
    cell = CUDNN.get(str(target.get("class_name")))
    if cell is None:
        return weights
    target["class_name"] = cell
    target["config"].update(activation="tanh", recurrent_activation="sigmoid", use_bias=True)
    if cell == "GRU":
        target["config"]["reset_after"] = True
    if len(weights) % 3:
        raise ModelFormatError(f"layer {layer['config'].get('name')!r} ({target['class_name']}): unexpected weights")
    plain = []
    for start in range(0, len(weights), 3):
        kernel, recurrent, bias = weights[start : start + 3]
        half = bias.size // 2
        plain += [kernel, recurrent, bias[:half] + bias[half:] if cell == "LSTM" else bias.reshape(2, -1)]
    return plain


KERAS2_HARD_SIGMOID = "hard_sigmoid_keras2"  # clip(0.2 x + 0.5, 0, 1); Keras 3's hard_sigmoid is relu6(x + 3) / 6


def with_keras2_semantics(layer: dict[str, Any]) -> None:
    """Give a Keras 2 recurrent layer's config the meaning Keras 2 gave it, where Keras 3 reads it differently:
    ``hard_sigmoid`` (the recurrent activation of Keras < 2.3) is Keras 2's, and a GRU that does not say
    ``reset_after`` is the Keras 2 default, ``reset_after=False`` (tf.keras always wrote it)."""
    target = layer["config"]["layer"] if layer.get("class_name") == "Bidirectional" else layer
    if not isinstance(target, dict) or target.get("class_name") not in ("LSTM", "GRU"):
        return
    config = target["config"]
    for key in ("activation", "recurrent_activation"):
        if config.get(key) == "hard_sigmoid":
            config[key] = KERAS2_HARD_SIGMOID
    if target["class_name"] == "GRU":
        config.setdefault("reset_after", False)
