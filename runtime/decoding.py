"""Greedy decoding loops over a :class:`Bundle`: step by step (I/O-bound buffers) and fused.

The step loop is the Keras example's greedy rule: feed the start token, take the argmax, feed it back,
stop at the end token or after ``max_length`` tokens. :func:`greedy_steps` is the one place that rule lives;
``decode_steps`` and ``Seq2SeqModel.stream`` both consume it. All buffers are allocated once per batch;
the recurrent states (every layer's, as ``config.json`` lists them) ping-pong between two sets of
``OrtValue``s through two pre-built I/O bindings, so a step is one ``run_with_iobinding`` plus a few
vectorised numpy operations. On CUDA the state stays on
the device and only the probabilities come back to the host.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from . import config as names
from .bundle import Bundle


@dataclass(frozen=True)
class BatchTokens:
    """Raw result of decoding one batch: ``ids[i, :lengths[i]]`` are row i's tokens."""

    ids: np.ndarray  # (batch, steps) int64
    probs: np.ndarray  # (batch, steps) float32: probability of each chosen token
    lengths: np.ndarray  # (batch,) int64: tokens before the end token (all steps if it never came)
    ended: np.ndarray  # (batch,) bool: True where the end token was emitted

    @classmethod
    def from_steps(cls, ids: np.ndarray, probs: np.ndarray, end_id: int) -> BatchTokens:
        """Lengths and end flags from the chosen ids: a row ends at its first end token."""
        is_end = ids == end_id
        ended = is_end.any(axis=1)
        lengths = np.where(ended, is_end.argmax(axis=1), ids.shape[1]).astype(np.int64)
        return cls(ids, probs, lengths, ended)

    def without_end(self) -> BatchTokens:
        """The same tokens read as a loop without an end token reads them: every step is output."""
        steps = self.ids.shape[1]
        return BatchTokens(self.ids, self.probs, np.full(len(self.lengths), steps, np.int64), np.zeros_like(self.ended))

    def rows(self) -> list[tuple[list[int], bool]]:
        """Per row: its token ids (without the end token) and whether it ended."""
        lengths, ended = self.lengths.tolist(), self.ended.tolist()
        return [(self.ids[row, : lengths[row]].tolist(), ended[row]) for row in range(len(lengths))]


def _device_of(session: ort.InferenceSession) -> tuple[str, int]:
    """Where the session's first provider keeps tensors: ("cuda", device id) or ("cpu", 0)."""
    provider = session.get_providers()[0]
    if provider != "CUDAExecutionProvider":
        return "cpu", 0
    options = session.get_provider_options().get(provider, {})
    return "cuda", int(options.get("device_id", 0))


class StepRun:
    """Buffers and I/O bindings for one batch of step-by-step decoding."""

    def __init__(self, bundle: Bundle, encoder_input: np.ndarray) -> None:
        vocab, model = bundle.vocabulary, bundle.architecture
        batch = encoder_input.shape[0]
        device, device_id = _device_of(bundle.decoder)
        self.decoder = bundle.decoder
        self.rows = np.arange(batch)
        self.one_hot = model.target_input == "one_hot"
        # Host-side buffers, reused every step: the token (one-hot, or its id) and the probabilities.
        if self.one_hot:
            self.token = np.zeros((batch, 1, vocab.num_decoder_tokens), dtype=np.float32)
            self.token[:, 0, vocab.start_id] = 1.0
        else:
            self.token = np.full((batch, 1), vocab.start_id, dtype=np.int64)
        self.previous = np.full(batch, vocab.start_id, dtype=np.int64)
        self.probs = np.empty((batch, 1, vocab.num_decoder_tokens), dtype=np.float32)
        self.probs_view = self.probs[:, 0, :]  # what step() returns, made once
        token_value = ort.OrtValue.ortvalue_from_numpy(self.token)
        probs_value = ort.OrtValue.ortvalue_from_numpy(self.probs)
        # Two sets of states on the decoder's device: A feeds B, then B feeds A.
        sets = [
            [
                ort.OrtValue.ortvalue_from_shape_and_type((batch, s.width), np.float32, device, device_id)
                for s in model.states
            ]
            for _ in range(2)
        ]
        self._states = sets  # keep the OrtValues alive with the bindings
        names_in = model.state_names

        enc_binding = bundle.encoder.io_binding()
        enc_binding.bind_cpu_input(names.ENCODER_INPUT, np.ascontiguousarray(encoder_input))
        for name, value in zip(names_in, sets[0], strict=True):
            enc_binding.bind_ortvalue_output(name, value)
        for name in model.memory:  # what an attention decoder reads every step: made once, on the device
            enc_binding.bind_output(name, device, device_id)
        bundle.encoder.run_with_iobinding(enc_binding)
        self._memory = enc_binding.get_outputs()[len(names_in) :]

        self.bindings = []
        for states_in, states_out in ((sets[0], sets[1]), (sets[1], sets[0])):
            binding = self.decoder.io_binding()
            binding.bind_ortvalue_input(names.DECODER_INPUT, token_value)
            binding.bind_ortvalue_output(names.PROBS, probs_value)
            for name, value in zip(model.memory, self._memory, strict=True):
                binding.bind_ortvalue_input(name, value)
            for name, value_in, value_out in zip(names_in, states_in, states_out, strict=True):
                binding.bind_ortvalue_input(name, value_in)
                binding.bind_ortvalue_output(name + names.OUT_SUFFIX, value_out)
            self.bindings.append(binding)
        self.step_index = 0

    def step(self, run_options: ort.RunOptions | None = None) -> np.ndarray:
        """Run one decoder step on the current token; return the ``(batch, vocab)`` probabilities view."""
        self.decoder.run_with_iobinding(self.bindings[self.step_index & 1], run_options)
        self.step_index += 1
        return self.probs_view

    def feed(self, next_ids: np.ndarray) -> None:
        """Make ``next_ids`` the input of the next step."""
        if self.one_hot:
            self.token[self.rows, 0, self.previous] = 0.0
            self.token[self.rows, 0, next_ids] = 1.0
            self.previous = next_ids
        else:
            self.token[:, 0] = next_ids


def greedy_steps(
    bundle: Bundle,
    encoder_input: np.ndarray,
    max_length: int,
    stop_at_end: bool = True,
    run_options: ort.RunOptions | None = None,
    choose: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(chosen ids, their probabilities)`` per step, each ``(batch,)``.

    ``choose`` picks each step's ids from the ``(batch, vocab)`` probabilities (default: the argmax; sampling
    passes its draw). Stops after ``max_length`` steps, or (``stop_at_end``) once every row has emitted the end
    token.
    """
    run = StepRun(bundle, encoder_input)
    end_id = bundle.vocabulary.end_id
    ended = np.zeros(encoder_input.shape[0], dtype=bool)
    for _ in range(max_length):
        probs = run.step(run_options)
        next_ids = probs.argmax(axis=1) if choose is None else choose(probs)
        yield next_ids, probs[run.rows, next_ids]
        ended |= next_ids == end_id
        if stop_at_end and ended.all():
            return
        run.feed(next_ids)


def decode_steps(
    bundle: Bundle,
    encoder_input: np.ndarray,
    max_length: int,
    stop_at_end: bool = True,
    run_options: ort.RunOptions | None = None,
) -> BatchTokens:
    """Greedy-decode one batch with one decoder ``run`` per step (``stop_at_end=False``: exactly ``max_length``
    steps, for benchmarks)."""
    batch = encoder_input.shape[0]
    ids = np.zeros((batch, max_length), dtype=np.int64)
    chosen = np.zeros((batch, max_length), dtype=np.float32)
    steps = 0
    loop = greedy_steps(bundle, encoder_input, max_length, stop_at_end, run_options)
    for steps, (next_ids, probs) in enumerate(loop, 1):
        ids[:, steps - 1] = next_ids
        chosen[:, steps - 1] = probs
    return BatchTokens.from_steps(ids[:, :steps], chosen[:, :steps], bundle.vocabulary.end_id)


def decode_fused(
    bundle: Bundle,
    encoder_input: np.ndarray,
    max_length: int,
    stop_at_end: bool = True,
    run_options: ort.RunOptions | None = None,
) -> BatchTokens:
    """Greedy-decode one batch with a single ``run`` of the fused ``greedy.onnx`` graph."""
    feeds = {
        names.ENCODER_INPUT: np.ascontiguousarray(encoder_input),
        names.FUSED_MAX_LENGTH: np.array(max_length, dtype=np.int64),
        names.FUSED_STOP_AT_END: np.array(stop_at_end),
    }
    outputs = [names.FUSED_TOKENS, names.FUSED_PROBS, names.FUSED_LENGTHS]
    ids, probs, lengths = bundle.fused_graph("greedy").run(outputs, feeds, run_options)
    lengths = np.asarray(lengths, dtype=np.int64)
    # The graph's length is the index of the first end token, or the number of steps if none came.
    return BatchTokens(ids, probs, lengths, lengths < ids.shape[1])


class Cancellation:
    """Cancels decodes from another thread: pass it to ``decode(..., cancel=...)``, then call :meth:`cancel`.

    A fused decode stops inside onnxruntime (``RunOptions.terminate``), a step loop before its next step.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: list[ort.RunOptions] = []
        self.cancelled = False

    def run_options(self) -> ort.RunOptions:
        """New ``RunOptions`` for one ``run``, terminated at once if already cancelled."""
        options = ort.RunOptions()
        options.log_severity_level = 4  # a cancelled run is expected: not an onnxruntime error on stderr
        with self._lock:
            options.terminate = self.cancelled
            self._runs.append(options)
        return options

    def release(self, options: ort.RunOptions) -> None:
        """Forget the ``RunOptions`` of a finished run (a long stream would otherwise keep them all)."""
        with self._lock:
            self._runs = [o for o in self._runs if o is not options]

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            for options in self._runs:
                options.terminate = True
