"""A saved pair of inference models in place of the training model: the Keras example's ``encoder_model``
(``input -> [h, c]``, or every layer's states) and ``decoder_model`` (``[token, h, c] -> [probs, h, c]``), found
by structure.

A decoder model written by hand easily returns the decoder LSTM's output sequence instead of the Dense layer's
probabilities; that is detected and refused with the fix: convert
the training model instead.
"""

from __future__ import annotations

from typing import Any

from .attention import attended_input
from .graph_search import ConfigGraph, build_spec, model_refs
from .spec import Seq2SeqSpec


def _encoder(graph: ConfigGraph) -> tuple[list[str], bool]:
    """(encoder layers bottom to top, backward_first): the layers whose final states are the model's outputs."""
    outputs = model_refs(graph.config, "output_layers")
    if len(outputs) > 1 and outputs[0][2] == 0 and graph.rnn_kind(outputs[0][0]):
        outputs = outputs[1:]  # an attention model's encoder hands over its output sequence first
    for size in (2, 1):  # LSTM layers hand over (h, c), GRU layers h
        chunks = [outputs[k : k + size] for k in range(0, len(outputs), size)]
        sources = [graph.state_source(chunk) for chunk in chunks]
        if outputs and None not in sources:
            layers = [s[0] for s in sources if s]
            if graph.chain_above(layers[0], set(layers)) == layers:
                return layers, {s[1] for s in sources if s} == {True}
    raise graph.fail("the encoder model's outputs are not the final states of a recurrent encoder, layer by layer")


def _decoder(graph: ConfigGraph) -> list[str]:
    """The decoder layers, each started from state Inputs, with a Dense on the top one as output 0."""
    outputs = model_refs(graph.config, "output_layers")
    started = [n for n in graph.by_name if graph.rnn_kind(n) and graph.initial_states(n)]
    if not started:
        raise graph.fail("the decoder model has no recurrent layer started from state Inputs")
    layers = graph.decoder_chain(started)
    for name in layers:
        if any(graph.kinds[r[0]] != "InputLayer" for r in graph.initial_states(name)):
            raise graph.fail(f"decoder layer {name!r} is not started from state Inputs")
    top, first = layers[-1], outputs[0][0] if outputs else ""
    if first == top:
        raise graph.fail(
            f"the decoder model's first output is the output sequence of layer {top!r}, not the Dense layer's "
            "probabilities (an easy slip when writing the decoder model by hand): convert the training model "
            "(e.g. s2s.h5) instead"
        )
    attended = attended_input(graph, top) is not None  # the Dense then reads the attention's concatenation
    if first not in graph.kinds or not graph.is_dense(first) or (graph.source(first)[0] != top and not attended):
        raise graph.fail(f"the decoder model's first output {first!r} is not a Dense on the decoder's top layer")
    return layers


def find_pair(encoder_model: Any, decoder_model: Any) -> Seq2SeqSpec:
    """The training model's spec, from its two inference models (Keras 3 models or Keras 2 file graphs)."""
    enc_graph, dec_graph = ConfigGraph(encoder_model), ConfigGraph(decoder_model)
    encoder, backward_first = _encoder(enc_graph)
    decoder = _decoder(dec_graph)
    _, encoder_embedding, encoder_masking = enc_graph.input_side(encoder[0])
    _, decoder_embedding, decoder_masking = dec_graph.input_side(decoder[0])
    return build_spec(
        enc_graph,
        (encoder, encoder_embedding),
        (dec_graph, decoder, decoder_embedding),
        backward_first=backward_first,
        encoder_masking=encoder_masking,
        decoder_masking=decoder_masking,
    )
