"""``s2s-onnx demo``: the whole pipeline on the built-in dates task, in a few minutes on 2 CPU cores."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2s_onnx.models import dates
from s2s_onnx.runtime import Bundle, Seq2SeqModel
from s2s_onnx.runtime.errors import BundleExistsError

from .report import summarise
from .rows import bench_sessions, blas_threads, floor_row, runtime_rows
from .runner import run_benchmark

logger = logging.getLogger(__name__)


DEMO_MARKER = ".s2s-demo"  # in a folder the demo wrote, which a later demo may replace


@dataclass(frozen=True)
class DemoSettings:
    """Smaller than ``train --task dates`` so the demo takes minutes, not ten."""

    output: Path = Path("s2s-demo")
    samples: int = 20000
    epochs: int = 20
    latent_dim: int = 128
    force: bool = False


def _train(settings: DemoSettings) -> tuple[Any, list[str]]:
    from s2s_onnx.models.evaluation import evaluate_dates
    from s2s_onnx.models.training import TrainSettings, save, train

    size = f"{settings.samples} pairs, latent {settings.latent_dim}, {settings.epochs} epochs"
    print(f"[1/5] training the dates model: {size}")
    sources, targets = dates.make_pairs(settings.samples, seed=0)
    train_settings = TrainSettings(epochs=settings.epochs, latent_dim=settings.latent_dim, **dates.TRAIN_SETTINGS)
    result = save(train(sources, targets, train_settings), settings.output, fmt="h5")
    scores = evaluate_dates(result.model, result.vocabulary, set(sources), count=300)
    print(
        f"      trained in {result.seconds:.0f} s; held-out exact match {scores['held_out']:.1%} "
        f"(independent realistic set {scores['realistic']:.1%}); saved {result.model_path}"
    )
    return result, sources


def _convert(result: Any, sources: list[str], bundle_dir: Path) -> None:
    from s2s_onnx.export.tf.convert import ConvertOptions, convert

    print("[2/5] converting the .h5 to an ONNX bundle with parity verification")
    options = ConvertOptions(fused=True, force=True, sentences=tuple(sources[:128]), progress=True)
    converted = convert(result.model_path, bundle_dir, result.vocabulary, options)
    if converted.report is not None:
        print(converted.report.format())


def _translate(bundle_dir: Path) -> None:
    print("[3/5] translating with the TensorFlow-free runtime")
    model = Seq2SeqModel.load(bundle_dir, threads=1)
    for (text, want), iso in zip(dates.SAMPLES, model.translate(list(dates.SAMPLE_INPUTS)), strict=True):
        print(f"      {text!r:<32} -> {iso}  {'ok' if iso == want else 'expected ' + want}")


def _time(result: Any, sources: list[str], bundle_dir: Path) -> None:
    from s2s_onnx.models.inference import build_inference_models

    from .keras_rows import keras_rows

    print("[4/5] timing: Keras vs the runtime (one thread, 12 steps, median of 10)")
    keras_all = keras_rows(build_inference_models(result.model), result.vocabulary)
    loaded = Bundle.open(bundle_dir, bench_sessions(1))
    rows = [r for r in keras_all if not r.slow] + runtime_rows(loaded, "cpu")
    rows.append(floor_row(loaded.architecture))
    batches = {b: result.vocabulary.encode_sources(sources[:b]) for b in (1, 32)}
    with blas_threads(1):
        timed = run_benchmark(rows, "s2s-onnx step loop, I/O binding [cpu]", batches, 12, 10, 1)
    print(f"      {'row':<48} {'batch':>5} {'ms/batch':>10} {'sentences/s':>12} {'tokens':>7}")
    for r in summarise(timed):
        if "sentence_median_ms" in r:
            match = {True: "same", False: "DIFF", None: "-"}[r["tokens_match_runtime"]]
            print(
                f"      {r['row']:<48} {r['batch_size']:>5} {r['sentence_median_ms']:>10.3f} "
                f"{r['throughput_sentences_per_s']:>12.0f} {match:>7}"
            )


def prepare_output(settings: DemoSettings) -> Path:
    """The demo's folder, empty and marked as the demo's: an earlier demo's output is replaced, anything else is
    refused unless ``force``."""
    out = settings.output
    ours = (out / DEMO_MARKER).is_file()
    if out.exists() and any(out.iterdir()) and not (settings.force or ours):
        raise BundleExistsError(
            f"output {str(out)!r} already exists and was not written by the demo; pass --force to write into it, "
            "or -o DIR"
        )
    if ours:
        print(f"[0/5] replacing the previous demo in {out}")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("written by 's2s-onnx demo', which replaces this folder when run again\n")
    return out


def run_demo(settings: DemoSettings) -> Path:
    """Train, save ``.h5``, convert with parity, translate and time; returns the bundle directory."""
    out = prepare_output(settings)
    result, sources = _train(settings)
    bundle_dir = out / "bundle"
    _convert(result, sources, bundle_dir)
    _translate(bundle_dir)
    _time(result, sources, bundle_dir)
    print(f"[5/5] done: everything is in {out.resolve()}")
    print(f'      try: s2s-onnx translate --model {bundle_dir} "July 4th, 1976"')
    return bundle_dir
