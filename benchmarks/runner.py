"""Interleaved timing of benchmark rows: every round times every row once, so noise hits all rows alike."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .rows import Row, Run

logger = logging.getLogger(__name__)


@dataclass
class RowResult:
    name: str
    batch_size: int
    steps: int
    seconds: list[float] = field(default_factory=list)  # per batch decode (= per sentence latency)
    tokens_match: bool | None = None  # None: the row decodes nothing (the floor)
    error: str = ""
    approximate: bool = False  # timed even if tokens differ (int8)
    token_agreement: float | None = None  # share of tokens equal to the reference row's

    def stats(self) -> dict[str, float]:
        if not self.seconds or self.error or (self.tokens_match is False and not self.approximate):
            return {}
        s = np.asarray(self.seconds)
        median = float(np.median(s))
        return {
            "sentence_median_ms": median * 1e3,
            "sentence_p90_ms": float(np.percentile(s, 90)) * 1e3,
            "sentence_p99_ms": float(np.percentile(s, 99)) * 1e3,
            "step_median_us": median / self.steps * 1e6,
            "throughput_sentences_per_s": self.batch_size / median,
        }


def run_benchmark(
    rows: Sequence[Row],
    reference_row: str,
    batches: dict[int, np.ndarray],
    steps: int,
    repeats: int,
    slow_repeats: int,
    progress: Callable[[str], None] | None = None,
    end_id: int | None = None,
) -> list[RowResult]:
    """Warm up, check tokens against ``reference_row``, then time ``repeats`` interleaved rounds. With ``end_id``,
    an approximate row's agreement is the share of rows that decode the same text (tokens through the reference's
    first end token; the fixed-length runs go on past it)."""
    results: list[RowResult] = []
    for batch_size, x in batches.items():
        runs: dict[str, Run] = {}
        by_name: dict[str, RowResult] = {}
        decoded: dict[str, np.ndarray] = {}
        for row in rows:
            result = RowResult(row.name, batch_size, steps, approximate=row.approximate)
            by_name[row.name] = result
            results.append(result)
            try:
                run = row.prepare(x, steps)
                ids = np.asarray(run())  # warm-up, and the tokens to check
            except Exception as exc:  # a row that cannot run is reported, not fatal
                first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                result.error = f"{type(exc).__name__}: {first}"
                logger.warning("%s (batch %d) failed: %s", row.name, batch_size, result.error)
                continue
            runs[row.name] = run
            if row.checks_tokens:
                decoded[row.name] = ids
        expected = decoded.get(reference_row)
        if expected is None:
            raise RuntimeError(f"the reference row {reference_row!r} did not run")
        for name, ids in decoded.items():
            match = bool(np.array_equal(ids, expected))
            by_name[name].tokens_match = match
            by_name[name].token_agreement = agreement(ids, expected, end_id)
            if not match and not by_name[name].approximate:
                logger.warning("%s (batch %d) decoded other tokens than the runtime", name, batch_size)
        slow = {row.name for row in rows if row.slow}
        for round_index in range(repeats):
            for row in rows:
                run_fn = runs.get(row.name)
                if run_fn is None or (row.name in slow and round_index >= slow_repeats):
                    continue
                started = time.perf_counter()
                run_fn()
                by_name[row.name].seconds.append(time.perf_counter() - started)
                if progress is not None:
                    progress(f"batch {batch_size}: {row.name}")
    return results


def agreement(ids: np.ndarray, expected: np.ndarray, end_id: int | None) -> float:
    """Share of rows equal to ``expected`` through its first ``end_id`` (all steps without one)."""
    if ids.shape != expected.shape:
        return 0.0
    if end_id is None:
        return float(np.mean(ids == expected))
    is_end = expected == end_id
    lengths = np.where(is_end.any(axis=1), is_end.argmax(axis=1) + 1, expected.shape[1])
    same = [np.array_equal(ids[r, :n], expected[r, :n]) for r, n in enumerate(lengths.tolist())]
    return float(np.mean(same))
