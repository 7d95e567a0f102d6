"""Quality on held-out pairs for the canonical model: the int8 schemes against fp32.

Held-out pairs come after the training pairs in the file, minus any whose English source was also a training
source (``fra-eng.txt`` lists several translations of one sentence), so every input is unseen.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from s2s_onnx.models.data import read_pairs

logger = logging.getLogger(__name__)

INT8_SCHEMES: dict[str, dict[str, Any]] = {
    "int8 per-tensor": {"per_channel": False},
    "int8 per-channel": {"per_channel": True},
    "uint8 per-channel": {"per_channel": True, "weight_type": "uint8"},
    "int8 per-channel, reduced range": {"per_channel": True, "reduce_range": True},
    "uint8 per-tensor, reduced range": {"per_channel": False, "weight_type": "uint8", "reduce_range": True},
}


def held_out_pairs(data: Path, trained: int, count: int) -> tuple[list[str], list[str]]:
    """Up to ``count`` pairs after the first ``trained`` whose sources the model never saw."""
    sources, targets = read_pairs(data, trained + 4 * count)
    seen = set(sources[:trained])
    pairs = [(s, t) for s, t in zip(sources[trained:], targets[trained:], strict=True) if s not in seen]
    chosen = pairs[:count]
    return [s for s, _ in chosen], [t for _, t in chosen]


def int8_table(bundle_dir: Path, out: Path, texts: list[str], targets: list[str]) -> list[dict[str, Any]]:
    """Quantize ``bundle_dir`` with every scheme of :data:`INT8_SCHEMES` (kept whatever their identical rate) and
    return their reports; the first scheme's bundle stays at ``out / "int8"`` for the benchmark's int8 rows."""
    from s2s_onnx.export.graphs.quantize import QuantizeOptions, quantize

    rows = []
    for index, (name, settings) in enumerate(INT8_SCHEMES.items()):
        target = out / ("int8" if index == 0 else f"int8-{index}")
        options = QuantizeOptions(min_identical=0.0, force=True, **settings)
        report = quantize(bundle_dir, target, options, texts, targets)
        logger.info("%s", report.format())
        rows.append({"scheme": name, **report.to_dict()})
        if index:
            shutil.rmtree(target)
    (out / "int8-schemes.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


def int8_markdown(rows: list[dict[str, Any]]) -> str:
    """The schemes as a markdown table (fp32 exact match and chrF in the first row's brackets)."""
    lines = [
        "| scheme | speed vs fp32 (batch 1) | identical to fp32 | int8 fused = int8 steps | exact match % | chrF |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        fused_steps = row["fused_equals_steps"]
        lines.append(
            f"| {row['scheme']} | {row['speedup']:.2f}x | {100 * row['identical']:.1f} % | "
            f"{'-' if fused_steps is None else f'{100 * fused_steps:.1f} %'} | "
            f"{100 * row['exact_match']['int8']:.2f} (fp32 {100 * row['exact_match']['fp32']:.2f}) | "
            f"{row['chrf']['int8']:.2f} (fp32 {row['chrf']['fp32']:.2f}) |"
        )
    return "\n".join(lines)


BEAMS = (1, 2, 4, 8)


def beam_table(bundle_dir: Path, out: Path, texts: list[str], targets: list[str]) -> list[dict[str, Any]]:
    """Greedy (beam 1) and beam 2/4/8 on the held-out pairs: exact match, chrF, the share of texts the step path's
    search decodes the same as ``beam.onnx``, and the median latency of one sentence at batch 1 on one thread
    (32 sentences, 3 rounds, the two paths interleaved)."""
    import statistics
    import time

    from s2s_onnx.models.quality import chrf, exact_match
    from s2s_onnx.runtime import DecodeOptions, Seq2SeqModel

    model = Seq2SeqModel.load(bundle_dir, threads=1)
    rows = []
    for beam in BEAMS:
        options = DecodeOptions(unknown="skip", truncate=True, allow_empty=True, batch_size=64, beam_size=beam)
        paths = {"fused": options, "steps": options.replace(strategy="steps")}
        outputs = {name: model.translate(texts, opts) for name, opts in paths.items()}
        timings: dict[str, list[float]] = {name: [] for name in paths}
        for text in texts[:32] * 3:
            for name, opts in paths.items():
                started = time.perf_counter()
                model.translate(text, opts)
                timings[name].append(time.perf_counter() - started)
        fused_ms, steps_ms = (1e3 * statistics.median(timings[name]) for name in paths)
        same = sum(a == b for a, b in zip(outputs["fused"], outputs["steps"], strict=True)) / len(texts)
        rows.append(
            {
                "beam": beam,
                "path": "fused greedy.onnx" if beam == 1 else "fused beam.onnx",
                "exact_match": exact_match(outputs["fused"], targets),
                "chrf": chrf(outputs["fused"], targets),
                "latency_ms": fused_ms,
                "step_path_ms": steps_ms,
                "speedup": steps_ms / fused_ms,
                "same_as_step_path": same,
            }
        )
        logger.info("beam %d: %s", beam, rows[-1])
    (out / "beams.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


def beam_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| beam | path | exact match % | chrF | ms / sentence (batch 1) | step path ms | step path / fused "
        "| same text as step path |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['beam']} | {r['path']} | {100 * r['exact_match']:.2f} | {r['chrf']:.2f} | {r['latency_ms']:.2f} | "
        f"{r['step_path_ms']:.2f} | {r['speedup']:.2f}× | {100 * r['same_as_step_path']:.1f} % |"
        for r in rows
    ]
    return "\n".join(lines)
