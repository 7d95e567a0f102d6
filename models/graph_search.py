"""Find the encoder, the decoder and the Dense of a trained seq2seq model in its functional config, by structure.

Works on Keras 3 models and on legacy Keras 2 configs alike (see ``legacy_h5``), never by layer names or order.
The decoder is a chain of recurrent layers (LSTM or GRU), each started from the final states of the encoder layer
at the same depth; the encoder is a chain of the same depth, each layer a plain recurrent layer or a
``Bidirectional`` one whose forward and backward states are concatenated (``Concatenate``) into a decoder layer of
twice the width. Either side may read an ``Embedding`` (token ids) instead of one-hot vectors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from s2s_onnx.runtime.errors import NotEncoderDecoderError

from .attention import attended_input, find_attention
from .spec import CELL_OF_KIND, STATE_COUNT, EmbeddingSpec, RnnSpec, Seq2SeqSpec, activation_name

Ref = tuple[str, int, int]  # (layer name, node index, tensor index)
SUPPORTED = (
    "Supported: an LSTM or GRU encoder (optionally Bidirectional, optionally stacked) whose final states initialise "
    "a decoder of the same cell and depth, layer by layer; a Dense (or TimeDistributed(Dense)) on the decoder's "
    "output sequence, or an attention over the encoder's outputs (Attention with score_mode dot or concat, "
    "AdditiveAttention, or Dot(axes=[2, 2]) -> softmax -> Dot(axes=[2, 1])) concatenated with the decoder's output, "
    "optionally through a Dense, before that Dense; one-hot Inputs or an Embedding on either side"
)


def _refs(node: Any) -> Iterator[Ref]:
    """Every tensor reference in one inbound node, in Keras 3 or Keras 2 config format."""
    if isinstance(node, dict) and "kwargs" in node:  # Keras 3 call: args, then keyword tensors (not the mask)
        yield from _refs(node.get("args", []))
        for key, value in node["kwargs"].items():
            if key != "mask":
                yield from _refs(value)
        return
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
        return NotEncoderDecoderError(f"{message}; layers: {self.found}. {SUPPORTED}")

    def activation(self, name: str) -> str:
        config = self.by_name[name]["config"]
        if self.kinds[name] == "TimeDistributed":
            config = config["layer"]["config"]
        return activation_name(config.get("activation", "linear"))

    def rnn_kind(self, name: str) -> str | None:
        """``LSTM`` or ``GRU`` for a recurrent layer or a ``Bidirectional`` around one, else None."""
        kind = self.kinds.get(name)
        if kind == "Bidirectional":
            inner = self.by_name[name]["config"].get("layer", {})
            kind = _class_name(inner) if isinstance(inner, dict) else None
        return kind if kind in CELL_OF_KIND else None

    def rnn_config(self, name: str) -> dict[str, Any]:
        config: dict[str, Any] = self.by_name[name]["config"]
        return config["layer"]["config"] if self.kinds[name] == "Bidirectional" else config

    def source(self, name: str) -> Ref:
        """The tensor a layer reads (its first inbound reference)."""
        refs = self.inbound.get(name) or []
        if not refs:
            raise self.fail(f"{name!r} has no input")
        return refs[0]

    def initial_states(self, name: str) -> list[Ref]:
        return self.inbound[name][1:]

    def input_side(self, name: str) -> tuple[str, str | None, bool]:
        """(the InputLayer, the Embedding or None, whether a Masking sits between) that the first layer of a
        chain reads."""
        source = self.source(name)[0]
        embedding, masking = None, False
        if self.kinds[source] == "Embedding":
            embedding, source = source, self.source(source)[0]
        elif self.kinds[source] == "Masking":
            self.check_masking(source)
            masking, source = True, self.source(source)[0]
        if self.kinds[source] != "InputLayer":
            raise self.fail(
                f"{name!r} reads from {source!r} ({self.kinds[source]}); only an Input, an Embedding on an Input, "
                "or a Masking on an Input, is supported"
            )
        return source, embedding, masking

    def check_masking(self, name: str) -> None:
        value = self.by_name[name]["config"].get("mask_value", 0.0)
        if value != 0.0:
            raise self.fail(
                f"layer {name!r} (Masking) has mask_value={value!r}; on one-hot inputs only mask_value=0.0 (padding "
                "with zero vectors) masks anything, and only that is supported"
            )

    def embedding(self, name: str | None) -> EmbeddingSpec | None:
        if name is None:
            return None
        weights = self.model.get_layer(name).get_weights()
        return EmbeddingSpec(weights=weights[0], mask_zero=bool(self.by_name[name]["config"].get("mask_zero")))

    def rnn_spec(self, name: str) -> RnnSpec:
        kind = self.rnn_kind(name)
        if kind is None:
            raise self.fail(f"{name!r} is not an LSTM or GRU layer")
        config = self.rnn_config(name)
        for flag in ("go_backwards", "stateful", "time_major"):
            if config.get(flag):
                raise self.fail(
                    f"layer {name!r} ({kind}) has {flag}=True, which s2s-onnx does not convert: the Keras example's "
                    "layers read forwards, one sequence at a time (for both directions wrap the layer in "
                    "Bidirectional); retrain without it"
                )
        return RnnSpec.of_layer(self.model.get_layer(name), kind, config)

    def chain_above(self, first: str, members: set[str]) -> list[str]:
        """``first`` and the layers of ``members`` stacked on it, bottom to top (each reads the one below)."""
        chain = [first]
        while True:
            above = [m for m in members if m not in chain and self.source(m)[:1] == (chain[-1],)]
            if not above:
                return chain
            chain.append(above[0])

    def decoder_chain(self, layers: list[str]) -> list[str]:
        """The decoder layers, bottom to top: the one on an Input (or Embedding) first, the rest stacked on it."""
        bottoms = [n for n in layers if self.kinds[self.source(n)[0]] in ("InputLayer", "Embedding", "Masking")]
        if len(bottoms) != 1:
            raise self.fail(f"expected one decoder layer reading the decoder's input, found {bottoms or 'none'}")
        chain = self.chain_above(bottoms[0], set(layers))
        if len(chain) != len(layers):
            raise self.fail(f"the decoder layers {layers} are not one stack; found the stack {chain}")
        return chain

    def is_dense(self, name: str) -> bool:
        """A Dense, or a ``TimeDistributed(Dense)`` (the same thing on a sequence)."""
        inner = self.by_name[name]["config"].get("layer")
        wrapped = self.kinds[name] == "TimeDistributed" and isinstance(inner, dict) and _class_name(inner) == "Dense"
        return self.kinds[name] == "Dense" or wrapped

    def users(self, name: str) -> list[str]:
        """The layers that read ``name``'s first output."""
        return [n for n in self.by_name if any(r[0] == name and r[2] == 0 for r in self.inbound[n])]

    def dense_on(self, name: str) -> str:
        """The Dense that reads ``name``'s output sequence."""
        denses = self.users(name)
        if len(denses) != 1 or not self.is_dense(denses[0]):
            what = ", ".join(f"{n} ({self.kinds[n]})" for n in denses) or "nothing"
            raise self.fail(f"expected a Dense layer on the decoder's output sequence, found {what}")
        return denses[0]

    def state_source(self, refs: list[Ref]) -> tuple[str, bool] | None:
        """(encoder layer, backward_first) whose final states ``refs`` are, in order, or None.

        A recurrent layer's outputs are ``[y, *states]``; a ``Bidirectional`` one's ``[y, *forward, *backward]``,
        each state then the ``Concatenate`` of its forward and backward parts (in either order)."""
        parts = []
        for name, _, index in refs:
            if self.kinds.get(name) == "Concatenate":
                inputs = self.inbound[name]
                parts.append((inputs[0][0] if len({r[0] for r in inputs}) == 1 else "", tuple(r[2] for r in inputs)))
            else:
                parts.append((name, (index,)))
        layers = {layer for layer, _ in parts}
        kind = self.rnn_kind(next(iter(layers))) if len(layers) == 1 else None
        if kind is None or len(refs) != STATE_COUNT[CELL_OF_KIND[kind]]:
            return None
        layer, count = parts[0][0], len(refs)
        indices = [p for _, p in parts]
        if self.kinds[layer] != "Bidirectional":
            return (layer, False) if indices == [(k + 1,) for k in range(count)] else None
        for backward_first in (False, True):
            pairs = [(1 + k, 1 + count + k) for k in range(count)]
            if indices == [p[::-1] if backward_first else p for p in pairs]:
                return layer, backward_first
        return None


def find_seq2seq(model: Any) -> Seq2SeqSpec:
    """Locate the encoder-decoder in a trained training model (Keras 3, or a Keras 2 file's config)."""
    graph = ConfigGraph(model)
    started = [n for n in graph.by_name if graph.rnn_kind(n) and graph.initial_states(n)]
    if not started:
        raise graph.fail(
            "found no recurrent decoder layer initialised with an encoder's states (a pair of inference models "
            "converts with --decoder-model DECODER_FILE)"
        )
    decoder = graph.decoder_chain(started)
    for name in decoder:
        if not graph.rnn_config(name).get("return_sequences"):
            raise graph.fail(f"decoder layer {name!r} must have return_sequences=True")
    sources = [graph.state_source(graph.initial_states(n)) for n in decoder]
    if None in sources:
        bad = decoder[sources.index(None)]
        raise graph.fail(f"decoder layer {bad!r} is not initialised with the final states of one encoder layer")
    encoder = [s[0] for s in sources if s]
    orders = {s[1] for s in sources if s}
    if graph.chain_above(encoder[0], set(encoder)) != encoder:
        raise graph.fail(f"the encoder layers {encoder} are not one stack of the decoder's depth, bottom to top")
    input_order = [ref[0] for ref in model_refs(graph.config, "input_layers")]
    encoder_input, encoder_embedding, encoder_masking = graph.input_side(encoder[0])
    _, decoder_embedding, decoder_masking = graph.input_side(decoder[0])
    return build_spec(
        graph,
        (encoder, encoder_embedding),
        (graph, decoder, decoder_embedding),
        encoder_input_position=input_order.index(encoder_input) if encoder_input in input_order else 0,
        backward_first=orders == {True},
        encoder_masking=encoder_masking,
        decoder_masking=decoder_masking,
    )


def build_spec(
    graph: ConfigGraph,
    encoder: tuple[list[str], str | None],
    decoder: tuple[ConfigGraph, list[str], str | None],
    **details: Any,
) -> Seq2SeqSpec:
    """The spec from the encoder's layers and Embedding in ``graph``, and the decoder's in its own graph (the same
    one for a training model, another for an inference pair); ``details`` are the remaining fields."""
    (enc_layers, enc_embedding), (dec_graph, dec_layers, dec_embedding) = encoder, decoder
    bidirectional = {graph.kinds[n] == "Bidirectional" for n in enc_layers}
    if len(bidirectional) != 1:
        raise graph.fail("either every encoder layer is Bidirectional or none is")
    values = enc_layers[-1] if dec_graph is graph else attended_input(dec_graph, dec_layers[-1])
    found = find_attention(dec_graph, dec_layers[-1], values) if values is not None else None
    if found is not None:
        attention, dense_input = found
        # a decoder step model saved on its own reads the encoder's outputs from an Input, with no mask: its
        # attention sees every position, and so does the conversion
        trained_mask = details.get("encoder_masking") or _mask_zero(graph, enc_embedding)
        masked = attention.form != "luong" and dec_graph is graph and trained_mask
        details["attention"] = dataclasses.replace(attention, masked=bool(masked))
        _check_attended(graph, enc_layers[-1])
    dense = dec_graph.dense_on(dense_input if found is not None else dec_layers[-1])
    spec = Seq2SeqSpec(
        encoder=tuple(graph.rnn_spec(n) for n in enc_layers),
        decoder=tuple(dec_graph.rnn_spec(n) for n in dec_layers),
        dense_weights=tuple(dec_graph.model.get_layer(dense).get_weights()),
        dense_activation=dec_graph.activation(dense),
        layer_names=(*enc_layers, *dec_layers, dense),
        encoder_embedding=graph.embedding(enc_embedding),
        decoder_embedding=dec_graph.embedding(dec_embedding),
        bidirectional=bidirectional == {True},
        **details,
    )
    check_spec(graph, spec)
    return spec


def _mask_zero(graph: ConfigGraph, embedding: str | None) -> bool:
    return embedding is not None and bool(graph.by_name[embedding]["config"].get("mask_zero"))


def _check_attended(graph: ConfigGraph, encoder_top: str) -> None:
    """The attention reads the top encoder layer's whole output sequence (both directions concatenated)."""
    config = graph.by_name[encoder_top]["config"]
    if not graph.rnn_config(encoder_top).get("return_sequences"):
        raise graph.fail(f"the attention reads {encoder_top!r}, which must have return_sequences=True")
    if graph.kinds[encoder_top] == "Bidirectional" and config.get("merge_mode", "concat") != "concat":
        raise graph.fail(f"the attention reads {encoder_top!r}, a Bidirectional layer that must merge by concat")


def check_spec(graph: ConfigGraph, spec: Seq2SeqSpec) -> None:
    """The same cell everywhere, equal depth, and each decoder layer as wide as its encoder layer's states."""
    cells = {layer.cell for layer in (*spec.encoder, *spec.decoder)}
    if len(cells) != 1:
        raise graph.fail(
            f"the encoder and decoder mix cells ({', '.join(sorted(cells))}); states cannot be handed over"
        )
    if len(spec.encoder) != len(spec.decoder):
        raise graph.fail(f"the encoder has {len(spec.encoder)} layers but the decoder {len(spec.decoder)}")
    factor = 2 if spec.bidirectional else 1
    for depth, (enc, dec) in enumerate(zip(spec.encoder, spec.decoder, strict=True)):
        if enc.units * factor != dec.units:
            raise graph.fail(
                f"layer {depth}: the encoder's states are {enc.units * factor} wide but the decoder layer has "
                f"{dec.units} units"
            )
