"""``s2s-onnx inspect``: what the seed used netron for, in the terminal. Needs only onnxruntime."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import onnxruntime as ort

from . import config as names
from .config import BundleConfig
from .errors import ModelFileNotFoundError
from .model import default_model_path


def op_counts(model: Any) -> Counter[str]:
    """Operator counts of an ``onnx.ModelProto``, subgraphs (``Loop`` bodies) included."""
    counts: Counter[str] = Counter()

    def walk(graph: Any) -> None:
        for node in graph.node:
            counts[node.op_type] += 1
            for attr in node.attribute:
                if attr.HasField("g"):
                    walk(attr.g)

    walk(model.graph)
    return counts


def _op_counts(path: Path) -> Counter[str]:
    """Operator counts from the graph when the ``onnx`` package is installed (else the exporter's record)."""
    try:
        import onnx
    except ImportError:
        return Counter()
    return op_counts(onnx.load(str(path), load_external_data=False))


def _shape(arg: ort.NodeArg) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in arg.shape) + "]"


def describe(bundle: Path) -> str:
    config = BundleConfig.load(bundle)
    vocab = config.vocabulary
    lines = [
        f"bundle {bundle}",
        f"  format version {config.format_version}, opset {config.opset}, latent {config.latent_dim}",
    ]
    lines.append(
        f"  vocabulary: {vocab.num_encoder_tokens} input / {vocab.num_decoder_tokens} output characters; "
        f"max encoder length {vocab.max_encoder_len}, max decoder length {vocab.max_decoder_len}; "
        f"start {vocab.start_char!r}, end {vocab.end_char!r}, pad {vocab.pad_char!r}"
    )
    files = [names.ENCODER_NAME, names.DECODER_NAME] + ([names.GREEDY_NAME] if config.fused else [])
    for name in files:
        path = bundle / name
        if not path.is_file():
            raise ModelFileNotFoundError(f"{path} is missing; re-run 's2s-onnx convert'")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        lines.append(f"{name} ({path.stat().st_size / 1024:.0f} KiB)")
        for arg in session.get_inputs():
            lines.append(f"  in   {arg.name:<16} {arg.type:<16} {_shape(arg)}")
        for arg in session.get_outputs():
            lines.append(f"  out  {arg.name:<16} {arg.type:<16} {_shape(arg)}")
        counts = _op_counts(path) or Counter(config.provenance.get("operators", {}).get(name, {}))
        if counts:
            lines.append("  ops  " + ", ".join(f"{op} x{n}" for op, n in sorted(counts.items())))
    if config.provenance:
        lines.append("provenance")
        for key, value in config.provenance.items():
            if key == "operators":
                continue
            lines.append(f"  {key}: {json.dumps(value) if not isinstance(value, str) else value}")
    lines.append(f"see the graph: pip install netron && netron {bundle / names.DECODER_NAME}")
    return "\n".join(lines)


def inspect_command(args: argparse.Namespace) -> int:
    print(describe(args.bundle if args.bundle is not None else default_model_path()))
    return 0
