"""Parity between Keras and onnxruntime: max absolute differences and token-for-token greedy decodes.

The Keras side of every decode comparison is the example's own loop (:func:`example_decode`), so a bundle
that passes decodes exactly as ``decode_sequence`` would, including at the length cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from s2s_onnx.models.inference import InferenceModels, call_keras, random_inputs, split_memory
from s2s_onnx.models.reference import default_limit, example_decode
from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.bundle import Bundle
from s2s_onnx.runtime.decoding import BatchTokens, decode_fused, decode_steps
from s2s_onnx.runtime.vocab import Vocabulary, random_texts

from ..options import DEFAULT_TOLERANCE

SPLIT_TOLERANCE = 1e-5
SEMANTICS_TOLERANCE = 1e-5  # rebuilt Keras layers vs the file's own semantics (numpy cells, float64)
SHORT_LIMIT = 3  # a second decode length, short enough that most rows reach it


@dataclass
class ParityReport:
    tolerance: float
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # per tensor
    split_max_abs_diff: float = 0.0  # training model (teacher forced) vs encoder + step models
    semantics_max_abs_diff: float = 0.0  # each rebuilt recurrent layer vs a numpy cell of the file's semantics
    cases: int = 0
    decodes_compared: int = 0
    decodes_equal: int = 0
    first_mismatch: str = ""
    reference: list[dict[str, Any]] = field(default_factory=list)  # the Keras decodes compared against
    real_inputs: bool = False  # whether those decodes are of real sentences (else random strings)

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values(), default=0.0)

    @property
    def ok(self) -> bool:
        return (
            self.worst <= self.tolerance
            and self.split_max_abs_diff <= SPLIT_TOLERANCE
            and self.semantics_max_abs_diff <= SEMANTICS_TOLERANCE
            and self.decodes_equal == self.decodes_compared
        )

    def record_decodes(
        self,
        texts: Sequence[str],
        expected: list[tuple[list[int], bool]],
        got: list[tuple[list[int], bool]],
        vocab: Vocabulary,
        what: str,
    ) -> None:
        """Count rows whose token ids and end flag agree; keep the first disagreement for the report."""
        for text, (want, want_end), (have, have_end) in zip(texts, expected, got, strict=True):
            self.decodes_compared += 1
            if want == have and want_end == have_end:
                self.decodes_equal += 1
            elif not self.first_mismatch:
                self.first_mismatch = f"{text!r} ({what}): {vocab.decode_ids(want)!r} vs {vocab.decode_ids(have)!r}"

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "tolerance": self.tolerance,
            "max_abs_diff": dict(self.max_abs_diff),
            "split_max_abs_diff": self.split_max_abs_diff,
            "split_tolerance": SPLIT_TOLERANCE,
            "semantics_max_abs_diff": self.semantics_max_abs_diff,
            "cases": self.cases,
            "decodes_compared": self.decodes_compared,
            "decodes_equal": self.decodes_equal,
            "first_mismatch": self.first_mismatch,
        }

    def format(self) -> str:
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.max_abs_diff.items())
        lines = [
            f"parity: {'PASS' if self.ok else 'FAIL'} (tolerance {self.tolerance:.0e})",
            f"  ONNX vs Keras, max |diff| over {self.cases} cases: {diffs}",
            f"  inference models vs the model they came from: {self.split_max_abs_diff:.2e} (<= {SPLIT_TOLERANCE:.0e})",
            f"  recurrent layers vs the file's own semantics: {self.semantics_max_abs_diff:.2e} "
            f"(<= {SEMANTICS_TOLERANCE:.0e})",
            f"  greedy decodes identical: {self.decodes_equal}/{self.decodes_compared}",
        ]
        if self.first_mismatch:
            lines.append(f"  first mismatch: {self.first_mismatch}")
        return "\n".join(lines)


def _update(report: ParityReport, key: str, a: np.ndarray, b: np.ndarray) -> None:
    diff = float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))
    report.max_abs_diff[key] = max(report.max_abs_diff.get(key, 0.0), diff)


def _compare_tensors(
    models: InferenceModels, bundle: Bundle, x: np.ndarray, rng: np.random.Generator, report: ParityReport
) -> None:
    """Encoder states, then decoder outputs for 1 and 4 random tokens, Keras vs ONNX on the same inputs."""
    model = bundle.architecture
    state_names, memory_names = list(model.state_names), list(model.memory)
    keras_outputs = call_keras(models.encoder, [x])
    onnx_outputs = bundle.encoder.run([*memory_names, *state_names], {names.ENCODER_INPUT: x})
    for name, k, o in zip([*memory_names, *state_names], keras_outputs, onnx_outputs, strict=True):
        _update(report, f"encoder {name}", k, o)
    memory, keras_states = split_memory(models.decoder, keras_outputs)
    width, ids = bundle.vocabulary.num_decoder_tokens, model.target_input == "ids"
    for steps in (1, 4):
        tokens = random_inputs(rng, x.shape[0], steps, width, ids)
        k_probs, *k_next = call_keras(models.decoder, [tokens, *memory, *keras_states])
        feeds = {names.DECODER_INPUT: tokens, **dict(zip(state_names, keras_states, strict=True))}
        feeds.update(zip(memory_names, memory, strict=True))
        o_probs, *o_next = bundle.decoder.run([names.PROBS, *(n + names.OUT_SUFFIX for n in state_names)], feeds)
        _update(report, "probs", k_probs, o_probs)
        for name, k, o in zip(state_names, k_next, o_next, strict=True):
            _update(report, f"decoder {name}", k, o)
        report.cases += 1


def check_onnx(
    models: InferenceModels,
    bundle: Bundle,
    sentences: Sequence[str] = (),
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
    decode_sample: int = 32,
) -> ParityReport:
    """Compare ONNX and Keras on random inputs and real sentences, then decodes against the example's loop (at
    the default cap and at a short one); the fused graph, if any, against the same decodes."""
    report = ParityReport(tolerance=tolerance)
    vocab = bundle.vocabulary
    rng = np.random.default_rng(seed)
    ids = bundle.architecture.input == "ids"
    shapes = ((1, 1), (3, 5), (8, vocab.max_encoder_len), (2, 2 * vocab.max_encoder_len))
    inputs = [random_inputs(rng, batch, steps, vocab.num_encoder_tokens, ids) for batch, steps in shapes]
    if sentences:
        inputs.append(bundle.encoder_input(list(sentences)[:64]))
    for x in inputs:
        _compare_tensors(models, bundle, x, rng, report)
    report.real_inputs = bool(sentences)
    texts = list(sentences)[:decode_sample] or random_texts(vocab, rng, decode_sample)
    x = bundle.encoder_input(texts)
    at_end = vocab.loop.stops_at_end  # the author's loop: at the end token, or always the cap

    def rows(tokens: BatchTokens) -> list[tuple[list[int], bool]]:
        return (tokens if at_end else tokens.without_end()).rows()

    for limit in (default_limit(vocab, None), SHORT_LIMIT):
        keras_decode = example_decode(models.encoder, models.decoder, x, vocab, limit)
        expected = list(zip(keras_decode.token_ids, keras_decode.ended, strict=True))
        steps = rows(decode_steps(bundle, x, limit, at_end))
        report.record_decodes(texts, expected, steps, vocab, f"Keras vs steps, {limit}")
        if bundle.greedy is not None:
            fused = rows(decode_fused(bundle, x, limit, at_end))
            report.record_decodes(texts, expected, fused, vocab, f"Keras vs fused, {limit}")
        report.reference += [
            {"text": t, "max_length": limit, "token_ids": ids, "ended": ended}
            for t, (ids, ended) in zip(texts, expected, strict=True)
        ]
    return report
