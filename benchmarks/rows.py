"""Benchmark rows that need only the runtime: naive per-step ``run``, the s2s-onnx paths, and the floor.

A row is a name plus ``prepare(x, steps) -> run``; ``run()`` decodes the batch ``x`` for exactly ``steps``
decoder steps and returns the chosen token ids ``(batch, steps)``, so every row does the same work and
every row's tokens can be checked against the runtime's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from s2s_onnx.runtime import config as names
from s2s_onnx.runtime.bundle import Bundle
from s2s_onnx.runtime.decoding import decode_fused, decode_steps
from s2s_onnx.runtime.sessions import SessionConfig
from s2s_onnx.runtime.vocab import Vocabulary

FLOOR = "floor: recurrent mat-vec h @ R only"
Run = Callable[[], np.ndarray]
Prepare = Callable[[np.ndarray, int], Run]


@dataclass(frozen=True)
class Row:
    name: str
    prepare: Prepare
    slow: bool = False  # few repetitions (the predict() loop)
    checks_tokens: bool = True  # the floor decodes nothing


def naive_loop(
    encode: Callable[[], Sequence[Any]], step: Callable[..., Sequence[Any]], batch: int, steps: int, vocab: Vocabulary
) -> np.ndarray:
    """The Keras example's loop shape: one ``step(token, h, c) -> (probs, h, c)`` call per token, a fresh
    one-hot token array each time. ``encode()`` gives the initial states."""
    state_h, state_c = encode()
    token = np.zeros((batch, 1, vocab.num_decoder_tokens), dtype=np.float32)
    token[:, 0, vocab.start_id] = 1.0
    out = []
    for _ in range(steps):
        probs, state_h, state_c = step(token, state_h, state_c)
        chosen = np.argmax(probs[:, -1, :], axis=-1)
        out.append(chosen)
        token = np.zeros_like(token)
        token[np.arange(batch), 0, chosen] = 1.0
    return np.stack(out, axis=1)


def runtime_rows(bundle: Bundle, label: str) -> list[Row]:
    """The s2s-onnx runtime's paths on one loaded bundle (``label`` is the device)."""
    vocab = bundle.vocabulary
    encoder, decoder = bundle.encoder, bundle.decoder

    def steps_path(x: np.ndarray, steps: int) -> Run:
        return lambda: decode_steps(bundle, x, steps, stop_at_end=False).ids

    def naive(x: np.ndarray, steps: int) -> Run:
        def step(token: np.ndarray, h: np.ndarray, c: np.ndarray) -> list[np.ndarray]:
            return decoder.run(None, {names.DECODER_INPUT: token, names.STATE_H: h, names.STATE_C: c})

        return lambda: naive_loop(lambda: encoder.run(None, {names.ENCODER_INPUT: x}), step, x.shape[0], steps, vocab)

    def fused(x: np.ndarray, steps: int) -> Run:
        return lambda: decode_fused(bundle, x, steps, stop_at_end=False).ids

    rows = [
        Row(f"onnxruntime naive run() per step [{label}]", naive),
        Row(f"s2s-onnx step loop, I/O binding [{label}]", steps_path),
    ]
    if bundle.greedy is not None:
        rows.append(Row(f"s2s-onnx fused greedy.onnx [{label}]", fused))
    return rows


def floor_row(hidden: int) -> Row:
    """The decoder's recurrent matrix-vector product ``h @ R`` (hidden x 4*hidden, float32) alone, per step.

    Its values do not change its cost, so a random matrix of the decoder's shape stands in for R.
    """
    weight = (np.random.default_rng(0).standard_normal((hidden, 4 * hidden)) * 0.05).astype(np.float32)

    def prepare(x: np.ndarray, steps: int) -> Run:
        state = np.random.default_rng(1).standard_normal((x.shape[0], hidden)).astype(np.float32) * 0.1
        out = np.empty((x.shape[0], weight.shape[1]), dtype=np.float32)
        ids = np.zeros((x.shape[0], steps), dtype=np.int64)

        def run() -> np.ndarray:
            # A fixed h: a recurrence through the random matrix would decay into slow denormals or blow up.
            for _ in range(steps):
                np.dot(state, weight, out=out)
            return ids

        return run

    return Row(FLOOR, prepare, checks_tokens=False)


def blas_threads(threads: int) -> contextlib.AbstractContextManager[object]:
    """Limit numpy's BLAS to ``threads`` (threadpoolctl, when installed) for the whole timed run, so the
    floor and the rows' numpy work use the same thread count as onnxruntime."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def bench_sessions(threads: int, device: str = "cpu") -> SessionConfig:
    """``threads`` intra-op threads that sleep when idle: spinning pool threads would steal the cores
    that the interleaved rows (TensorFlow, LiteRT, numpy) are being timed on."""
    return SessionConfig(device="cuda" if device == "cuda" else "cpu", threads=threads, spinning=False)
