"""The attention step of the fused graphs: what an attention decoder computes after its recurrent stack, each step.

The encoder's outputs ``V`` (and its mask) are loop-invariant: everything that depends on them alone is computed
once, before the loop — ``Vᵀ`` (times the scale) for dot scores, ``s·V`` for concat scores, and the mask's
penalty ``1e9·(1 - mask)`` (Keras' own) — so each step adds only the products with the new query ``q``:

* scores ``(rows, 1, T)``: ``q·Vᵀ`` (dot, Luong), or ``tanh(q' + V') @ col`` (concat: ``q' = s·q``, ``col = w``;
  additive: ``col`` the scale vector), less the penalty;
* weights ``Softmax`` over ``T``; context ``weights @ V``;
* the Dense after the concatenation as two ``Gemm``s, one on the context and one on the query, so no ``Concat``;
  the combining Dense, if any, the same way, then the softmax Dense.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2s_onnx.models.attention import AttentionSpec
from s2s_onnx.runtime.errors import ConversionError

from .onnx_builder import GraphBuilder

COMBINE_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid", "linear": None}
MASK_PENALTY = 1.0e9  # Keras' attention subtracts this from masked scores


@dataclass(frozen=True)
class AttentionTables:
    """Constants of the attention step: ``first`` is the Dense on the concatenation, split into its context rows
    and its query rows; ``second`` (with ``second_bias``) the softmax Dense after a combining one, else ``None``.
    The softmax Dense's columns are in the loop's token order."""

    form: str
    scale: np.ndarray | None  # dot: a scalar; concat: a scalar; additive: (width,)
    concat_weight: float
    masked: bool
    first_context: np.ndarray
    first_query: np.ndarray
    first_bias: np.ndarray
    combine_activation: str | None = None  # an ONNX op, or None (linear)
    second: np.ndarray | None = None
    second_bias: np.ndarray | None = None


def attention_tables(
    att: AttentionSpec, dense: np.ndarray, dense_bias: np.ndarray, query_width: int
) -> AttentionTables:
    """The tables from the spec and the softmax Dense (its columns already in the loop's order)."""
    if att.combine_activation not in COMBINE_ACTIVATIONS:
        raise ConversionError(
            f"--fused computes a combining Dense with activation {', '.join(COMBINE_ACTIVATIONS)}, not "
            f"{att.combine_activation!r}; convert without --fused"
        )
    if att.has_combine:
        kernel = att.combine_weights[0]
        bias = att.combine_weights[1] if len(att.combine_weights) > 1 else np.zeros(kernel.shape[1], np.float32)
    else:
        kernel, bias = dense, dense_bias
    context_width = kernel.shape[0] - query_width
    context, query = (
        (kernel[:context_width], kernel[context_width:])
        if att.context_first
        else (kernel[query_width:], kernel[:query_width])
    )
    weights = list(att.weights)
    scale = np.asarray(weights.pop(0), np.float32) if att.use_scale else None
    concat_weight = float(weights.pop(0)) if att.form == "concat" else 1.0
    return AttentionTables(
        form=att.form,
        scale=scale,
        concat_weight=concat_weight,
        masked=att.masked,
        first_context=np.asarray(context, np.float32),
        first_query=np.asarray(query, np.float32),
        first_bias=np.asarray(bias, np.float32),
        combine_activation=COMBINE_ACTIVATIONS[att.combine_activation] if att.has_combine else None,
        second=np.asarray(dense, np.float32) if att.has_combine else None,
        second_bias=np.asarray(dense_bias, np.float32) if att.has_combine else None,
    )


def attention_constants(g: GraphBuilder, tables: AttentionTables, values: str, mask: str | None) -> dict[str, str]:
    """Outer-graph values the step reads: the encoder outputs ``values`` (rows, T, W) and what is derived from
    them and from ``mask`` (rows, T) once, and the Dense weights."""
    c = {
        "att_values": values,
        "att_first_context": g.const("att_first_context", tables.first_context),
        "att_first_query": g.const("att_first_query", tables.first_query),
        "att_first_bias": g.const("att_first_bias", tables.first_bias),
    }
    if tables.second is not None and tables.second_bias is not None:
        c["att_second"] = g.const("att_second", tables.second)
        c["att_second_bias"] = g.const("att_second_bias", tables.second_bias)
    if tables.form in ("dot", "luong"):
        transposed = g.one("Transpose", [values], perm=[0, 2, 1])
        scale = tables.scale if tables.form == "dot" else None
        c["att_keys"] = transposed if scale is None else g.one("Mul", [transposed, g.const("att_scale", scale)])
    else:
        width = tables.first_context.shape[0]
        if tables.form == "concat":
            column = np.full((width, 1), tables.concat_weight, np.float32)
            if tables.scale is not None:
                c["att_query_scale"] = g.const("att_query_scale", tables.scale)
                values = g.one("Mul", [values, c["att_query_scale"]])
        else:
            scale = tables.scale if tables.scale is not None else np.ones(width, np.float32)
            column = np.asarray(scale, np.float32).reshape(width, 1)
        c["att_keys"] = values
        c["att_column"] = g.const("att_column", column)
    if tables.masked and mask is not None:
        one = g.const("one_f", np.array(1.0, np.float32))
        penalty = g.one("Mul", [g.one("Sub", [one, mask]), g.const("penalty", np.array(MASK_PENALTY, np.float32))])
        c["att_penalty"] = g.unsqueeze(penalty, 1)
    return c


def attention_logits(g: GraphBuilder, tables: AttentionTables, c: dict[str, str], query: str) -> str:
    """One step's logits (rows, vocab) from the top layer's new ``query`` (rows, H)."""
    q = g.unsqueeze(query, 1)  # (rows, 1, H)
    if tables.form in ("dot", "luong"):
        scores = g.one("MatMul", [q, c["att_keys"]])
    else:
        if "att_query_scale" in c:
            q = g.one("Mul", [q, c["att_query_scale"]])
        summed = g.one("MatMul", [g.one("Tanh", [g.one("Add", [q, c["att_keys"]])]), c["att_column"]])
        scores = g.one("Transpose", [summed], perm=[0, 2, 1])
    if "att_penalty" in c:
        scores = g.one("Sub", [scores, c["att_penalty"]])
    weights = g.one("Softmax", [scores], axis=-1)
    context = g.squeeze(g.one("MatMul", [weights, c["att_values"]]), 1)
    query_part = g.one("Gemm", [query, c["att_first_query"], c["att_first_bias"]])
    first = g.one("Gemm", [context, c["att_first_context"], query_part])
    if "att_second" not in c:
        return first
    combined = first if tables.combine_activation is None else g.one(tables.combine_activation, [first])
    return g.one("Gemm", [combined, c["att_second"], c["att_second_bias"]])
