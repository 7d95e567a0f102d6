"""``s2s-onnx inspect``: a bundle's graphs, operators, vocabulary and provenance in the terminal (what netron
shows, and more). Needs only onnxruntime."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import onnxruntime as ort

from .. import config as names
from ..architecture import Architecture
from ..bundle import Bundle
from ..onnx_scan import op_counts


def file_op_counts(path: Path) -> Counter[str]:
    """Operator counts read from the file when the ``onnx`` package is installed (else empty)."""
    try:
        import onnx
    except ImportError:
        return Counter()
    return op_counts(onnx.load(str(path), load_external_data=False))


def _shape(arg: ort.NodeArg) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in arg.shape) + "]"


def describe_architecture(model: Architecture) -> str:
    """E.g. ``2-layer GRU, bidirectional encoder, encoder ids / decoder one-hot, word tokens; decoder states ...``."""
    states = ", ".join(f"{s.name} [{s.width}]" for s in model.states)
    kinds = {"one_hot": "one-hot", "ids": "ids (Embedding)"}
    inputs = (
        f"{kinds[model.input]} inputs"
        if model.input == model.target_input
        else f"encoder {kinds[model.input]} / decoder {kinds[model.target_input]} inputs"
    )
    words = {"char": "characters", "word": "words"}
    attention = f", {model.attention} attention over {', '.join(model.memory)}" if model.attention else ""
    return (
        f"{model.layers}-layer {model.cell.upper()}, {model.direction} encoder{attention}, {inputs}, "
        f"{words[model.tokenization]}; decoder states {states}"
    )


def _header(bundle: Bundle) -> list[str]:
    config, vocab = bundle.config, bundle.vocabulary
    return [
        f"bundle {bundle.path}",
        f"  format version {config.format_version}, opset {config.opset}, latent {config.latent_dim}",
        f"  model: {describe_architecture(config.model)}",
        f"  vocabulary: {vocab.num_encoder_tokens} input / {vocab.num_decoder_tokens} output tokens; "
        f"max encoder length {vocab.max_encoder_len}, max decoder length {vocab.max_decoder_len}; "
        f"start {vocab.start_char!r}, end {vocab.end_char!r}, pad {vocab.pad_char!r}",
        f"  decode loop: {vocab.loop.describe()}",
    ]


def _graph_lines(bundle: Bundle, name: str, session: ort.InferenceSession) -> list[str]:
    path = bundle.path / name
    lines = [f"{name} ({path.stat().st_size / 1024:.0f} KiB)"]
    lines += [f"  in   {a.name:<16} {a.type:<16} {_shape(a)}" for a in session.get_inputs()]
    lines += [f"  out  {a.name:<16} {a.type:<16} {_shape(a)}" for a in session.get_outputs()]
    operators = bundle.config.provenance.get("operators")
    recorded = operators.get(name) if isinstance(operators, dict) else None
    counts = file_op_counts(path) or Counter(
        {op: n for op, n in (recorded or {}).items() if isinstance(n, int)} if isinstance(recorded, dict) else {}
    )
    if counts:
        lines.append("  ops  " + ", ".join(f"{op} x{n}" for op, n in sorted(counts.items())))
    return lines


def describe(bundle: Bundle) -> str:
    """A bundle's config, graphs (inputs, outputs, operators) and provenance as text."""
    lines = _header(bundle)
    for name, session in bundle.sessions().items():
        lines += _graph_lines(bundle, name, session)
    provenance = bundle.config.provenance
    if provenance:
        lines.append("provenance")
        for key, value in provenance.items():
            if key != "operators":
                lines.append(f"  {key}: {value if isinstance(value, str) else _json(value)}")
    lines.append(f"see the graph: pip install netron && netron {bundle.path / names.DECODER_NAME}")
    return "\n".join(safe_for_terminal(line) for line in lines)


def _json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):
        return "(too deeply nested to show)"


def safe_for_terminal(text: str) -> str:
    """``text`` with control characters (escape sequences that would clear the screen or retitle the window, from
    an untrusted bundle) and lone surrogates shown as ``\\x1b``-style escapes instead of sent to the terminal."""
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )
