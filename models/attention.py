"""Attention over the encoder's outputs, found by structure and rebuilt in Keras 3.

The forms people build from Keras' own layers, each read by the decoder's output sequence (the query) over the
top encoder layer's output sequence (the values), its context then concatenated with the decoder's output (in
either order), optionally through a combining ``Dense``, before the softmax ``Dense``:

* ``dot``: ``Attention()`` (``use_scale`` optional), scores ``q · k``;
* ``concat``: ``Attention(score_mode="concat")``, scores ``w · Σ tanh(s (q + k))``;
* ``additive``: ``AdditiveAttention()``, scores ``Σ s ⊙ tanh(q + k)``;
* ``luong``: written by hand, ``Dot(axes=[2, 2])`` → ``Activation("softmax")`` (or ``Softmax()``) →
  ``Dot(axes=[2, 1])`` with the encoder's outputs.

Keras' attention layers honour the encoder's mask (a ``mask_zero`` Embedding or a ``Masking`` on its input): the
inference decoder step takes that mask as an input (``encoder_mask``, 1 for a real position) and hands it to the
layer, as training did implicitly. The hand-written form uses no mask, as in training: it attends to every position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .spec import activation_name

if TYPE_CHECKING:
    from .graph_search import ConfigGraph

FORMS = ("dot", "concat", "additive", "luong")
LAYER_FORMS = {"Attention": ("dot", "concat"), "AdditiveAttention": ("additive",)}
SOFTMAX_KINDS = ("Activation", "Softmax")


@dataclass(frozen=True)
class AttentionSpec:
    """One attention block: its form, the attention layer's own weights (``Attention``: ``scale`` if
    ``use_scale``, then ``concat_score_weight`` in concat mode; ``AdditiveAttention``: its ``scale`` vector), the
    concatenation order, the optional combining Dense, and whether the encoder's mask applies."""

    form: str
    use_scale: bool
    weights: tuple[np.ndarray, ...]
    context_first: bool
    combine_weights: tuple[np.ndarray, ...] = ()
    combine_activation: str = "linear"
    masked: bool = False
    layer_names: tuple[str, ...] = ()

    @property
    def has_combine(self) -> bool:
        return bool(self.combine_weights)

    def describe(self) -> str:
        names = {"dot": "dot-product", "concat": "concat-score", "additive": "additive", "luong": "Luong (Dot)"}
        combine = f", combined by a Dense({self.combine_activation})" if self.has_combine else ""
        return f"{names[self.form]} attention{' (scaled)' if self.use_scale else ''}{combine}"


def _reads(graph: ConfigGraph, name: str) -> list[str]:
    return [ref[0] for ref in graph.inbound.get(name, [])]


def attended_input(graph: ConfigGraph, decoder_top: str) -> str | None:
    """In a decoder step model: the Input holding the encoder's outputs that an attention on ``decoder_top``
    reads (its second input), or ``None``."""
    for user in graph.users(decoder_top):
        reads = _reads(graph, user)
        if graph.kinds[user] in (*LAYER_FORMS, "Dot") and len(reads) > 1 and graph.kinds.get(reads[1]) == "InputLayer":
            return reads[1]
    return None


def find_attention(graph: ConfigGraph, decoder_top: str, values: str) -> tuple[AttentionSpec, str] | None:
    """The attention block on ``decoder_top``'s output sequence over ``values`` (the encoder's output sequence),
    and the layer the softmax Dense reads; ``None`` when ``decoder_top`` feeds no attention layer."""
    users = graph.users(decoder_top)
    layers = [u for u in users if graph.kinds[u] in LAYER_FORMS]
    dots = [u for u in users if graph.kinds[u] == "Dot"]
    if not layers and not dots:
        return None
    if layers:
        context, spec_fields, names = _keras_layer(graph, layers[0], decoder_top, values)
    else:
        context, spec_fields, names = _luong(graph, dots[0], decoder_top, values)
    concat, context_first = _concatenation(graph, context, decoder_top)
    after = graph.users(concat)
    combine: tuple[np.ndarray, ...] = ()
    activation, last = "linear", concat
    if len(after) == 1 and graph.is_dense(after[0]) and any(graph.is_dense(u) for u in graph.users(after[0])):
        last = after[0]
        combine = tuple(graph.model.get_layer(last).get_weights())
        activation = graph.activation(last)
    spec = AttentionSpec(
        **spec_fields,
        context_first=context_first,
        combine_weights=combine,
        combine_activation=activation,
        layer_names=(*names, concat, *((last,) if combine else ())),
    )
    return spec, last


def _keras_layer(graph: ConfigGraph, name: str, query: str, values: str) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    config = graph.by_name[name]["config"]
    reads = _reads(graph, name)
    if reads[:2] != [query, values] or any(r != values for r in reads[2:]):
        raise graph.fail(
            f"attention layer {name!r} reads {reads}; expected [decoder outputs, encoder outputs] ({query!r}, "
            f"{values!r}), the keys (if given) the encoder outputs too"
        )
    if _call_flag(graph, name, "use_causal_mask") or config.get("causal"):
        raise graph.fail(f"attention layer {name!r} uses a causal mask, which does not apply across the encoder")
    kind = graph.kinds[name]
    form = "additive" if kind == "AdditiveAttention" else str(config.get("score_mode", "dot"))
    if form not in LAYER_FORMS[kind]:
        raise graph.fail(f"attention layer {name!r} has score_mode={form!r}; supported: dot, concat")
    weights = tuple(np.asarray(w) for w in graph.model.get_layer(name).get_weights())
    use_scale = bool(config.get("use_scale", kind == "AdditiveAttention"))
    return name, {"form": form, "use_scale": use_scale, "weights": weights}, (name,)


def _call_flag(graph: ConfigGraph, name: str, flag: str) -> bool:
    nodes = graph.by_name[name].get("inbound_nodes", [])
    return any(isinstance(n, dict) and bool(n.get("kwargs", {}).get(flag)) for n in nodes)


def _luong(graph: ConfigGraph, scores: str, query: str, values: str) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """``Dot(axes=[2, 2])([query, values])`` → softmax → ``Dot(axes=[2, 1])([weights, values])``."""
    form = "Dot(axes=[2, 2])([decoder outputs, encoder outputs]), Activation('softmax'), Dot(axes=[2, 1])"
    softmax = graph.users(scores)
    if (
        _axes(graph, scores) != [2, 2]
        or _reads(graph, scores) != [query, values]
        or len(softmax) != 1
        or not _is_softmax(graph, softmax[0])
    ):
        raise graph.fail(f"{scores!r} (Dot) on the decoder's outputs is not the hand-written attention {form}")
    context = graph.users(softmax[0])
    if len(context) != 1 or graph.kinds[context[0]] != "Dot" or _axes(graph, context[0]) != [2, 1]:
        raise graph.fail(f"the attention weights {softmax[0]!r} do not feed a Dot(axes=[2, 1]); expected {form}")
    if _reads(graph, context[0]) != [softmax[0], values]:
        raise graph.fail(f"{context[0]!r} (Dot) must read [attention weights, encoder outputs]; expected {form}")
    return context[0], {"form": "luong", "use_scale": False, "weights": ()}, (scores, softmax[0], context[0])


def _axes(graph: ConfigGraph, name: str) -> list[int] | None:
    config = graph.by_name[name]["config"]
    axes = config.get("axes")
    if config.get("normalize"):
        return None
    return [int(a) for a in axes] if isinstance(axes, (list, tuple)) else None


def _is_softmax(graph: ConfigGraph, name: str) -> bool:
    kind = graph.kinds[name]
    if kind == "Activation":
        return activation_name(graph.by_name[name]["config"].get("activation")) == "softmax"
    return kind == "Softmax" and graph.by_name[name]["config"].get("axis", -1) in (-1, 2)


def _concatenation(graph: ConfigGraph, context: str, query: str) -> tuple[str, bool]:
    """The ``Concatenate`` of the context and the decoder's outputs, and whether the context comes first."""
    for user in graph.users(context):
        reads = _reads(graph, user)
        axis = graph.by_name[user]["config"].get("axis", -1)
        if graph.kinds[user] == "Concatenate" and sorted(reads) == sorted([context, query]) and axis in (-1, 2):
            return user, reads[0] == context
    raise graph.fail(
        f"the attention's context {context!r} is not concatenated with the decoder's outputs {query!r} "
        "(Concatenate(axis=-1)) before the Dense"
    )


def attention_output(
    att: AttentionSpec, query: Any, values: Any, masks: list[Any] | None, weighted: Any, prefix: str
) -> Any:
    """The attention block rebuilt with Keras 3 layers on ``query`` over ``values``: the concatenation (through the
    combining Dense, if any) that the softmax Dense reads. ``masks``: the query's and the values' masks (bool, or
    ``None`` each) to hand to Keras' attention layers, as training propagated them; ``None``: Keras propagates
    them itself (a training model)."""
    import keras

    if att.form == "luong":
        scores = keras.layers.Dot(axes=[2, 2], name=f"{prefix}_scores")([query, values])
        weights = keras.layers.Activation("softmax", name=f"{prefix}_weights")(scores)
        context = keras.layers.Dot(axes=[2, 1], name=f"{prefix}_context")([weights, values])
    else:
        if att.form == "additive":
            layer = keras.layers.AdditiveAttention(use_scale=att.use_scale, name=prefix)
        else:
            layer = keras.layers.Attention(use_scale=att.use_scale, score_mode=att.form, name=prefix)
        layer = weighted.add(layer, att.weights)
        context = layer([query, values]) if masks is None else layer([query, values], mask=masks)
    parts = [context, query] if att.context_first else [query, context]
    x = keras.layers.Concatenate(name=f"{prefix}_concat")(parts)
    if att.has_combine:
        width = int(att.combine_weights[0].shape[1])
        dense = keras.layers.Dense(
            width, activation=att.combine_activation, use_bias=len(att.combine_weights) > 1, name=f"{prefix}_combine"
        )
        x = weighted.add(dense, att.combine_weights)(x)
    return x
