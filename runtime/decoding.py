"""Greedy decoding loops over onnxruntime sessions: step by step (I/O-bound buffers) and fused.

The step-by-step loop is the Keras example's greedy rule: feed the start character, take the argmax,
feed it back, stop at the end character or ``max_length``. All buffers are allocated once per batch;
the LSTM state ping-pongs between two pairs of ``OrtValue``s through two pre-built I/O bindings, so a
step is one ``run_with_iobinding`` plus a few vectorised numpy operations. On CUDA the state stays on
the device and only the probabilities come back to the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from . import config as names
from .vocab import Vocabulary


@dataclass(frozen=True)
class BatchTokens:
    """Raw result of decoding one batch: ``ids[i, :lengths[i]]`` are row i's tokens."""

    ids: np.ndarray  # (batch, steps) int64
    probs: np.ndarray  # (batch, steps) float32: probability of each chosen token
    lengths: np.ndarray  # (batch,) int64: tokens before the end character
    ended: np.ndarray  # (batch,) bool: True where the end character was emitted

    def rows(self) -> list[tuple[list[int], bool]]:
        """Per row: its token ids (without the end character) and whether it ended."""
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

    def __init__(
        self,
        encoder: ort.InferenceSession,
        decoder: ort.InferenceSession,
        encoder_input: np.ndarray,
        vocab: Vocabulary,
        latent_dim: int,
    ) -> None:
        batch = encoder_input.shape[0]
        device, device_id = _device_of(decoder)
        self.decoder = decoder
        self.rows = np.arange(batch)
        # Host-side buffers, reused every step.
        self.token = np.zeros((batch, 1, vocab.num_decoder_tokens), dtype=np.float32)
        self.token[:, 0, vocab.start_id] = 1.0
        self.previous = np.full(batch, vocab.start_id, dtype=np.int64)
        self.probs = np.empty((batch, 1, vocab.num_decoder_tokens), dtype=np.float32)
        self.probs_view = self.probs[:, 0, :]  # what step() returns, made once
        token_value = ort.OrtValue.ortvalue_from_numpy(self.token)
        probs_value = ort.OrtValue.ortvalue_from_numpy(self.probs)
        # Two state pairs on the decoder's device: A feeds B, then B feeds A.
        states = [
            ort.OrtValue.ortvalue_from_shape_and_type((batch, latent_dim), np.float32, device, device_id)
            for _ in range(4)
        ]
        h_a, c_a, h_b, c_b = states
        self._states = states  # keep the OrtValues alive with the bindings

        enc_binding = encoder.io_binding()
        enc_binding.bind_cpu_input(names.ENCODER_INPUT, np.ascontiguousarray(encoder_input, dtype=np.float32))
        enc_binding.bind_ortvalue_output(names.STATE_H, h_a)
        enc_binding.bind_ortvalue_output(names.STATE_C, c_a)
        encoder.run_with_iobinding(enc_binding)

        self.bindings = []
        for (h_in, c_in), (h_out, c_out) in (((h_a, c_a), (h_b, c_b)), ((h_b, c_b), (h_a, c_a))):
            binding = decoder.io_binding()
            binding.bind_ortvalue_input(names.DECODER_INPUT, token_value)
            binding.bind_ortvalue_input(names.STATE_H, h_in)
            binding.bind_ortvalue_input(names.STATE_C, c_in)
            binding.bind_ortvalue_output(names.PROBS, probs_value)
            binding.bind_ortvalue_output(names.STATE_H_OUT, h_out)
            binding.bind_ortvalue_output(names.STATE_C_OUT, c_out)
            self.bindings.append(binding)
        self.step_index = 0

    def step(self) -> np.ndarray:
        """Run one decoder step on the current token; return the ``(batch, vocab)`` probabilities view."""
        self.decoder.run_with_iobinding(self.bindings[self.step_index & 1])
        self.step_index += 1
        return self.probs_view

    def feed(self, next_ids: np.ndarray) -> None:
        """Make ``next_ids`` the one-hot input of the next step."""
        self.token[self.rows, 0, self.previous] = 0.0
        self.token[self.rows, 0, next_ids] = 1.0
        self.previous = next_ids


def decode_steps(
    encoder: ort.InferenceSession,
    decoder: ort.InferenceSession,
    encoder_input: np.ndarray,
    vocab: Vocabulary,
    latent_dim: int,
    max_length: int,
    stop_at_end: bool = True,
) -> BatchTokens:
    """Greedy-decode one batch with one decoder ``run`` per step; stops when every row has ended
    (``stop_at_end=False`` runs exactly ``max_length`` steps, for benchmarks)."""
    run = StepRun(encoder, decoder, encoder_input, vocab, latent_dim)
    batch = encoder_input.shape[0]
    end_id = vocab.end_id
    ids = np.zeros((batch, max_length), dtype=np.int64)
    chosen = np.zeros((batch, max_length), dtype=np.float32)
    lengths = np.full(batch, max_length, dtype=np.int64)
    ended = np.zeros(batch, dtype=bool)
    rows = run.rows
    for step in range(max_length):
        probs = run.step()
        next_ids = probs.argmax(axis=1)
        ids[:, step] = next_ids
        chosen[:, step] = probs[rows, next_ids]
        newly = next_ids == end_id
        if newly.any():
            newly &= ~ended
            lengths[newly] = step
            ended |= newly
            if stop_at_end and ended.all():
                return BatchTokens(ids[:, : step + 1], chosen[:, : step + 1], lengths, ended)
        run.feed(next_ids)
    return BatchTokens(ids, chosen, lengths, ended)


def decode_fused(
    greedy: ort.InferenceSession,
    encoder_input: np.ndarray,
    max_length: int,
    stop_at_end: bool = True,
) -> BatchTokens:
    """Greedy-decode one batch with a single ``run`` of the fused ``greedy.onnx`` graph."""
    feeds = {
        names.ENCODER_INPUT: np.ascontiguousarray(encoder_input, dtype=np.float32),
        names.GREEDY_MAX_LENGTH: np.array(max_length, dtype=np.int64),
        names.GREEDY_STOP_AT_END: np.array(stop_at_end),
    }
    ids, probs, lengths = greedy.run([names.GREEDY_TOKENS, names.GREEDY_PROBS, names.GREEDY_LENGTHS], feeds)
    lengths = lengths.astype(np.int64, copy=False)
    # The graph's length is the index of the first end character, or the number of steps if none came.
    return BatchTokens(ids, probs, lengths, lengths < ids.shape[1])
