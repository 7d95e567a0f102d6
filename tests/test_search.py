"""Beam search on tiny ``onnx.helper`` bundles (no TensorFlow): beam 1 is greedy; wider beams equal a plain
reference beam search written over the numpy LSTM, one input and one beam at a time; n-best lists are sorted
and distinct; options are checked."""

from __future__ import annotations

import heapq
from pathlib import Path

import numpy as np
import pytest
from onnx_fixtures import TINY_VOCAB, TinyWeights, lstm_step, random_weights, write_bundle

from s2s_onnx.runtime import DecodeOptions, Seq2SeqModel
from s2s_onnx.runtime.errors import BundleFormatError, InvalidOptionError
from s2s_onnx.runtime.search import Sampling, StepModel, filtered, length_norm
from s2s_onnx.runtime.vocab import CleanRules

N_IN, N_OUT, HIDDEN = TINY_VOCAB.num_encoder_tokens, TINY_VOCAB.num_decoder_tokens, 5
TEXTS = ["", "a", "abc", "gfedcba", "bad", "cafe", "dee", "g", "ab", "fg", "cab", "ace", "bed", "age", "egg"]


@pytest.fixture(scope="module", params=[(21, 0.0), (24, 0.6)], ids=["seed21", "seed24"])
def tiny(request, tmp_path_factory) -> tuple[Seq2SeqModel, TinyWeights]:
    seed, end_bias = request.param
    weights = random_weights(N_IN, N_OUT, HIDDEN, seed=seed, end_bias=(TINY_VOCAB.end_id, end_bias))
    path = write_bundle(tmp_path_factory.mktemp(f"beam{seed}"), weights)
    return Seq2SeqModel.load(path, options=DecodeOptions(allow_empty=True)), weights


def reference_beam(weights: TinyWeights, x: np.ndarray, beam: int, max_length: int, alpha: float) -> list[tuple]:
    """A plain beam search, one input, float64 numpy LSTM: returns (token ids, log-prob, score, ended), best first."""
    h = c = np.zeros((1, weights.hidden))
    for t in range(x.shape[0]):
        h, c = lstm_step(x[t : t + 1].astype(np.float64), h, c, weights.enc_w, weights.enc_r, weights.enc_b)
    live = [(0.0, [], h, c)]
    finished = []
    for step in range(max_length):
        candidates = []
        for order, (score, ids, bh, bc) in enumerate(live):
            one_hot = np.zeros((1, N_OUT))
            one_hot[0, ids[-1] if ids else TINY_VOCAB.start_id] = 1.0
            nh, nc = lstm_step(one_hot, bh, bc, weights.dec_w, weights.dec_r, weights.dec_b)
            logits = (nh @ weights.dense_w + weights.dense_b)[0]
            log_probs = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
            candidates += [(score + log_probs[v], order, v, ids, nh, nc) for v in range(N_OUT)]
        best = heapq.nsmallest(beam, candidates, key=lambda cand: (-cand[0], cand[1], cand[2]))
        live = []
        for score, _, token, ids, nh, nc in best:
            if token == TINY_VOCAB.end_id or step == max_length - 1:
                ended = token == TINY_VOCAB.end_id
                finished.append(
                    (ids if ended else [*ids, token], score, score / length_norm(len(ids) + 1, alpha), ended)
                )
            else:
                live.append((score, [*ids, token], nh, nc))
        if not live:
            break
    return sorted(finished, key=lambda f: -f[2])


def test_beam_of_one_is_greedy(tiny) -> None:
    model, _ = tiny
    for max_length in (None, 3):
        greedy = model.decode(TEXTS, max_length=max_length, strategy="steps")
        beam = model.decode(TEXTS, max_length=max_length, beam_size=1, num_return=1, length_penalty=0.0)
        beam_forced = model.decode(TEXTS, max_length=max_length, beam_size=2, num_return=1)  # searches, 2 beams
        assert [(g.token_ids, g.stop_reason) for g in greedy] == [(b.token_ids, b.stop_reason) for b in beam]
        assert all(b.score is None for b in beam)  # beam_size=1 is the greedy path itself
        assert all(r.score is not None for r in beam_forced)


@pytest.mark.parametrize("strategy", ["auto", "steps"], ids=["beam.onnx", "step-path"])
@pytest.mark.parametrize("beam", [2, 4, 8])
@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_equals_a_plain_reference(tiny, beam: int, alpha: float, strategy: str) -> None:
    """Both beam searches, the fused ``beam.onnx`` (the default where the bundle has one) and the step path."""
    model, weights = tiny
    assert model.bundle.beam is not None
    max_length = model.max_length()
    options = {"beam_size": beam, "num_return": beam, "length_penalty": alpha, "strategy": strategy}
    results = model.decode(TEXTS, **options, batch_size=5)
    for text, result in zip(TEXTS, results, strict=True):
        x = TINY_VOCAB.encode_sources([text])[0]
        want = reference_beam(weights, x, beam, max_length, alpha)
        got = [(list(h.token_ids), h.log_prob, h.score, h.stop_reason == "end") for h in result.hypotheses]
        assert [g[0] for g in got] == [w[0] for w in want[: len(got)]], text
        assert [g[3] for g in got] == [w[3] for w in want[: len(got)]]
        np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want[: len(got)]], atol=1e-4)
        np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want[: len(got)]], atol=1e-4)
        assert result.token_ids == result.hypotheses[0].token_ids


@pytest.mark.parametrize("max_length", [None, 1, 3])
def test_fused_beam_search_equals_the_step_path(tiny, max_length: int | None) -> None:
    """``beam.onnx`` is the step path's search, step for step: the same hypotheses in the same order (ties
    included), the same stop reasons, probabilities and scores, also under a short ``max_length``."""
    model, _ = tiny
    for beam, alpha in ((2, 0.0), (4, 0.6), (8, 1.0), (3, 0.2)):
        options = {"beam_size": beam, "num_return": beam, "length_penalty": alpha, "max_length": max_length}
        fused = model.decode(TEXTS, **options, batch_size=7)
        steps = model.decode(TEXTS, **options, batch_size=7, strategy="steps")
        for f, s in zip(fused, steps, strict=True):
            assert [(h.token_ids, h.stop_reason) for h in f.hypotheses] == [
                (h.token_ids, h.stop_reason) for h in s.hypotheses
            ]
            for a, b in zip(f.hypotheses, s.hypotheses, strict=True):
                np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5, atol=1e-7)
                assert a.log_prob == pytest.approx(b.log_prob, abs=1e-6) and a.score == pytest.approx(b.score, abs=1e-6)


def test_fused_beam_search_needs_beam_onnx(tmp_path) -> None:
    weights = random_weights(N_IN, N_OUT, HIDDEN, seed=3)
    model = Seq2SeqModel.load(write_bundle(tmp_path / "steps-only", weights, fused=False))
    assert model.bundle.beam is None
    assert model.decode("abc", beam_size=2).score is not None  # auto: the step path
    with pytest.raises(BundleFormatError, match="convert --fused"):
        model.decode("abc", beam_size=2, strategy="fused")


def test_n_best_sorted_distinct_and_batched_like_single(tiny) -> None:
    model, _ = tiny
    batched = model.decode(TEXTS, beam_size=4, num_return=4, length_penalty=0.6, batch_size=4)
    for text, result in zip(TEXTS, batched, strict=True):
        scores = [h.score for h in result.hypotheses]
        assert scores == sorted(scores, reverse=True)
        assert len({h.token_ids for h in result.hypotheses}) == len(result.hypotheses) >= 1
        assert len(result.texts) == len(result.hypotheses)
        single = model.decode(text, beam_size=4, num_return=4, length_penalty=0.6)
        assert [h.token_ids for h in single.hypotheses] == [h.token_ids for h in result.hypotheses]
        as_dict = result.to_dict()
        assert as_dict["score"] == pytest.approx(result.score, abs=1e-6) and len(as_dict["n_best"]) == len(scores)
    assert model.translate("abc", beam_size=3) == model.decode("abc", beam_size=3).text


def test_wider_beams_never_score_worse(tiny) -> None:
    """A wider beam keeps the narrower one's best candidates in play: its best log-probability is at least as
    high whenever it ranks by plain log-probability (alpha 0) on these tiny models."""
    model, _ = tiny
    narrow = model.decode(TEXTS, beam_size=2, length_penalty=0.0)
    wide = model.decode(TEXTS, beam_size=8, length_penalty=0.0)
    better = sum(w.score >= n.score - 1e-9 for n, w in zip(narrow, wide, strict=True))
    assert better >= len(TEXTS) - 2  # beam search is not monotone in general; almost always here


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_return": 3}, "cannot exceed beam_size"),
        ({"beam_size": 0}, "beam_size must be between 1 and 64"),
        ({"beam_size": 4, "length_penalty": -1.0}, "length_penalty must be between 0"),
    ],
)
def test_search_options_are_checked(changes: dict, message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        DecodeOptions(**changes)


def test_beam_search_memory_is_bounded(tiny, tmp_path: Path) -> None:
    model, _ = tiny
    from s2s_onnx.runtime.errors import DecodeLimitError

    with pytest.raises(DecodeLimitError, match="batch_size or max_length"):
        model.decode(["abc"] * 4096, beam_size=64, batch_size=4096, max_length=10_000)


def _first_step_probs(model: Seq2SeqModel, text: str) -> np.ndarray:
    step = StepModel(model.bundle)
    x = model.bundle.encoder_input([TINY_VOCAB.clean(text, CleanRules(allow_empty=True))])
    probs, _ = step.step(np.array([TINY_VOCAB.start_id]), step.encode(x))
    return probs[0].astype(np.float64)


def chi_square_critical(df: int, z: float = 3.09) -> float:
    """The chi-square quantile for ``df`` degrees of freedom at the normal quantile ``z`` (3.09: p = 0.001),
    by Wilson and Hilferty's approximation."""
    return df * (1 - 2 / (9 * df) + z * (2 / (9 * df)) ** 0.5) ** 3


def test_sampling_is_reproducible_and_differs_by_seed(tiny) -> None:
    model, _ = tiny
    first = model.decode(TEXTS * 4, sampling=True, seed=7, temperature=1.5)
    again = model.decode(TEXTS * 4, sampling=True, seed=7, temperature=1.5)
    other = model.decode(TEXTS * 4, sampling=True, seed=8, temperature=1.5)
    assert [r.token_ids for r in first] == [r.token_ids for r in again]
    assert [r.token_ids for r in first] != [r.token_ids for r in other]
    cold = model.decode(TEXTS, sampling=True, seed=1, top_k=1)  # only the argmax left: greedy
    greedy = model.decode(TEXTS, strategy="steps")
    assert [(r.token_ids, r.stop_reason) for r in cold] == [(g.token_ids, g.stop_reason) for g in greedy]


def test_first_tokens_follow_the_probabilities(tiny) -> None:
    """Chi-square goodness of fit of 4,000 first tokens drawn for one input against the decoder's probabilities."""
    model, _ = tiny
    draws = 4000
    results = model.decode(["cab"] * draws, sampling=True, seed=3, max_length=1, batch_size=4000)
    counts = np.bincount([r.token_ids[0] if r.token_ids else TINY_VOCAB.end_id for r in results], minlength=N_OUT)
    expected = _first_step_probs(model, "cab") * draws
    big = expected >= 5
    observed = np.append(counts[big], counts[~big].sum())
    wanted = np.append(expected[big], expected[~big].sum())
    statistic = float((((observed - wanted) ** 2) / np.maximum(wanted, 1e-9)).sum())
    assert statistic < chi_square_critical(int(big.sum())), (statistic, observed, wanted)


def test_top_k_and_top_p_cut_the_distribution(tiny) -> None:
    model, _ = tiny
    probs = _first_step_probs(model, "cab")
    top2 = set(np.argsort(-probs)[:2].tolist())
    results = model.decode(["cab"] * 500, sampling=True, seed=5, top_k=2, max_length=1, temperature=3.0)
    assert {r.token_ids[0] if r.token_ids else TINY_VOCAB.end_id for r in results} <= top2
    kept = filtered(probs[None, :], Sampling(top_p=1e-6))[0]
    assert np.count_nonzero(kept) == 1 and kept.argmax() == probs.argmax()
    flat = filtered(probs[None, :], Sampling(temperature=100.0))[0]
    assert flat.max() - flat.min() < probs.max() - probs.min()
    np.testing.assert_allclose(filtered(probs[None, :], Sampling())[0], probs / probs.sum(), atol=1e-7)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sampling": True, "beam_size": 2}, "exclude each other"),
        ({"temperature": 0}, "temperature must be between"),
        ({"top_p": 1.5}, "top_p must be between"),
        ({"top_k": -1}, "top_k must be"),
        ({"seed": -3}, "seed must be"),
    ],
)
def test_sampling_options_are_checked(changes: dict, message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        DecodeOptions(**changes)
