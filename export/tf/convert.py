"""Convert a trained Keras seq2seq model file into a verified ONNX bundle (``s2s-onnx convert``)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import onnx
import tensorflow as tf
import tf2onnx

from s2s_onnx.models.inference import InferenceModels, build_inference_models, split_max_abs_diff
from s2s_onnx.models.loading import LoadedModel, load_training_model
from s2s_onnx.models.semantics import semantics_max_abs_diff
from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.bundle import Bundle
from s2s_onnx.runtime.config import BundleConfig
from s2s_onnx.runtime.errors import ParityError, VocabularyMismatchError
from s2s_onnx.runtime.onnx_scan import op_counts
from s2s_onnx.runtime.sessions import SessionConfig
from s2s_onnx.runtime.vocab import Vocabulary

from ..graphs.graph import check_recurrent_ops, name_dynamic_axes, rename_inputs, rename_outputs
from ..options import DEFAULT_OPSET, ConvertOptions
from ..progress import Progress
from ..writing import atomic_directory, check_target, sha256_of
from .parity import SEMANTICS_TOLERANCE, ParityReport, check_onnx

logger = logging.getLogger(__name__)

# A cuDNN LSTM graph does not convert: keep TensorFlow on the CPU even on a GPU host.
with contextlib.suppress(RuntimeError, ValueError):
    tf.config.set_visible_devices([], "GPU")


@dataclass(frozen=True)
class ConvertResult:
    bundle_dir: Path
    config: BundleConfig
    report: ParityReport | None
    seconds: float


def check_vocabulary(vocab: Vocabulary, models: InferenceModels) -> None:
    """The token tables fit the model: one-hot widths equal, Embedding tables at least as large, and exactly one
    output per target token."""
    spec = models.spec
    fix = "use the vocabulary the model was trained with (or the same --data and --num-samples)"
    sides = (
        ("input", vocab.num_encoder_tokens, spec.num_encoder_tokens, spec.encoder_embedding is not None, "encoder"),
        ("target", vocab.num_decoder_tokens, spec.num_decoder_tokens, spec.decoder_embedding is not None, "decoder"),
    )
    for what, have, takes, embedding, side in sides:
        if have != takes and not (embedding and have < takes):
            raise VocabularyMismatchError(
                f"vocabulary has {have} {what} tokens but the model's {side} takes {takes}"
                f"{' (Embedding input_dim)' if embedding else ''}; {fix}"
            )
    if vocab.num_decoder_tokens != spec.num_output_tokens:
        raise VocabularyMismatchError(
            f"vocabulary has {vocab.num_decoder_tokens} target tokens but the model's Dense outputs "
            f"{spec.num_output_tokens}; {fix}"
        )


def _input_spec(name: str, embedding: object, width: int) -> tf.TensorSpec:
    if embedding is not None:
        return tf.TensorSpec((None, None), tf.int64, name=name)
    return tf.TensorSpec((None, None, width), tf.float32, name=name)


def to_onnx(models: InferenceModels, opset: int = DEFAULT_OPSET) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """tf2onnx-convert the encoder and decoder-step models, with stable names and checks."""
    spec = models.spec
    states = spec.state_tensors
    state_in = [s.name for s in states]
    state_out = [name + names.OUT_SUFFIX for name in state_in]
    memory = list(spec.memory)  # an attention decoder's inputs from the encoder besides the states
    enc_sig = (_input_spec(names.ENCODER_INPUT, spec.encoder_embedding, spec.num_encoder_tokens),)
    encoder, _ = tf2onnx.convert.from_keras(models.encoder, input_signature=enc_sig, opset=opset)
    memory_shapes = {names.ENCODER_OUTPUTS: (None, None, spec.encoder_output_width), names.ENCODER_MASK: (None, None)}
    dec_sig = (
        _input_spec(names.DECODER_INPUT, spec.decoder_embedding, spec.num_decoder_tokens),
        *(tf.TensorSpec(memory_shapes[m], tf.float32, name=m) for m in memory),
        *(tf.TensorSpec((None, s.width), tf.float32, name=s.name) for s in states),
    )
    decoder, _ = tf2onnx.convert.from_keras(models.decoder, input_signature=dec_sig, opset=opset)
    rename_inputs(encoder, [names.ENCODER_INPUT])
    rename_outputs(encoder, [*memory, *state_in])
    rename_inputs(decoder, [names.DECODER_INPUT, *memory, *state_in])
    rename_outputs(decoder, [names.PROBS, *state_out])
    batch, batch_time = ("batch",), ("batch", "time")
    memory_axes = {m: ("batch", "encoder_time") for m in memory}
    name_dynamic_axes(encoder, {names.ENCODER_INPUT: batch_time, **memory_axes, **dict.fromkeys(state_in, batch)})
    dec_axes = {**memory_axes, **dict.fromkeys([*state_in, *state_out], batch)}
    name_dynamic_axes(decoder, {names.DECODER_INPUT: batch_time, names.PROBS: batch_time, **dec_axes})
    check_recurrent_ops(encoder, spec.cell, spec.layers, "encoder")
    check_recurrent_ops(decoder, spec.cell, spec.layers, "decoder")
    encoder.graph.name, decoder.graph.name = "s2s_encoder", "s2s_decoder_step"
    onnx.checker.check_model(encoder)
    onnx.checker.check_model(decoder)
    return encoder, decoder


def _provenance(
    model_path: Path, loaded: LoadedModel, models: InferenceModels, graphs: dict[str, Any]
) -> dict[str, Any]:
    return {
        "source_file": model_path.name,
        "source_sha256": sha256_of(model_path),
        "source_flavour": loaded.flavour,
        "source_keras_version": loaded.keras_version,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "tf2onnx_version": tf2onnx.__version__,
        "onnx_version": onnx.__version__,
        "source_layers": list(models.spec.layer_names),
        "operators": {name: dict(sorted(op_counts(graph).items())) for name, graph in graphs.items()},
    }


def _graphs(models: InferenceModels, vocabulary: Vocabulary, options: ConvertOptions, bar: Progress) -> dict[str, Any]:
    """File name -> ONNX model: encoder, decoder and (``fused``) greedy and beam."""
    encoder, decoder = to_onnx(models, options.opset)
    bar.stage("converted with tf2onnx")
    graphs: dict[str, Any] = {names.ENCODER_NAME: encoder, names.DECODER_NAME: decoder}
    if options.fused:
        from ..graphs.fused import build_greedy
        from ..graphs.fused_beam import build_beam
        from ..graphs.fused_weights import decoder_weights

        weights = decoder_weights(models.spec)
        graphs[names.GREEDY_NAME] = build_greedy(encoder, weights, vocabulary, options.opset)
        graphs[names.BEAM_NAME] = build_beam(encoder, weights, vocabulary, options.opset)
        bar.stage("built fused greedy and beam-search graphs")
    return graphs


def convert(
    model_file: str | Path, output: str | Path, vocabulary: Vocabulary, options: ConvertOptions | None = None
) -> ConvertResult:
    """Convert ``model_file`` to a bundle at ``output``; with ``options.verify`` prove parity before writing.

    Nothing is left at ``output`` when any step fails.
    """
    opts = options if options is not None else ConvertOptions()
    started = time.perf_counter()
    model_path, target = Path(model_file), Path(output)
    check_target(target, opts.force)
    with Progress(total=6 + int(opts.fused), enabled=opts.progress) as bar:
        loaded = load_training_model(model_path, opts.decoder_model)
        bar.stage(f"loaded {loaded.flavour} model")
        models = build_inference_models(loaded.model)
        check_vocabulary(vocabulary, models)
        bar.stage("split into encoder and decoder step")
        graphs = _graphs(models, vocabulary, opts, bar)
        provenance = _provenance(model_path, loaded, models, graphs)
        if opts.decoder_model is not None:
            provenance.update(
                source_decoder_file=opts.decoder_model.name, source_decoder_sha256=sha256_of(opts.decoder_model)
            )
        config = BundleConfig(
            vocabulary,
            models.spec.latent_dim,
            opts.opset,
            fused=names.GREEDY_NAME in graphs,
            beam=names.BEAM_NAME in graphs,
            provenance=provenance,
            architecture=models.spec.architecture(vocabulary.tokenization),
        )
        with atomic_directory(target, opts.force) as work:
            for name, graph in graphs.items():
                onnx.save(graph, work / name)
            config.save(work)
            bar.stage("wrote bundle files")
            report = _verify(work, loaded, models, opts) if opts.verify else None
            bar.stage("verified parity" if opts.verify else "skipped parity (--no-verify)")
        bar.stage(f"bundle ready at {target}")
    return ConvertResult(bundle_dir=target, config=config, report=report, seconds=time.perf_counter() - started)


def _verify(work: Path, loaded: LoadedModel, models: InferenceModels, options: ConvertOptions) -> ParityReport:
    """Parity of the written files; the Keras decodes it compared against are stored as ``reference.json``."""
    bundle = Bundle.open(work, SessionConfig(threads=1))
    report = verify_bundle(bundle, loaded.model, models, options.sentences, options.tolerance)
    report.semantics_max_abs_diff = semantics_max_abs_diff(loaded.source_spec or models.spec, models)
    if not report.ok:
        first = "ONNX and Keras disagree"
        if report.semantics_max_abs_diff > SEMANTICS_TOLERANCE:
            first = "the rebuilt Keras model does not compute what the file's own layers compute"
        raise ParityError(f"{first}; nothing was written.\n" + report.format())
    rows = ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in report.reference)
    inputs = json.dumps(options.inputs if report.real_inputs else names.REFERENCE_RANDOM)
    head = f'"made_by": "the Keras example\'s decode_sequence loop",\n "inputs": {inputs}'
    text = f'{{\n {head},\n "decodes": [\n{rows}\n ]\n}}\n'
    (work / names.REFERENCE_NAME).write_text(text, encoding="utf-8")
    return report


def verify_bundle(
    bundle: Bundle, training_model: object, models: InferenceModels, sentences: tuple[str, ...], tolerance: float
) -> ParityReport:
    vocab = bundle.vocabulary

    def known(text: str) -> bool:
        tokens = vocab.tokenize(text)
        return 0 < len(tokens) <= vocab.max_encoder_len and all(t in vocab.input_index for t in tokens)

    clean = [s for s in sentences if known(s)]
    report = check_onnx(models, bundle, clean, tolerance)
    report.split_max_abs_diff = split_max_abs_diff(training_model, models)
    return report
