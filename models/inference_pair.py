"""A saved pair of inference models in place of the training model: the Keras example's ``encoder_model``
(``input -> [h, c]``) and ``decoder_model`` (``[token, h, c] -> [probs, h, c]``), found by structure.

The seed walk-through this project grew from saves a decoder model whose first output is the decoder LSTM's
output sequence instead of the Dense layer's probabilities; that is detected and refused with the fix: convert
the training model instead.
"""

from __future__ import annotations

from typing import Any

from .graph_search import ConfigGraph, Seq2SeqSpec, build_spec, model_refs


def _encoder(graph: ConfigGraph) -> tuple[str, bool, bool]:
    """(encoder layer, bidirectional, backward_first) whose states are the encoder model's two outputs."""
    outputs = model_refs(graph.config, "output_layers")
    states = [graph.state_source(ref) for ref in outputs]
    if len(states) == 2 and None not in states and len({s[0] for s in states if s}) == 1:
        (name, kind, h_parts), (_, _, c_parts) = states  # type: ignore[misc]
        if kind == "lstm" and (h_parts, c_parts) == ((1,), (2,)):
            return name, False, False
        if kind == "bidirectional" and {h_parts, c_parts} in ({(1, 3), (2, 4)}, {(3, 1), (4, 2)}):
            return name, True, h_parts == (3, 1)
    raise graph.fail("the encoder model's outputs are not an LSTM encoder's (state_h, state_c)")


def _decoder(graph: ConfigGraph) -> tuple[str, str]:
    """(decoder LSTM, Dense): an LSTM started from two state Inputs, a Dense on its sequence as output 0."""
    outputs = model_refs(graph.config, "output_layers")
    lstms = [n for n, k in graph.kinds.items() if k == "LSTM"]
    if len(outputs) != 3 or len(lstms) != 1:
        raise graph.fail(f"a decoder model has 3 outputs [probs, h, c] and one LSTM; found {len(outputs)} outputs")
    decoder = lstms[0]
    states = graph.inbound[decoder][1:]
    if len(states) != 2 or any(graph.kinds[r[0]] != "InputLayer" for r in states):
        raise graph.fail(f"decoder LSTM {decoder!r} is not started from two state Inputs")
    first = outputs[0][0]
    if first == decoder:
        raise graph.fail(
            f"the decoder model's first output is the LSTM {decoder!r}'s output sequence, not the Dense layer's "
            "probabilities (the seed walk-through's mistake): convert the training model (e.g. s2s.h5) instead"
        )
    if graph.kinds[first] != "Dense" or graph.inbound[first][0][0] != decoder:
        raise graph.fail(f"the decoder model's first output {first!r} is not a Dense on the decoder LSTM")
    return decoder, first


def find_pair(encoder_model: Any, decoder_model: Any) -> Seq2SeqSpec:
    """The training model's spec, from its two inference models (Keras 3 models or Keras 2 file graphs)."""
    enc_graph, dec_graph = ConfigGraph(encoder_model), ConfigGraph(decoder_model)
    encoder, bidirectional, backward_first = _encoder(enc_graph)
    decoder, dense = _decoder(dec_graph)
    return build_spec(
        (enc_graph, encoder), (dec_graph, decoder, dense), bidirectional=bidirectional, backward_first=backward_first
    )
