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
from s2s_onnx.runtime.architecture import Architecture
from s2s_onnx.runtime.bundle import Bundle
from s2s_onnx.runtime.decoding import decode_fused, decode_steps
from s2s_onnx.runtime.sessions import SessionConfig
from s2s_onnx.runtime.vocab import Vocabulary

FLOOR = "floor: recurrent mat-vecs h @ R only"
ALL_PRODUCTS = "floor: every matrix product (encoder, decoder, Dense)"
Run = Callable[[], np.ndarray]
Prepare = Callable[[np.ndarray, int], Run]


@dataclass(frozen=True)
class Row:
    name: str
    prepare: Prepare
    slow: bool = False  # few repetitions (the predict() loop)
    checks_tokens: bool = True  # the floor decodes nothing
    approximate: bool = False  # int8: timed even if some tokens differ; their share of equal tokens is reported


def token_maker(vocab: Vocabulary, ids: bool) -> Callable[[np.ndarray], np.ndarray]:
    """Chosen ids -> the decoder's next input: ``(batch, 1)`` ids for an Embedding, else fresh one-hot vectors."""

    def make(chosen: np.ndarray) -> np.ndarray:
        if ids:
            return np.asarray(chosen, dtype=np.int64).reshape(-1, 1)
        token = np.zeros((len(chosen), 1, vocab.num_decoder_tokens), dtype=np.float32)
        token[np.arange(len(chosen)), 0, chosen] = 1.0
        return token

    return make


def naive_loop(
    encode: Callable[[], Sequence[Any]],
    step: Callable[..., Sequence[Any]],
    batch: int,
    steps: int,
    make_token: Callable[[np.ndarray], np.ndarray],
    start_id: int,
) -> np.ndarray:
    """The Keras example's loop shape: one ``step(token, *states) -> (probs, *states)`` call per token, a fresh
    token array each time. ``encode()`` gives the initial states."""
    states = list(encode())
    token = make_token(np.full(batch, start_id))
    out = []
    for _ in range(steps):
        probs, *states = step(token, *states)
        chosen = np.argmax(probs[:, -1, :], axis=-1)
        out.append(chosen)
        token = make_token(chosen)
    return np.stack(out, axis=1)


def runtime_rows(bundle: Bundle, label: str, approximate: bool = False) -> list[Row]:
    """The s2s-onnx runtime's paths on one loaded bundle (``label`` is the device; ``approximate`` for an int8
    bundle, whose tokens may differ from the fp32 reference)."""
    vocab, model = bundle.vocabulary, bundle.architecture
    encoder, decoder = bundle.encoder, bundle.decoder
    state_names, memory = list(model.state_names), list(model.memory)
    make_token = token_maker(vocab, model.target_input == "ids")

    def steps_path(x: np.ndarray, steps: int) -> Run:
        return lambda: decode_steps(bundle, x, steps, stop_at_end=False).ids

    def naive(x: np.ndarray, steps: int) -> Run:
        def step(token: np.ndarray, *carried: np.ndarray) -> list[np.ndarray]:
            # an attention model's memory (the encoder's outputs) rides along unchanged before the states
            feeds = dict(zip([*memory, *state_names], carried, strict=True))
            probs, *states = decoder.run(None, {names.DECODER_INPUT: token, **feeds})
            return [probs, *carried[: len(memory)], *states]

        def encode() -> list[np.ndarray]:
            return encoder.run([*memory, *state_names], {names.ENCODER_INPUT: x})

        return lambda: naive_loop(encode, step, x.shape[0], steps, make_token, vocab.start_id)

    def fused(x: np.ndarray, steps: int) -> Run:
        return lambda: decode_fused(bundle, x, steps, stop_at_end=False).ids

    rows = [
        Row(f"onnxruntime naive run() per step [{label}]", naive, approximate=approximate),
        Row(f"s2s-onnx step loop, I/O binding [{label}]", steps_path, approximate=approximate),
    ]
    if bundle.greedy is not None:
        rows.append(Row(f"s2s-onnx fused greedy.onnx [{label}]", fused, approximate=approximate))
    return rows


def floor_row(model: Architecture) -> Row:
    """The decoder's recurrent matrix-vector products ``h @ R`` (per layer: hidden x gates * hidden, float32)
    alone, per step. Their values do not change their cost, so random matrices of the decoder's shapes stand in."""
    gates = 4 if model.cell == "lstm" else 3
    rng = np.random.default_rng(0)
    widths = [s.width for s in model.states if s.name.startswith("state_h")]
    weights = [(rng.standard_normal((w, gates * w)) * 0.05).astype(np.float32) for w in widths]

    def prepare(x: np.ndarray, steps: int) -> Run:
        states = [np.random.default_rng(1).standard_normal((x.shape[0], w)).astype(np.float32) * 0.1 for w in widths]
        outs = [np.empty((x.shape[0], w.shape[1]), dtype=np.float32) for w in weights]
        ids = np.zeros((x.shape[0], steps), dtype=np.int64)

        def run() -> np.ndarray:
            # A fixed h: a recurrence through the random matrix would decay into slow denormals or blow up.
            for _ in range(steps):
                for state, weight, out in zip(states, weights, outs, strict=True):
                    np.dot(state, weight, out=out)
            return ids

        return run

    return Row(FLOOR, prepare, checks_tokens=False)


Shapes = list[tuple[int, int]]


def attention_head(bundle: Bundle) -> Shapes | None:
    """An attention bundle's weight products after the decoder stack, per step (the Dense on the concatenation,
    as its context and query parts, and the softmax Dense after a combining one), read from ``greedy.onnx``'s
    constants; ``None`` for a bundle without attention or without ``greedy.onnx``."""
    if not bundle.architecture.attention or bundle.greedy is None:
        return None
    import onnx

    graph = onnx.load(str(bundle.path / names.GREEDY_NAME), load_external_data=False).graph
    found = {
        init.name.split("att_", 1)[1].rsplit("_", 1)[0]: tuple(init.dims)
        for init in graph.initializer
        if "att_" in init.name
    }
    shapes = [found[k] for k in ("first_context", "first_query", "second") if k in found]
    return [(int(r), int(c)) for r, c in shapes]


def sentence_products(model: Architecture, output_tokens: int, head: Shapes | None = None) -> tuple[Shapes, Shapes]:
    """The weight matrices one sentence must multiply: (encoder step's, decoder step's), as (rows, columns).

    Encoder step: each layer's (and direction's) recurrent matrix, plus the input matrix of every layer above the
    first (the first layer's one-hot or Embedding input is a row lookup). Decoder step: the same for the decoder
    stack, plus the Dense layer (``head``: an attention model's products after the stack instead)."""
    gates = 4 if model.cell == "lstm" else 3
    widths = [s.width for s in model.states if s.name.startswith("state_h")]
    directions = 2 if model.direction == "bidirectional" else 1
    encoder, decoder = [], []
    for depth, width in enumerate(widths):
        unit = width // directions
        encoder += [(unit, gates * unit)] * directions
        decoder.append((width, gates * width))
        if depth:
            encoder += [(widths[depth - 1], gates * unit)] * directions
            decoder.append((widths[depth - 1], gates * width))
    decoder += head if head is not None else [(widths[-1], output_tokens)]
    return encoder, decoder


def weight_bytes(shapes: list[tuple[int, int]]) -> int:
    """float32 bytes of the weight matrices: what a batch-1 step must stream from cache or memory."""
    return sum(4 * rows * columns for rows, columns in shapes)


def all_products_row(model: Architecture, output_tokens: int, head: Shapes | None = None) -> Row:
    """Every unavoidable matrix product of a sentence in numpy: the encoder's per input step, then the
    decoder's and the Dense per output step (random matrices of the real shapes: values do not change cost). An
    attention model (``head``) also multiplies, each step, its query by the encoder's outputs (the scores) and
    the weights by them (the context): two batched mat-vecs over ``(input steps, width)`` per row."""
    encoder, decoder = sentence_products(model, output_tokens, head)
    attends = head is not None
    rng = np.random.default_rng(0)

    def matrices(shapes: list[tuple[int, int]]) -> list[np.ndarray]:
        return [(rng.standard_normal(shape) * 0.05).astype(np.float32) for shape in shapes]

    enc_weights, dec_weights = matrices(encoder), matrices(decoder)

    def prepare(x: np.ndarray, steps: int) -> Run:
        batch, enc_steps = x.shape[0], x.shape[1]

        def buffers(weights: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
            return [
                (np.full((batch, w.shape[0]), 0.1, np.float32), np.empty((batch, w.shape[1]), np.float32))
                for w in weights
            ]

        enc_buffers, dec_buffers = buffers(enc_weights), buffers(dec_weights)
        ids = np.zeros((batch, steps), dtype=np.int64)
        width = head[0][0] if head else 0  # the context part's rows: the encoder outputs' width
        values = np.full((batch, enc_steps, width), 0.1, np.float32)
        query, scores = np.full((batch, 1, width), 0.1, np.float32), np.empty((batch, 1, enc_steps), np.float32)
        context, keys = np.empty((batch, 1, width), np.float32), values.transpose(0, 2, 1).copy()

        def run() -> np.ndarray:
            for count, weights, pairs in ((enc_steps, enc_weights, enc_buffers), (steps, dec_weights, dec_buffers)):
                for _ in range(count):
                    for weight, (state, out) in zip(weights, pairs, strict=True):
                        np.dot(state, weight, out=out)
                    if attends and weights is dec_weights:
                        np.matmul(query, keys, out=scores)
                        np.matmul(scores, values, out=context)
            return ids

        return run

    return Row(ALL_PRODUCTS, prepare, checks_tokens=False)


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
