"""``s2s-onnx bench``: every way of decoding the same model, timed in one interleaved run."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from s2s_onnx.runtime.errors import S2SError
from s2s_onnx.runtime.model import Seq2SeqModel
from s2s_onnx.runtime.sessions import CUDA

from . import report
from .rows import Row, bench_session_options, blas_threads, floor_row, runtime_rows
from .runner import run_benchmark

logger = logging.getLogger(__name__)


@dataclass
class BenchSettings:
    bundle: Path
    keras_file: Path | None = None
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


def _inputs(model: Seq2SeqModel, batch_size: int) -> np.ndarray:
    """Real-looking inputs: random strings over the input characters, of mixed lengths."""
    vocab = model.vocabulary
    rng = np.random.default_rng(batch_size)
    chars = vocab.input_chars
    texts = [
        "".join(chars[i] for i in rng.integers(0, len(chars), size=int(n)))
        for n in rng.integers(1, vocab.max_encoder_len + 1, size=batch_size)
    ]
    return vocab.encode_sources(texts)


def _optional_rows(settings: BenchSettings, model: Seq2SeqModel) -> list[Row]:
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
    rows = keras_rows(models, model.vocabulary)
    litert, why = litert_row(models, model.vocabulary)
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


def benchmark(settings: BenchSettings) -> BenchResult:
    options = bench_session_options(settings.threads)
    model = Seq2SeqModel.load(settings.bundle, device="cpu", sess_options=options)
    reference = "s2s-onnx step loop, I/O binding [cpu]"
    rows: list[Row] = []
    rows += _optional_rows(settings, model)
    rows += runtime_rows(model, "cpu")
    if settings.device == "cuda":
        cuda_model = Seq2SeqModel.load(
            settings.bundle, device="cuda", sess_options=bench_session_options(settings.threads)
        )
        if CUDA in cuda_model.providers:
            rows += runtime_rows(cuda_model, "cuda")
        else:
            settings.notes.append("CUDA rows skipped: the CUDA provider fell back to CPU")
    rows.append(floor_row(model.config.latent_dim))
    batches = {b: _inputs(model, b) for b in settings.batch_sizes}
    total = sum((settings.slow_repeats if row.slow else settings.repeats) for row in rows) * len(batches)
    bar = None
    if settings.progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="bench", unit="run")
        except ImportError:
            bar = None

    def tick(text: str) -> None:
        if bar is not None:
            bar.set_postfix_str(text[:40])
            bar.update(1)

    try:
        with blas_threads(settings.threads):
            results = run_benchmark(
                rows, reference, batches, settings.steps, settings.repeats, settings.slow_repeats, tick
            )
    finally:
        if bar is not None:
            bar.close()
    records = report.summarise(results)
    settings.out.mkdir(parents=True, exist_ok=True)
    json_path = settings.out / "bench.json"
    bench_settings = {
        "bundle": str(settings.bundle),
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
        "latent_dim": model.config.latent_dim,
        "input_chars": model.vocabulary.num_encoder_tokens,
        "output_chars": model.vocabulary.num_decoder_tokens,
    }
    report.write_json(json_path, records, bench_settings, settings.notes)
    plot_path: Path | None = settings.out / "bench.png"
    title = (
        f"s2s-onnx bench: latent {model.config.latent_dim}, {model.vocabulary.num_decoder_tokens} output chars, "
        f"{settings.steps} steps, {settings.threads} thread(s)"
    )
    if not report.plot(settings.out / "bench.png", records, title):
        plot_path = None
    return BenchResult(records, report.table(records), json_path, plot_path)


def bench_command(args: argparse.Namespace) -> int:
    try:
        batch_sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    except ValueError as exc:
        raise S2SError(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}") from exc
    settings = BenchSettings(
        bundle=args.model,
        keras_file=args.keras,
        batch_sizes=batch_sizes,
        steps=args.steps,
        repeats=2 if args.quick else args.repeats,
        slow_repeats=1 if args.quick else 3,
        threads=args.threads,
        device=args.device,
        out=args.out,
    )
    result = benchmark(settings)
    print(result.table)
    for note in settings.notes:
        print(f"note: {note}")
    print(f"wrote {result.json_path}" + (f" and {result.plot_path}" if result.plot_path else ""))
    return 0
