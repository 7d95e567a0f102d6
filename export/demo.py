"""``s2s-onnx demo``: the whole pipeline on the built-in dates task, in a few minutes on 2 CPU cores."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from s2s_onnx.benchmarks.report import summarise
from s2s_onnx.benchmarks.rows import blas_threads, floor_row, runtime_rows
from s2s_onnx.benchmarks.runner import run_benchmark
from s2s_onnx.models import dates
from s2s_onnx.models.cli import DATES_TRAIN, evaluate_dates
from s2s_onnx.models.inference import build_inference_models
from s2s_onnx.models.training import TrainSettings, save, train
from s2s_onnx.runtime import Seq2SeqModel
from s2s_onnx.runtime.sessions import make_session_options

from .convert import convert

# Smaller than `train --task dates` so the demo takes minutes, not ten.
DEMO_SAMPLES = 20000
DEMO_EPOCHS = 20
DEMO_LATENT = 128


def _expected(text: str) -> str:
    """The ISO date a sample spelling stands for, found by spelling every date of the task's range."""
    day, last = dates.FIRST, dates.LAST
    while day <= last:
        if any(spell(day) == text for spell in dates.SPELLINGS):
            return day.isoformat()
        day += dt.timedelta(days=1)
    return "?"


def demo_command(args: argparse.Namespace) -> int:
    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    samples = args.num_samples or DEMO_SAMPLES
    latent = args.latent_dim or DEMO_LATENT
    epochs = args.epochs or DEMO_EPOCHS
    print(f"[1/5] training the dates model: {samples} pairs, latent {latent}, {epochs} epochs")
    sources, targets = dates.make_pairs(samples, seed=0)
    settings = TrainSettings(epochs=epochs, latent_dim=latent, **DATES_TRAIN)
    result = save(train(sources, targets, settings), out, fmt="h5")
    accuracy = evaluate_dates(result.model, result.vocabulary, set(sources), count=300)
    print(f"      trained in {result.seconds:.0f} s; held-out exact match {accuracy:.1%}; saved {result.model_path}")

    print("[2/5] converting the .h5 to an ONNX bundle with parity verification")
    bundle = out / "bundle"
    converted = convert(
        result.model_path or out / "model.h5",
        bundle,
        result.vocabulary,
        fused=True,
        force=True,
        sentences=sources[:128],
        progress=True,
    )
    if converted.report is not None:
        print(converted.report.format())

    print("[3/5] translating with the TensorFlow-free runtime")
    model = Seq2SeqModel.load(bundle, threads=1)
    for text, iso in zip(dates.SAMPLE_INPUTS, model.translate(list(dates.SAMPLE_INPUTS)), strict=True):
        want = _expected(text)
        print(f"      {text!r:<32} -> {iso}  {'ok' if iso == want else 'expected ' + want}")

    print("[4/5] timing: Keras vs the runtime (onnxruntime on one thread, 12 steps, median of 10)")
    from s2s_onnx.benchmarks.keras_rows import keras_rows

    models = build_inference_models(result.model)
    keras_all = keras_rows(models, result.vocabulary)
    rows = [r for r in keras_all if not r.slow] + runtime_rows(
        Seq2SeqModel.load(bundle, sess_options=make_session_options(1, None)), "cpu"
    )
    rows.append(floor_row(latent))
    batches = {b: result.vocabulary.encode_sources(sources[:b]) for b in (1, 32)}
    with blas_threads(1):
        timed = run_benchmark(rows, "s2s-onnx step loop, I/O binding [cpu]", batches, 12, 10, 1)
    records = summarise(timed)
    print(f"      {'row':<48} {'batch':>5} {'ms/sentence':>12} {'sentences/s':>12} {'tokens':>7}")
    for r in records:
        if "sentence_median_ms" in r:
            match = {True: "same", False: "DIFF", None: "-"}[r["tokens_match_runtime"]]
            print(
                f"      {r['row']:<48} {r['batch_size']:>5} {r['sentence_median_ms']:>12.3f} "
                f"{r['throughput_sentences_per_s']:>12.0f} {match:>7}"
            )
    print(f"[5/5] done: everything is in {out.resolve()}")
    print(f'      try: s2s-onnx translate --model {bundle} "July 4th, 1976"')
    return 0
