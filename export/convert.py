"""Convert a trained Keras seq2seq model file into a verified ONNX bundle (``s2s-onnx convert``)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import onnx
import tensorflow as tf
import tf2onnx

from s2s_onnx.models.inference import InferenceModels, build_inference_models, split_max_abs_diff
from s2s_onnx.models.loading import load_training_model
from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.config import BundleConfig
from s2s_onnx.runtime.errors import BundleExistsError, OutputError, ParityError, VocabularyMismatchError
from s2s_onnx.runtime.sessions import create_session, make_session_options
from s2s_onnx.runtime.vocab import Vocabulary

from .graph import check_fused_lstm, name_dynamic_axes, op_counts, rename_inputs, rename_outputs
from .parity import DEFAULT_TOLERANCE, ParityReport, check_onnx

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 17

# A cuDNN LSTM graph does not convert: keep TensorFlow on the CPU even on a GPU host.
with contextlib.suppress(RuntimeError, ValueError):
    tf.config.set_visible_devices([], "GPU")


@dataclass(frozen=True)
class ConvertResult:
    bundle: Path
    config: BundleConfig
    report: ParityReport | None
    seconds: float


class _Progress:
    """Stage progress on stderr (tqdm) when asked for, a log line otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc="convert", unit="step", leave=True)

    def stage(self, text: str) -> None:
        logger.info("%s", text)
        if self._bar is not None:
            self._bar.set_postfix_str(text)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_vocabulary(vocab: Vocabulary, models: InferenceModels) -> None:
    spec = models.spec
    if vocab.num_encoder_tokens != spec.num_encoder_tokens:
        raise VocabularyMismatchError(
            f"vocabulary has {vocab.num_encoder_tokens} input characters but the model's encoder takes "
            f"{spec.num_encoder_tokens}; use the vocabulary the model was trained with (or the same --data "
            "and --num-samples)"
        )
    if vocab.num_decoder_tokens != spec.num_decoder_tokens or vocab.num_decoder_tokens != spec.num_output_tokens:
        raise VocabularyMismatchError(
            f"vocabulary has {vocab.num_decoder_tokens} target characters but the model's decoder takes "
            f"{spec.num_decoder_tokens} and outputs {spec.num_output_tokens}; use the vocabulary the model was "
            "trained with (or the same --data and --num-samples)"
        )


def to_onnx(models: InferenceModels, opset: int = DEFAULT_OPSET) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """tf2onnx-convert the encoder and decoder-step models, with stable names and checks."""
    spec = models.spec
    latent = spec.latent_dim
    enc_sig = (tf.TensorSpec((None, None, spec.num_encoder_tokens), tf.float32, name=names.ENCODER_INPUT),)
    encoder, _ = tf2onnx.convert.from_keras(models.encoder, input_signature=enc_sig, opset=opset)
    dec_sig = (
        tf.TensorSpec((None, None, spec.num_decoder_tokens), tf.float32, name=names.DECODER_INPUT),
        tf.TensorSpec((None, latent), tf.float32, name=names.STATE_H),
        tf.TensorSpec((None, latent), tf.float32, name=names.STATE_C),
    )
    decoder, _ = tf2onnx.convert.from_keras(models.decoder, input_signature=dec_sig, opset=opset)
    rename_inputs(encoder, [names.ENCODER_INPUT])
    rename_outputs(encoder, [names.STATE_H, names.STATE_C])
    rename_inputs(decoder, [names.DECODER_INPUT, names.STATE_H, names.STATE_C])
    rename_outputs(decoder, [names.PROBS, names.STATE_H_OUT, names.STATE_C_OUT])
    batch_time = ("batch", "time")
    name_dynamic_axes(
        encoder,
        {names.ENCODER_INPUT: batch_time, names.STATE_H: ("batch",), names.STATE_C: ("batch",)},
    )
    name_dynamic_axes(
        decoder,
        {
            names.DECODER_INPUT: batch_time,
            names.PROBS: batch_time,
            names.STATE_H: ("batch",),
            names.STATE_C: ("batch",),
            names.STATE_H_OUT: ("batch",),
            names.STATE_C_OUT: ("batch",),
        },
    )
    check_fused_lstm(encoder, "encoder")
    check_fused_lstm(decoder, "decoder")
    encoder.graph.name, decoder.graph.name = "s2s_encoder", "s2s_decoder_step"
    onnx.checker.check_model(encoder)
    onnx.checker.check_model(decoder)
    return encoder, decoder


@contextlib.contextmanager
def atomic_directory(target: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``target`` only if the block succeeds."""
    if target.exists() and not force:
        raise BundleExistsError(f"output {str(target)!r} already exists; pass --force to replace it")
    if target.exists() and not target.is_dir():
        raise OutputError(f"output {str(target)!r} exists and is not a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        umask = os.umask(0)
        os.umask(umask)
        work.chmod(0o777 & ~umask)  # mkdtemp makes it private; a bundle is an ordinary directory
    except OSError as exc:
        raise OutputError(f"cannot write to {str(target.parent)!r}: {exc.strerror or exc}") from exc
    try:
        yield work
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            work.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def convert(
    model_file: str | Path,
    output: str | Path,
    vocabulary: Vocabulary,
    *,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    sentences: list[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    fused: bool = False,
    force: bool = False,
    progress: bool = False,
) -> ConvertResult:
    """Convert ``model_file`` to a bundle at ``output``; with ``verify`` prove parity before writing.

    ``sentences`` (real inputs, e.g. from the pairs file) join the random inputs of the parity check.
    Nothing is left at ``output`` when any step fails.
    """
    started = time.perf_counter()
    model_path, target = Path(model_file), Path(output)
    if target.exists() and not force:
        raise BundleExistsError(f"output {str(target)!r} already exists; pass --force to replace it")
    bar = _Progress(total=6 + int(fused), enabled=progress)
    try:
        loaded = load_training_model(model_path)
        bar.stage(f"loaded {loaded.flavour} model")
        models = build_inference_models(loaded.model)
        check_vocabulary(vocabulary, models)
        bar.stage("split into encoder and decoder step")
        encoder_onnx, decoder_onnx = to_onnx(models, opset)
        bar.stage("converted with tf2onnx")
        greedy_onnx = None
        if fused:
            from .fused import build_greedy

            greedy_onnx = build_greedy(encoder_onnx, decoder_onnx, vocabulary, opset)
            bar.stage("built fused greedy graph")
        config = BundleConfig(
            vocabulary=vocabulary,
            latent_dim=models.spec.latent_dim,
            opset=opset,
            fused=fused,
            provenance={
                "source_file": model_path.name,
                "source_sha256": sha256_of(model_path),
                "source_flavour": loaded.flavour,
                "source_keras_version": loaded.keras_version,
                "keras_version": keras.__version__,
                "tensorflow_version": tf.__version__,
                "tf2onnx_version": tf2onnx.__version__,
                "onnx_version": onnx.__version__,
                "source_layers": list(models.spec.layer_names),
                "operators": {
                    name: dict(sorted(op_counts(graph).items()))
                    for name, graph in (
                        (names.ENCODER_NAME, encoder_onnx),
                        (names.DECODER_NAME, decoder_onnx),
                        (names.GREEDY_NAME, greedy_onnx),
                    )
                    if graph is not None
                },
            },
        )
        with atomic_directory(target, force) as work:
            onnx.save(encoder_onnx, work / names.ENCODER_NAME)
            onnx.save(decoder_onnx, work / names.DECODER_NAME)
            if greedy_onnx is not None:
                onnx.save(greedy_onnx, work / names.GREEDY_NAME)
            config.save(work)
            bar.stage("wrote bundle files")
            report = None
            if verify:
                report = verify_bundle(work, loaded.model, models, vocabulary, sentences or [], tolerance)
                if not report.ok:
                    raise ParityError("ONNX and Keras disagree; nothing was written.\n" + report.format())
            bar.stage("verified parity" if verify else "skipped parity (--no-verify)")
        bar.stage(f"bundle ready at {target}")
    finally:
        bar.close()
    return ConvertResult(bundle=target, config=config, report=report, seconds=time.perf_counter() - started)


def verify_bundle(
    bundle: Path,
    training_model: object,
    models: InferenceModels,
    vocabulary: Vocabulary,
    sentences: list[str],
    tolerance: float,
) -> ParityReport:
    options = make_session_options(1, None)
    cpu = ["CPUExecutionProvider"]
    encoder = create_session(bundle / names.ENCODER_NAME, cpu, None, options)
    decoder = create_session(bundle / names.DECODER_NAME, cpu, None, options)
    clean = [s for s in sentences if all(c in vocabulary.input_index for c in s)]
    clean = [s for s in clean if len(s) <= vocabulary.max_encoder_len]
    report = check_onnx(models, encoder, decoder, vocabulary, clean, tolerance)
    report.split_max_abs_diff = split_max_abs_diff(training_model, models)
    if (bundle / names.GREEDY_NAME).exists():
        from .fused import check_greedy

        check_greedy(bundle, encoder, decoder, vocabulary, models.spec.latent_dim, clean, report)
    return report
