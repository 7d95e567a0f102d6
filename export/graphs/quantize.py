"""``s2s-onnx quantize``: int8 weights for a bundle's graphs with onnxruntime's own dynamic quantization, kept
only if its decodes stay the fp32 bundle's (ONNX to ONNX; no TensorFlow).

Every ONNX file of the bundle is quantized (the fused loop's subgraph too, after ``Gemm`` -> ``MatMul`` + ``Add``
so that the quantizer reaches it). The result is measured against the fp32 bundle on real or sampled inputs:
the share of decodes that stay identical, exact match and chrF when reference targets are given, and the speed
ratio of fused decoding at batch 1. The measurements are stored in ``config.json`` (``provenance.quantization``);
below ``min_identical`` nothing is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from s2s_onnx.models.quality import chrf, exact_match
from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.config import BundleConfig
from s2s_onnx.runtime.errors import S2SError
from s2s_onnx.runtime.model import Seq2SeqModel
from s2s_onnx.runtime.options import DecodeOptions
from s2s_onnx.runtime.reference_check import decoded, reference_decodes
from s2s_onnx.runtime.results import DecodeResult
from s2s_onnx.runtime.vocab import random_texts

from ..options import QuantizeOptions
from ..writing import atomic_directory, check_target
from .graph import gemm_to_matmul

logger = logging.getLogger(__name__)


class QuantizationRefusedError(S2SError, ValueError):
    """The int8 bundle decodes too differently from the fp32 one; nothing was written."""


@dataclass(frozen=True)
class QuantizeReport:
    scheme: str
    decodes: int
    identical: float  # share of int8 decodes equal to fp32's (fused if present, else steps)
    fused_equals_steps: float | None  # int8 fused vs int8 step loop
    speedup: float  # fp32 / int8 time, fused (or steps) at batch 1
    exact_match: dict[str, float] | None = None  # {"fp32": %, "int8": %} against reference targets
    chrf: dict[str, float] | None = None
    fused_loop: str = ""  # how the int8 greedy.onnx loop is built
    inputs: str = "given texts"  # what the decodes were: "pairs from --data", "held-out inputs", "random strings"
    identical_random: float | None = None  # the same share on random token strings: a second, harsher number

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def format(self) -> str:
        lines = [
            f"quantized ({self.scheme}): {self.identical:.1%} of {self.decodes} decodes of {self.inputs} identical "
            f"to fp32, {self.speedup:.2f}x the fp32 speed at batch 1",
        ]
        if self.identical_random is not None:
            lines.append(f"  on random token strings (no model sees these): {self.identical_random:.1%} identical")
        if self.fused_equals_steps is not None:
            lines.append(
                f"  int8 fused vs int8 step loop: {self.fused_equals_steps:.1%} identical (loop: {self.fused_loop})"
            )
        if self.exact_match and self.chrf:
            lines.append(
                f"  exact match {self.exact_match['int8']:.1%} (fp32 {self.exact_match['fp32']:.1%}), "
                f"chrF {self.chrf['int8']:.2f} (fp32 {self.chrf['fp32']:.2f})"
            )
        return "\n".join(lines)


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime's quantizer warns through the root logger (configuring it if it has no handler) and prints;
    keep both out of the application's output while it runs."""
    root = logging.getLogger()
    guard = logging.NullHandler()
    added = not root.handlers
    if added:
        root.addHandler(guard)
    previous = root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)
        if added:
            root.removeHandler(guard)


def quantize_graph(model: onnx.ModelProto, target: Path, options: QuantizeOptions) -> None:
    """Write ``model`` with int8 weights at ``target``: every ``MatMul`` (``Gemm`` rewritten as one) and ``LSTM``
    op with constant weights, in subgraphs too. Lookups (``Gather`` of token tables and Embeddings) stay float:
    quantized, each would add a ``DequantizeLinear`` per step, and onnxruntime fails to load a quantized
    ``Gather`` that feeds a quantized ``LSTM``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    gemm_to_matmul(model.graph)
    with _quiet_quantizer():
        quantize_dynamic(
            model,
            target,
            per_channel=options.per_channel,
            reduce_range=options.reduce_range,
            weight_type=QuantType.QInt8 if options.weight_type == "int8" else QuantType.QUInt8,
            op_types_to_quantize=["MatMul", "LSTM"],
            extra_options={"EnableSubgraph": True, "MatMulConstBOnly": True},
        )


def _int8_greedy(source: Path, config: BundleConfig) -> onnx.ModelProto | None:
    """For an LSTM decoder, ``greedy.onnx`` rebuilt with one ``LSTM`` op per layer (see :mod:`.fused_lstm`), which
    quantizes to one int8 kernel per layer and step; None when the step decoder is not plain LSTM ops."""
    from .fused_lstm import build_greedy_lstm, lstm_step

    if config.model.cell != "lstm" or config.model.attention:  # an attention step is quantized as it is built
        return None
    step = lstm_step(onnx.load(str(source / names.DECODER_NAME)), config.vocabulary, config.model.target_input == "ids")
    if step is None:
        logger.warning("%s: the decoder is not plain LSTM ops; quantizing greedy.onnx as it is", source)
        return None
    return build_greedy_lstm(onnx.load(str(source / names.ENCODER_NAME)), step, config.opset)


def quantize_bundle_graphs(source: Path, work: Path, config: BundleConfig, options: QuantizeOptions) -> str:
    """Quantize every ONNX file of the bundle at ``source`` into ``work``; returns how the greedy loop was built."""
    fused = [*([names.GREEDY_NAME] if config.fused else []), *([names.BEAM_NAME] if config.beam else [])]
    loop = "lean float body, quantized" if config.fused else "none"
    for name in (names.ENCODER_NAME, names.DECODER_NAME, *fused):
        rebuilt = _int8_greedy(source, config) if name == names.GREEDY_NAME else None
        if rebuilt is not None:
            loop = "LSTM ops (DynamicQuantizeLSTM)"
            quantize_graph(rebuilt, work / name, options)
        else:
            quantize_graph(onnx.load(str(source / name)), work / name, options)
    return loop


def quantize(
    bundle_dir: str | Path,
    output: str | Path,
    options: QuantizeOptions | None = None,
    texts: list[str] | None = None,
    targets: list[str] | None = None,
    *,
    texts_are: str = "pairs from --data",
) -> QuantizeReport:
    """Write the int8 bundle of ``bundle_dir`` at ``output`` if its decodes of ``texts`` (default: the bundle's
    ``reference.json`` inputs) stay identical often enough; ``targets`` add exact match and chrF; ``texts_are``
    names ``texts`` in the report."""
    opts = options if options is not None else QuantizeOptions()
    source, target = Path(bundle_dir), Path(output)
    config = BundleConfig.load(source)
    check_target(target, opts.force)
    fp32 = Seq2SeqModel.load(source, threads=1)
    inputs, kind = (texts, texts_are) if texts is not None else reference_texts(fp32)
    with atomic_directory(target, opts.force) as work:
        loop = quantize_bundle_graphs(source, work, config, opts)
        config.save(work)
        int8 = Seq2SeqModel.load(work, threads=1, verify=False)
        if (source / names.REFERENCE_NAME).is_file():
            write_reproduced_reference(fp32, int8, work)
        report = measure(fp32, int8, inputs, targets, opts.scheme())
        second = None
        if kind != names.REFERENCE_RANDOM:
            noise = random_texts(fp32.vocabulary, np.random.default_rng(0), len(inputs), shortest=1)
            second = _share_equal(fp32.decode(noise, LENIENT), int8.decode(noise, LENIENT))
        report = dataclasses.replace(report, fused_loop=loop, inputs=kind, identical_random=second)
        if report.identical < opts.min_identical:
            raise QuantizationRefusedError(_refusal(report, opts))
        provenance = {**config.provenance, "quantization": report.to_dict()}
        dataclasses.replace(config, provenance=provenance).save(work)
    return report


LENIENT = DecodeOptions(unknown="skip", truncate=True, allow_empty=True, batch_size=64)


def _refusal(report: QuantizeReport, opts: QuantizeOptions) -> str:
    other = "--per-tensor" if opts.per_channel else "--per-channel"
    hint = " (the bundle holds no real inputs: pass --data PAIRS_FILE for inputs like the model's own)"
    return (
        f"int8 ({opts.scheme()}) kept only {report.identical:.1%} of {report.decodes} decodes of {report.inputs} "
        f"identical (required {opts.min_identical:.1%}); nothing was written. Try another scheme ({other}, "
        f"--weight-type uint8, --reduce-range), or accept it with --min-identical 0"
        f"{hint if report.inputs == names.REFERENCE_RANDOM else ''}"
    )


def write_reproduced_reference(fp32: Seq2SeqModel, int8: Seq2SeqModel, work: Path) -> None:
    """The fp32 bundle's ``reference.json`` (Keras decodes) less those the int8 bundle decodes otherwise, so that
    the int8 bundle's check at load compares it with Keras decodes it reproduces."""
    import json

    data = json.loads((fp32.path / names.REFERENCE_NAME).read_text(encoding="utf-8"))
    stored = reference_decodes(fp32.bundle)
    kept = [entry for entry in stored if decoded(int8.bundle, entry) is None]
    data["decodes"] = kept
    data["int8_reproduces"] = f"{len(kept)} of {len(stored)}"
    (work / names.REFERENCE_NAME).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def reference_texts(model: Seq2SeqModel, count: int = 256) -> tuple[list[str], str]:
    """The inputs parity checked at conversion (``reference.json``) when they were real ones (from the pairs file
    or the held-out pairs saved beside a model that ``s2s-onnx train`` wrote), and what they are; random token
    strings otherwise (their decodes are far less stable under int8 than real inputs')."""
    import json

    path = model.path / names.REFERENCE_NAME
    if path.is_file():
        reference = json.loads(path.read_text(encoding="utf-8"))
        if reference.get("inputs", names.REFERENCE_RANDOM) != names.REFERENCE_RANDOM:
            return list(dict.fromkeys(d["text"] for d in reference["decodes"]))[:count], str(reference["inputs"])
    logger.warning("%s holds no real inputs; checking int8 on random strings (pass --data for real ones)", model.path)
    return random_texts(model.vocabulary, np.random.default_rng(0), count, shortest=1), names.REFERENCE_RANDOM


def _essence(results: list[DecodeResult]) -> list[tuple[tuple[int, ...], str]]:
    return [(r.token_ids, r.stop_reason) for r in results]


def _share_equal(a: list[DecodeResult], b: list[DecodeResult]) -> float:
    return sum(x == y for x, y in zip(_essence(a), _essence(b), strict=True)) / max(len(a), 1)


def measure(
    fp32: Seq2SeqModel, int8: Seq2SeqModel, texts: list[str], targets: list[str] | None, scheme: str
) -> QuantizeReport:
    options = LENIENT
    base = fp32.decode(texts, options)
    quantized = int8.decode(texts, options)
    fused_vs_steps = None
    if int8.bundle.greedy is not None:
        fused_vs_steps = _share_equal(quantized, int8.decode(texts, options, strategy="steps"))
    exact = score = None
    if targets is not None:
        outputs = {"fp32": [r.text for r in base], "int8": [r.text for r in quantized]}
        exact = {k: exact_match(v, targets) for k, v in outputs.items()}
        score = {k: chrf(v, targets) for k, v in outputs.items()}
    return QuantizeReport(
        scheme=scheme,
        decodes=len(texts),
        identical=_share_equal(base, quantized),
        fused_equals_steps=fused_vs_steps,
        speedup=_seconds(fp32, texts) / _seconds(int8, texts),
        exact_match=exact,
        chrf=score,
    )


def _seconds(model: Seq2SeqModel, texts: list[str], sample: int = 32, rounds: int = 5) -> float:
    """Median time to decode ``sample`` texts one at a time (batch 1), the model's default strategy."""
    chosen = texts[:sample]
    options = DecodeOptions(unknown="skip", truncate=True, allow_empty=True, batch_size=1)
    model.decode(chosen[:2], options)  # warm up
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        model.decode(chosen, options)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)
