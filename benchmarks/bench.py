"""``s2s-onnx bench``: every way of decoding the same model, timed in one interleaved run."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from s2s_onnx.runtime.bundle import Bundle
from s2s_onnx.runtime.sessions import CUDA

from . import report
from .rows import (
    ALL_PRODUCTS,
    Row,
    all_products_row,
    attention_head,
    bench_sessions,
    blas_threads,
    floor_row,
    runtime_rows,
    sentence_products,
    weight_bytes,
)
from .runner import run_benchmark

logger = logging.getLogger(__name__)


@dataclass
class BenchSettings:
    bundle_dir: Path
    keras_file: Path | None = None
    int8_bundle: Path | None = None  # an 's2s-onnx quantize' output of ``bundle``: int8 rows
    batch_sizes: tuple[int, ...] = (1, 8, 64)
    steps: int = 50
    repeats: int = 20
    slow_repeats: int = 3
    threads: int = 1
    device: str = "cpu"
    out: Path = Path("bench-results")
    progress: bool = True
    notes: list[str] = field(default_factory=list)


@dataclass
class BenchResult:
    records: list[dict[str, Any]]
    table: str
    json_path: Path
    plot_path: Path | None


def _inputs(bundle: Bundle, batch_size: int) -> np.ndarray:
    """Real-looking inputs: random sequences of the input tokens (not the padding token), of mixed lengths."""
    vocab = bundle.vocabulary
    rng = np.random.default_rng(batch_size)
    tokens = [t for t in vocab.input_chars if t]
    rows = [
        [tokens[i] for i in rng.integers(0, len(tokens), size=int(n))]
        for n in rng.integers(1, vocab.max_encoder_len + 1, size=batch_size)
    ]
    return bundle.encoder_input(rows)


def _optional_rows(settings: BenchSettings, bundle: Bundle) -> list[Row]:
    """Keras and LiteRT rows when --keras is given and the export extra is installed."""
    if settings.keras_file is None:
        settings.notes.append("Keras and LiteRT rows skipped: pass --keras MODEL_FILE to add them")
        return []
    try:
        from s2s_onnx.models.inference import build_inference_models
        from s2s_onnx.models.loading import load_training_model

        from .keras_rows import keras_rows, litert_row, set_threads
    except ImportError as exc:
        settings.notes.append(
            f"Keras and LiteRT rows skipped: {exc.name} is not installed (pip install 's2s-onnx[export]')"
        )
        return []
    set_threads(settings.threads)
    models = build_inference_models(load_training_model(settings.keras_file).model)
    rows = keras_rows(models, bundle.vocabulary)
    litert, why = litert_row(models, bundle.vocabulary)
    if litert is None:
        settings.notes.append(f"LiteRT row skipped: {why}")
    else:
        rows.append(litert)
    return rows


def _has_threadpoolctl() -> bool:
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


def _rows(settings: BenchSettings, bundle: Bundle) -> list[Row]:
    rows = _optional_rows(settings, bundle) + runtime_rows(bundle, "cpu")
    if settings.int8_bundle is not None:
        rows += runtime_rows(Bundle.open(settings.int8_bundle, bench_sessions(settings.threads)), "cpu, int8", True)
    if settings.device == "cuda":
        cuda = Bundle.open(settings.bundle_dir, bench_sessions(settings.threads, "cuda"))
        if CUDA in cuda.providers:
            rows += runtime_rows(cuda, "cuda")
        else:
            settings.notes.append("CUDA rows skipped: the CUDA provider fell back to CPU")
    rows.append(floor_row(bundle.architecture))
    rows.append(all_products_row(bundle.architecture, bundle.vocabulary.num_decoder_tokens, attention_head(bundle)))
    return rows


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="bench", unit="run")


def _settings_record(settings: BenchSettings, bundle: Bundle) -> dict[str, Any]:
    return {
        "bundle": str(settings.bundle_dir),
        "keras_file": str(settings.keras_file) if settings.keras_file else None,
        "batch_sizes": list(settings.batch_sizes),
        "steps": settings.steps,
        "repeats": settings.repeats,
        "slow_repeats": settings.slow_repeats,
        "threads": {
            "onnxruntime_intra_op": settings.threads,
            "tensorflow_intra_op": settings.threads,
            "litert": settings.threads,
            "numpy_blas_floor": settings.threads if _has_threadpoolctl() else "library default",
            "onnxruntime_spinning": False,
        },
        "device": settings.device,
        "latent_dim": bundle.latent_dim,
        "model": bundle.architecture.describe(),
        **_weight_traffic(bundle),
        "input_tokens": bundle.vocabulary.num_encoder_tokens,
        "output_tokens": bundle.vocabulary.num_decoder_tokens,
    }


def _weight_traffic(bundle: Bundle) -> dict[str, int]:
    """float32 weight bytes each encoder and decoder step reads: at batch 1 a step is a mat-vec over them, so
    (bytes / step time) is the cache or memory bandwidth it needs."""
    encoder, decoder = sentence_products(
        bundle.architecture, bundle.vocabulary.num_decoder_tokens, attention_head(bundle)
    )
    return {"encoder_step_weight_bytes": weight_bytes(encoder), "decoder_step_weight_bytes": weight_bytes(decoder)}


def _floor_notes(
    records: list[dict[str, Any]], bundle: Bundle, batches: dict[int, np.ndarray], steps: int
) -> list[str]:
    """What the all-products floor's time implies, per batch size: the weight bytes it streams per second, and
    its arithmetic rate (numpy's sgemm on the model's own shapes) against the fused row's on the same products."""
    traffic = _weight_traffic(bundle)
    fused = {r["batch_size"]: r for r in records if "fused greedy.onnx" in r["row"] and "int8" not in r["row"]}
    notes = []
    for record in records:
        if record["row"] != ALL_PRODUCTS or "sentence_median_ms" not in record:
            continue
        batch, seconds = record["batch_size"], record["sentence_median_ms"] / 1e3
        streamed = traffic["encoder_step_weight_bytes"] * batches[batch].shape[1]
        per_step = traffic["decoder_step_weight_bytes"]
        streamed += per_step * steps
        notes.append(
            f"batch {batch}: the all-products floor streams {streamed / 1e6:.1f} MB of float32 weights per "
            f"sentence, {streamed / seconds / 1e9:.1f} GB/s (per decoder step: {per_step / 1e6:.2f} MB)"
        )
        flops = streamed / 4 * 2 * batch  # one multiply-add per weight and row, per batch
        rate = flops / seconds / 1e9
        if batch in fused and "sentence_median_ms" in fused[batch]:
            fused_rate = flops / (fused[batch]["sentence_median_ms"] / 1e3) / 1e9
            notes.append(
                f"batch {batch}: numpy sgemm on the same products runs {rate:.1f} GFLOP/s; the fused graph does them "
                f"at {fused_rate:.1f} GFLOP/s ({100 * fused_rate / rate:.0f} % of sgemm, everything else included)"
            )
            if fused_rate > rate:
                notes.append(unreliable_note(f"batch {batch}: the floor ran slower than the fused graph"))
    return notes


def unreliable_note(what: str) -> str:
    """A floor is a lower bound: when a measurement contradicts that, the machine was busy while it ran."""
    return (
        f"UNRELIABLE: {what}, which a floor cannot do; the machine was busy during the run. Repeat the "
        "benchmark on an idle machine (more --repeats help) before using these figures"
    )


def benchmark(settings: BenchSettings) -> BenchResult:
    """Time every row on every batch size, check their tokens, and write the table, JSON and plot."""
    bundle = Bundle.open(settings.bundle_dir, bench_sessions(settings.threads))
    reference = "s2s-onnx step loop, I/O binding [cpu]"
    rows = _rows(settings, bundle)
    batches = {b: _inputs(bundle, b) for b in settings.batch_sizes}
    total = sum((settings.slow_repeats if row.slow else settings.repeats) for row in rows) * len(batches)
    bar = _progress_bar(total, settings.progress)

    def tick(text: str) -> None:
        if bar is not None:
            bar.set_postfix_str(text[:40])
            bar.update(1)

    try:
        with blas_threads(settings.threads):
            results = run_benchmark(
                rows,
                reference,
                batches,
                settings.steps,
                settings.repeats,
                settings.slow_repeats,
                tick,
                bundle.vocabulary.end_id,
            )
    finally:
        if bar is not None:
            bar.close()
    records = report.summarise(results)
    settings.notes += _floor_notes(records, bundle, batches, settings.steps)
    settings.out.mkdir(parents=True, exist_ok=True)
    json_path = settings.out / "bench.json"
    report.write_json(json_path, records, _settings_record(settings, bundle), settings.notes)
    title = (
        f"s2s-onnx bench: {bundle.architecture.describe()}, latent {bundle.latent_dim}, "
        f"{bundle.vocabulary.num_decoder_tokens} output tokens, "
        f"{settings.steps} steps, {settings.threads} thread(s)"
    )
    plot_path: Path | None = settings.out / "bench.png"
    if not report.plot(settings.out / "bench.png", records, title):
        plot_path = None
    return BenchResult(records, report.table(records), json_path, plot_path)
