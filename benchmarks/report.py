"""Benchmark output: a terminal table, a JSON file with the machine and versions, and a PNG plot."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from .rows import ALL_PRODUCTS, FLOOR
from .runner import RowResult

SEED_ROW = "Keras example loop, predict() per step"
PACKAGES = (
    "s2s-onnx",
    "numpy",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnx",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "tf2onnx",
    "ai-edge-litert",
)


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def summarise(results: list[RowResult]) -> list[dict[str, Any]]:
    """One record per (row, batch size) with stats and ratios to the Keras example's loop and to the floor."""
    records = []
    for result in results:
        record: dict[str, Any] = {
            "row": result.name,
            "batch_size": result.batch_size,
            "steps": result.steps,
            "repeats": len(result.seconds),
            "tokens_match_runtime": result.tokens_match,
            "token_agreement": result.token_agreement,
            "error": result.error,
            **result.stats(),
        }
        records.append(record)
    for batch in {r["batch_size"] for r in records}:
        same = {r["row"]: r for r in records if r["batch_size"] == batch}
        seed = same.get(SEED_ROW, {}).get("sentence_median_ms")
        floor = same.get(FLOOR, {}).get("sentence_median_ms")
        honest = same.get(ALL_PRODUCTS, {}).get("sentence_median_ms")
        for r in same.values():
            if "sentence_median_ms" not in r:
                continue
            r["speedup_vs_seed"] = seed / r["sentence_median_ms"] if seed else None
            r["ratio_to_floor"] = r["sentence_median_ms"] / floor if floor else None
            r["ratio_to_all_products"] = r["sentence_median_ms"] / honest if honest else None
    return records


def table(records: list[dict[str, Any]]) -> str:
    head = (
        f"{'row':<52} {'batch':>5} {'step µs':>9} {'sent ms':>9} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'sent/s':>9} {'vs seed':>8} {'/floor':>7} {'/all':>6} {'tokens':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in records:
        if "sentence_median_ms" not in r:
            why = r["error"] or (
                "tokens differ from the runtime's" if r["tokens_match_runtime"] is False else "not run"
            )
            lines.append(f"{r['row'][:52]:<52} {r['batch_size']:>5}  {why}")
            continue
        seed = f"{r['speedup_vs_seed']:.0f}x" if r.get("speedup_vs_seed") else "-"
        floor = f"{r['ratio_to_floor']:.2f}" if r.get("ratio_to_floor") else "-"
        honest = f"{r['ratio_to_all_products']:.2f}" if r.get("ratio_to_all_products") else "-"
        match = {True: "same", False: "DIFF", None: "-"}[r["tokens_match_runtime"]]
        if r["tokens_match_runtime"] is False and r.get("token_agreement") is not None:
            match = f"{r['token_agreement']:.0%}"
        lines.append(
            f"{r['row'][:52]:<52} {r['batch_size']:>5} {r['step_median_us']:>9.1f} {r['sentence_median_ms']:>9.3f} "
            f"{r['sentence_p90_ms']:>8.3f} {r['sentence_p99_ms']:>8.3f} {r['throughput_sentences_per_s']:>9.1f} "
            f"{seed:>8} {floor:>7} {honest:>6} {match:>6}"
        )
    return "\n".join(lines)


def write_json(path: Path, records: list[dict[str, Any]], settings: dict[str, Any], notes: list[str]) -> None:
    payload = {
        "machine": machine_info(),
        "versions": versions(),
        "settings": settings,
        "notes": notes,
        "results": records,
    }
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def plot(path: Path, records: list[dict[str, Any]], title: str) -> bool:
    """Per-step latency at the smallest batch (log scale) and throughput against batch size."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    timed = [r for r in records if "step_median_us" in r]
    if not timed:
        return False
    smallest = min(r["batch_size"] for r in timed)
    first = sorted((r for r in timed if r["batch_size"] == smallest), key=lambda r: r["step_median_us"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [1.2, 1]})
    left.barh([r["row"] for r in first], [r["step_median_us"] for r in first], color="tab:blue")
    left.set_xscale("log")
    left.invert_yaxis()
    left.set_xlabel(f"median latency per decoder step, µs (batch {smallest}, log scale)")
    for i, r in enumerate(first):
        left.text(r["step_median_us"], i, f" {r['step_median_us']:.0f}", va="center", fontsize=8)
    for name in dict.fromkeys(r["row"] for r in timed):
        points = sorted((r["batch_size"], r["throughput_sentences_per_s"]) for r in timed if r["row"] == name)
        if name == FLOOR or len(points) < 1:
            continue
        right.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xlabel("batch size")
    right.set_ylabel("sentences per second")
    right.legend(fontsize=7)
    right.grid(True, which="both", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def markdown(records: list[dict[str, Any]], batch_sizes: tuple[int, ...] | None = None) -> str:
    """A Markdown table (per-step and per-sentence medians, throughput, ratios) for READMEs."""
    lines = [
        "| row | batch | µs / step | ms / sentence (p90) | sentences/s | vs seed | × mat-vec floor | × all products |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in records:
        if "sentence_median_ms" not in r or (batch_sizes and r["batch_size"] not in batch_sizes):
            continue
        seed = f"{r['speedup_vs_seed']:.0f}×" if r.get("speedup_vs_seed") else "–"
        floor = f"{r['ratio_to_floor']:.2f}" if r.get("ratio_to_floor") else "–"
        every = f"{r['ratio_to_all_products']:.2f}" if r.get("ratio_to_all_products") else "–"
        lines.append(
            f"| {r['row']} | {r['batch_size']} | {r['step_median_us']:.1f} | "
            f"{r['sentence_median_ms']:.2f} ({r['sentence_p90_ms']:.2f}) | {r['throughput_sentences_per_s']:.1f} | "
            f"{seed} | {floor} | {every} |"
        )
    return "\n".join(lines)
