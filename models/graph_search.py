"""Find the encoder, decoder LSTM and Dense of a trained seq2seq model in its functional config, by structure.

Works on Keras 3 models and on legacy Keras 2 configs alike (see ``legacy_h5``), never by layer names or order.
The encoder is an LSTM whose ``state_h``/``state_c`` initialise the decoder LSTM, or a ``Bidirectional`` LSTM
whose forward and backward states are concatenated (``Concatenate``) into a decoder of twice the width.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from s2s_onnx.runtime.errors import NotEncoderDecoderError

Ref = tuple[str, int, int]  # (layer name, node index, tensor index)
BIDIRECTIONAL_STATES = {"h": (1, 3), "c": (2, 4)}  # Bidirectional outputs: [y, fw_h, fw_c, bw_h, bw_c]


@dataclass(frozen=True)
class LstmSpec:
    units: int  # per direction
    input_width: int
    activation: str
    recurrent_activation: str
    use_bias: bool
    weights: tuple[np.ndarray, ...]  # kernel, recurrent kernel, bias (forward then backward if bidirectional)


@dataclass(frozen=True)
class Seq2SeqSpec:
    """What the inference models need: encoder and decoder LSTMs and the Dense, with weights."""

    encoder: LstmSpec
    decoder: LstmSpec
    dense_weights: tuple[np.ndarray, ...]
    dense_activation: str
    layer_names: tuple[str, str, str]  # encoder, decoder LSTM, Dense in the source model
    encoder_input_position: int = 0  # which of the training model's inputs feeds the encoder
    bidirectional: bool = False
    backward_first: bool = False  # a bidirectional encoder's states are concatenated [backward, forward]

    def training_inputs(self, encoder_input: object, decoder_input: object) -> list[object]:
        """Arrange inputs in the training model's own order."""
        pair = [encoder_input, decoder_input]
        return pair if self.encoder_input_position == 0 else pair[::-1]

    @property
    def latent_dim(self) -> int:
        """The width of the states the decoder step carries."""
        return self.decoder.units

    @property
    def num_encoder_tokens(self) -> int:
        return self.encoder.input_width

    @property
    def num_decoder_tokens(self) -> int:
        return self.decoder.input_width

    @property
    def num_output_tokens(self) -> int:
        return int(self.dense_weights[0].shape[1])


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


def model_refs(config: dict[str, Any], key: str) -> list[Ref]:
    """The model's ``input_layers`` or ``output_layers`` as tensor references, in order."""
    return list(_refs(config.get(key, [])))


def _class_name(layer_config: dict[str, Any]) -> str:
    return str(layer_config.get("class_name", "")).rsplit(">", 1)[-1].rsplit(".", 1)[-1]


def _activation_name(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # Keras 3 may serialise functions as objects
        return str(value.get("config", value.get("class_name", "")))
    return str(value)


class ConfigGraph:
    """The functional config as layers, their kinds and their inbound tensor references."""

    def __init__(self, model: Any) -> None:
        try:
            config = model.get_config()
            layer_configs = config["layers"]
        except (AttributeError, KeyError, TypeError, NotImplementedError) as exc:
            raise NotEncoderDecoderError(
                f"model is not a functional Keras model ({type(model).__name__}); expected the seq2seq training "
                "model with two inputs (encoder, decoder)"
            ) from exc
        self.model, self.config = model, config
        self.by_name = {cfg.get("name") or cfg["config"]["name"]: cfg for cfg in layer_configs}
        self.inbound = {name: list(_refs(cfg.get("inbound_nodes", []))) for name, cfg in self.by_name.items()}
        self.kinds = {name: _class_name(cfg) for name, cfg in self.by_name.items()}
        self.found = ", ".join(f"{n} ({k})" for n, k in self.kinds.items() if k != "InputLayer")

    def fail(self, message: str) -> NotEncoderDecoderError:
        return NotEncoderDecoderError(
            f"{message}; layers: {self.found}. Supported: an LSTM or Bidirectional(LSTM) encoder whose states "
            "initialise an LSTM decoder, a Dense on the decoder's outputs, plain one-hot Inputs"
        )

    def activation(self, name: str) -> str:
        return _activation_name(self.by_name[name]["config"].get("activation", "linear"))

    def check_widths(self, spec: Seq2SeqSpec) -> None:
        width = spec.encoder.units * (2 if spec.bidirectional else 1)
        if width != spec.decoder.units:
            raise self.fail(
                f"the encoder's states are {width} wide but the decoder LSTM has {spec.decoder.units} units"
            )

    def is_bidirectional_lstm(self, name: str) -> bool:
        inner = self.by_name[name]["config"].get("layer", {})
        return self.kinds[name] == "Bidirectional" and isinstance(inner, dict) and _class_name(inner) == "LSTM"

    def lstm_config(self, name: str) -> dict[str, Any]:
        config: dict[str, Any] = self.by_name[name]["config"]
        return config["layer"]["config"] if self.kinds[name] == "Bidirectional" else config

    def state_source(self, ref: Ref) -> tuple[str, str, tuple[int, ...]] | None:
        """Where one decoder initial state comes from: (encoder layer, "lstm" | "bidirectional", its outputs)."""
        name, _, index = ref
        if self.kinds.get(name) == "LSTM":
            return name, "lstm", (index,)
        if self.kinds.get(name) == "Concatenate":
            parts = self.inbound[name]
            if len({p[0] for p in parts}) == 1 and len(parts) == 2 and self.is_bidirectional_lstm(parts[0][0]):
                return parts[0][0], "bidirectional", tuple(p[2] for p in parts)
        return None


def _find_encoder(graph: ConfigGraph) -> tuple[str, str, bool]:
    """(encoder, decoder, backward_first): the LSTM whose two initial states trace back to one encoder."""
    for decoder in (n for n, k in graph.kinds.items() if k == "LSTM"):
        states = [graph.state_source(r) for r in graph.inbound[decoder][1:]]
        if len(states) != 2 or None in states or len({s[0] for s in states if s}) != 1:
            continue
        (encoder, kind, h_parts), (_, _, c_parts) = states  # type: ignore[misc]
        if kind == "lstm" and (h_parts, c_parts) == ((1,), (2,)):
            return encoder, decoder, False
        order = {"h": h_parts, "c": c_parts}
        for backward_first in (False, True):
            want = {k: v[::-1] if backward_first else v for k, v in BIDIRECTIONAL_STATES.items()}
            if kind == "bidirectional" and order == want:
                return encoder, decoder, backward_first
    raise graph.fail(
        "found no LSTM decoder initialised with an encoder's (state_h, state_c) (a pair of inference models "
        "converts with --decoder-model DECODER_FILE)"
    )


def _check_layers(graph: ConfigGraph, encoder: str, decoder: str) -> str:
    """Flags, sources and the Dense on the decoder; returns the Dense's name."""
    enc_cfg, dec_cfg = graph.lstm_config(encoder), graph.lstm_config(decoder)
    if enc_cfg.get("return_sequences") or not enc_cfg.get("return_state"):
        raise graph.fail(f"encoder {encoder!r} must have return_state=True and return_sequences=False")
    if not dec_cfg.get("return_sequences"):
        raise graph.fail(f"decoder LSTM {decoder!r} must have return_sequences=True")
    for name, cfg in ((encoder, enc_cfg), (decoder, dec_cfg)):
        for flag in ("go_backwards", "stateful", "time_major"):
            if cfg.get(flag):
                raise graph.fail(f"LSTM {name!r} uses {flag}=True, which is not supported")
        source = graph.inbound[name][0][0]
        if graph.kinds[source] != "InputLayer":
            raise graph.fail(f"{name!r} reads from {source!r} ({graph.kinds[source]}); only a plain Input is supported")
    denses = [n for n in graph.by_name if any(r[0] == decoder and r[2] == 0 for r in graph.inbound[n])]
    if len(denses) != 1 or graph.kinds[denses[0]] != "Dense":
        what = ", ".join(f"{n} ({graph.kinds[n]})" for n in denses) or "nothing"
        raise graph.fail(f"expected a Dense layer on the decoder LSTM's output sequence, found {what}")
    return denses[0]


def lstm_spec(layer: Any, cfg: dict[str, Any]) -> LstmSpec:
    weights = tuple(np.asarray(w) for w in layer.get_weights())
    return LstmSpec(
        units=int(cfg["units"]),
        input_width=int(weights[0].shape[0]),
        activation=_activation_name(cfg.get("activation", "tanh")),
        recurrent_activation=_activation_name(cfg.get("recurrent_activation", "sigmoid")),
        use_bias=bool(cfg.get("use_bias", True)),
        weights=weights,
    )


def find_seq2seq(model: Any) -> Seq2SeqSpec:
    """Locate the encoder-decoder in a trained training model (Keras 3, or a Keras 2 file's config)."""
    graph = ConfigGraph(model)
    encoder, decoder, backward_first = _find_encoder(graph)
    dense = _check_layers(graph, encoder, decoder)
    input_order = [ref[0] for ref in model_refs(graph.config, "input_layers")]
    encoder_source = graph.inbound[encoder][0][0]
    return build_spec(
        (graph, encoder),
        (graph, decoder, dense),
        encoder_input_position=input_order.index(encoder_source) if encoder_source in input_order else 0,
        bidirectional=graph.kinds[encoder] == "Bidirectional",
        backward_first=backward_first,
    )


def build_spec(encoder: tuple[ConfigGraph, str], decoder: tuple[ConfigGraph, str, str], **details: Any) -> Seq2SeqSpec:
    """The spec from ``(graph, encoder layer)`` and ``(graph, decoder LSTM, Dense)``, which may be one model's
    graph or an inference pair's two; ``details`` are the remaining :class:`Seq2SeqSpec` fields."""
    (enc_graph, enc_name), (dec_graph, dec_name, dense) = encoder, decoder
    spec = Seq2SeqSpec(
        encoder=lstm_spec(enc_graph.model.get_layer(enc_name), enc_graph.lstm_config(enc_name)),
        decoder=lstm_spec(dec_graph.model.get_layer(dec_name), dec_graph.lstm_config(dec_name)),
        dense_weights=tuple(np.asarray(w) for w in dec_graph.model.get_layer(dense).get_weights()),
        dense_activation=dec_graph.activation(dense),
        layer_names=(enc_name, dec_name, dense),
        **details,
    )
    enc_graph.check_widths(spec)
    return spec
