"""Beam search and sampling over the decoder step model, batched (beam search as ``batch x beam`` rows).

One decoder ``run`` per step for every live beam of every input (or, with :func:`fused_beam_search`, the same
search inside ``beam.onnx``, one ``run`` per batch): the candidates of a row are its beams'
log-probabilities plus each next token's, the best ``beam_size`` of them (ties: lower beam, then lower token id,
as ``argmax`` breaks them) become the next beams, and the recurrent states follow their beams by ``take``. A beam
that emits the end token leaves the search as a finished hypothesis and the next best candidate takes its slot;
a row stops once it has ``beam_size`` finished hypotheses that no live beam can beat any more (an exact bound:
log-probabilities only fall), and every row stops after ``max_length`` tokens (the live beams then finish with
stop reason ``"max_length"``).
Hypotheses rank by ``log_prob / ((5 + length) / 6) ** length_penalty`` (length: tokens generated, the end
token included). With one beam this is the greedy rule of the Keras example, token for token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import config as names
from .bundle import Bundle
from .decoding import BatchTokens, greedy_steps

NEG_INF = -np.inf


@dataclass(frozen=True)
class Hypothesis:
    """One finished sequence of a beam search: its token ids (end token excluded), each token's probability,
    the summed log-probability, the length-normalised score it was ranked by, and why it stopped."""

    token_ids: tuple[int, ...]
    probabilities: tuple[float, ...]
    log_prob: float
    score: float
    stop_reason: str  # "end" or "max_length"


def length_norm(length: int, alpha: float) -> float:
    """The usual length normalisation ``((5 + length) / 6) ** alpha`` (GNMT); 1 when ``alpha`` is 0."""
    return float(((5.0 + length) / 6.0) ** alpha)


class StepModel:
    """The bundle's encoder and decoder step as plain numpy calls: ``encode(x)`` and ``step(tokens, states)``."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.state_names = list(bundle.architecture.state_names)
        self.memory_names = list(bundle.architecture.memory)
        self.memory: list[np.ndarray] = []  # what every step reads besides the states, set by encode()
        self.one_hot = bundle.architecture.target_input == "one_hot"
        self.size = bundle.vocabulary.num_decoder_tokens

    def encode(self, x: np.ndarray, repeat: int = 1) -> list[np.ndarray]:
        """The encoder's states for ``x``, each row repeated ``repeat`` times (one per beam); keeps its memory
        (the attention's inputs), repeated alike, for :meth:`step`."""
        outputs = self.bundle.encoder.run(
            [*self.memory_names, *self.state_names], {names.ENCODER_INPUT: np.ascontiguousarray(x)}
        )
        repeated = [np.repeat(np.asarray(o), repeat, axis=0) for o in outputs]
        self.memory = repeated[: len(self.memory_names)]
        return repeated[len(self.memory_names) :]

    def step(self, tokens: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """``(rows,)`` token ids and the states -> ``(rows, vocab)`` probabilities and the new states."""
        token: np.ndarray
        if self.one_hot:
            token = np.zeros((len(tokens), 1, self.size), np.float32)
            token[np.arange(len(tokens)), 0, tokens] = 1.0
        else:
            token = tokens.astype(np.int64).reshape(-1, 1)
        feeds = {names.DECODER_INPUT: token, **dict(zip(self.state_names, states, strict=True))}
        feeds.update(zip(self.memory_names, self.memory, strict=True))
        outputs = [names.PROBS] + [n + names.OUT_SUFFIX for n in self.state_names]
        probs, *new_states = self.bundle.decoder.run(outputs, feeds)
        return np.asarray(probs)[:, -1, :], list(new_states)


@dataclass
class _Beams:
    """The live beams of every row: ``(batch, beam)`` scores (-inf: empty slot) and per-step history."""

    scores: np.ndarray  # (batch, beam) float64 summed log-probabilities
    tokens: np.ndarray  # (batch, beam, steps) int64
    probs: np.ndarray  # (batch, beam, steps) float64

    def extend(self, parent: np.ndarray, token: np.ndarray, prob: np.ndarray, score: np.ndarray) -> None:
        rows = np.arange(parent.shape[0])[:, None]
        self.tokens = np.concatenate([self.tokens[rows, parent], token[:, :, None]], axis=2)
        self.probs = np.concatenate([self.probs[rows, parent], prob[:, :, None]], axis=2)
        self.scores = score


def beam_search(
    bundle: Bundle, x: np.ndarray, max_length: int, beam_size: int, length_penalty: float = 0.0
) -> list[list[Hypothesis]]:
    """Beam-search one batch of encoder inputs; per input, its finished hypotheses, best first."""
    model = StepModel(bundle)
    batch, size, end_id = x.shape[0], model.size, bundle.vocabulary.end_id
    states = model.encode(x, repeat=beam_size)
    scores = np.full((batch, beam_size), NEG_INF)
    scores[:, 0] = 0.0  # one live beam per row to start with: no duplicates
    beams = _Beams(scores, np.zeros((batch, beam_size, 0), np.int64), np.zeros((batch, beam_size, 0)))
    tokens = np.full(batch * beam_size, bundle.vocabulary.start_id, np.int64)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    for step in range(max_length):
        probs, states = model.step(tokens, states)
        with np.errstate(divide="ignore"):
            log_probs = np.log(probs.astype(np.float64)).reshape(batch, beam_size, size)
        candidates = (beams.scores[:, :, None] + log_probs).reshape(batch, beam_size * size)
        best = np.argsort(-candidates, axis=1, kind="stable")[:, :beam_size]
        parent, token = best // size, best % size
        score = np.take_along_axis(candidates, best, axis=1)
        prob = probs.reshape(batch, beam_size, size)[np.arange(batch)[:, None], parent, token]
        beams.extend(parent, token, prob, score)
        last = step == max_length - 1
        _finish(beams, finished, (token == end_id) | last, end_id, length_penalty)
        _prune(beams, finished, beam_size, length_norm(max_length, length_penalty))
        if not np.isfinite(beams.scores).any():
            break
        order = (np.arange(batch)[:, None] * beam_size + parent).ravel()
        states = [s[order] for s in states]
        tokens = token.ravel()
    return [sorted(row, key=lambda h: -h.score) for row in finished]


def fused_beam_search(
    bundle: Bundle, x: np.ndarray, max_length: int, beam_size: int, length_penalty: float = 0.0
) -> list[list[Hypothesis]]:
    """:func:`beam_search` in one run of the bundle's ``beam.onnx`` (the same search, step for step), then
    :func:`backtrack`."""
    feeds = {
        names.ENCODER_INPUT: np.ascontiguousarray(x),
        names.FUSED_MAX_LENGTH: np.array(max_length, np.int64),
        names.BEAM_SIZE: np.array(beam_size, np.int64),
        names.LENGTH_PENALTY: np.array(length_penalty, np.float64),
    }
    outputs = bundle.fused_graph("beam").run(list(names.BEAM_OUTPUTS), feeds)
    return backtrack(outputs, bundle.vocabulary.end_id, length_penalty)


def backtrack(outputs: list[np.ndarray], end_id: int, length_penalty: float) -> list[list[Hypothesis]]:
    """Hypotheses from ``beam.onnx``'s per-step outputs ``(tokens, parents, probs, scores, finished)``, each
    ``(steps, batch, beam)``: every finished slot followed back through its parents; per input, best first (in
    the order :func:`beam_search` finds them, so that equal scores rank alike)."""
    tokens, parents, probs, scores, finished = (np.asarray(o) for o in outputs)
    found: list[list[Hypothesis]] = [[] for _ in range(tokens.shape[1])]
    for step, row, slot in zip(*np.nonzero(finished), strict=True):
        ids, chosen, at = [], [], slot
        for back in range(step, -1, -1):
            ids.append(int(tokens[back, row, at]))
            chosen.append(float(probs[back, row, at]))
            at = parents[back, row, at]
        ids.reverse()
        chosen.reverse()
        ended = ids[-1] == end_id
        kept = ids[:-1] if ended else ids
        log_prob = float(scores[step, row, slot])
        found[row].append(
            Hypothesis(
                token_ids=tuple(kept),
                probabilities=tuple(chosen[: len(kept)]),
                log_prob=log_prob,
                score=log_prob / length_norm(len(ids), length_penalty),
                stop_reason="end" if ended else "max_length",
            )
        )
    return [sorted(row, key=lambda h: -h.score) for row in found]


def _prune(beams: _Beams, finished: list[list[Hypothesis]], beam_size: int, best_norm: float) -> None:
    """Stop the rows whose live beams can no longer enter their ``beam_size`` best finished hypotheses: a live
    beam's log-probability only falls, so its score can at best reach ``log_prob / best_norm`` (the longest
    allowed length's normalisation). Exact: the results are those of searching on to ``max_length``."""
    for row, done in enumerate(finished):
        if len(done) < beam_size or not np.isfinite(beams.scores[row]).any():
            continue
        kth = sorted((h.score for h in done), reverse=True)[beam_size - 1]
        if beams.scores[row].max() / best_norm <= kth:
            beams.scores[row] = NEG_INF


def _finish(beams: _Beams, finished: list[list[Hypothesis]], leaving: np.ndarray, end_id: int, alpha: float) -> None:
    """Move the live beams marked ``leaving`` into ``finished`` and empty their slots."""
    for row, slot in zip(*np.nonzero(leaving & np.isfinite(beams.scores)), strict=True):
        ids = beams.tokens[row, slot].tolist()
        ended = ids[-1] == end_id
        kept = ids[:-1] if ended else ids
        log_prob = float(beams.scores[row, slot])
        finished[row].append(
            Hypothesis(
                token_ids=tuple(kept),
                probabilities=tuple(beams.probs[row, slot, : len(kept)].tolist()),
                log_prob=log_prob,
                score=log_prob / length_norm(len(ids), alpha),
                stop_reason="end" if ended else "max_length",
            )
        )
    beams.scores = np.where(leaving, NEG_INF, beams.scores)


@dataclass(frozen=True)
class Sampling:
    """Ancestral sampling settings: ``temperature`` divides the log-probabilities, ``top_k`` (0: off) keeps the
    k likeliest tokens, ``top_p`` (1: off) the smallest set whose probability reaches p; ``seed`` makes a call
    reproducible (the same inputs in the same batches give the same samples)."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None


def filtered(probs: np.ndarray, settings: Sampling) -> np.ndarray:
    """``(rows, vocab)`` probabilities -> the distribution sampled from, after temperature, top-k and top-p."""
    with np.errstate(divide="ignore"):
        scaled = np.log(probs.astype(np.float64)) / settings.temperature
    weights = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    if 0 < settings.top_k < weights.shape[1]:
        kth = -np.partition(-weights, settings.top_k - 1, axis=1)[:, settings.top_k - 1 : settings.top_k]
        weights = np.where(weights >= kth, weights, 0.0)
    if settings.top_p < 1.0:
        order = np.argsort(-weights, axis=1, kind="stable")
        ranked = np.take_along_axis(weights, order, axis=1)
        before = np.cumsum(ranked, axis=1) - ranked  # mass of the likelier tokens
        keep = before < settings.top_p * ranked.sum(axis=1, keepdims=True)
        mask = np.zeros_like(keep)
        np.put_along_axis(mask, order, keep, axis=1)
        weights = np.where(mask, weights, 0.0)
    return np.asarray(weights / weights.sum(axis=1, keepdims=True))


def sample(bundle: Bundle, x: np.ndarray, max_length: int, settings: Sampling, stop_at_end: bool = True) -> BatchTokens:
    """Sample one batch token by token: the greedy step loop (:func:`greedy_steps`) with a draw instead of the
    argmax, so it stops like greedy, at the end token or after ``max_length`` tokens."""
    rng = np.random.default_rng(settings.seed)

    def draw(probs: np.ndarray) -> np.ndarray:
        cumulative = np.cumsum(filtered(probs, settings), axis=1)
        draws = np.asarray(rng.random(probs.shape[0])).reshape(-1, 1) * cumulative[:, -1:]
        return np.asarray(np.minimum((cumulative <= draws).sum(axis=1), probs.shape[1] - 1), np.int64)

    steps = list(greedy_steps(bundle, x, max_length, stop_at_end, choose=draw))
    if not steps:
        return BatchTokens.from_steps(np.zeros((x.shape[0], 0), np.int64), np.zeros((x.shape[0], 0)), 0)
    ids, probs = (np.stack(column, axis=1) for column in zip(*steps, strict=True))
    return BatchTokens.from_steps(ids, probs, bundle.vocabulary.end_id)
