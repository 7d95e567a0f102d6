"""Prometheus text-format metrics for ``s2s-onnx serve``: counters and histograms, no extra dependency."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .batching import BatchStats

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


@dataclass
class Histogram:
    """Cumulative-bucket histogram of observed values (Prometheus semantics: ``le`` buckets, sum, count)."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float, times: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += times
        self.total += value * times

    def lines(self, name: str) -> list[str]:
        found, running = [], 0
        for bound, count in zip([*self.bounds, float("inf")], self.counts, strict=True):
            running += count
            label = "+Inf" if bound == float("inf") else f"{bound:g}"
            found.append(f'{name}_bucket{{le="{label}"}} {running}')
        return [*found, f"{name}_sum {self.total:.6f}", f"{name}_count {running}"]


class ServerMetrics:
    """Requests by path and status, texts decoded, request latency; rendered with the batcher's counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = {}
        self._texts = 0
        self._latency = Histogram(LATENCY_BUCKETS)

    def record(self, path: str, status: int, seconds: float, texts: int = 0) -> None:
        with self._lock:
            self._requests[(path, status)] = self._requests.get((path, status), 0) + 1
            self._texts += texts
            if path == "/translate":
                self._latency.observe(seconds)

    def render(self, batcher: BatchStats) -> str:
        with self._lock:
            requests = dict(self._requests)
            texts, latency = self._texts, self._latency.lines("s2s_request_seconds")
        lines = _family("s2s_requests_total", "counter", "HTTP requests by path and status")
        lines += [f's2s_requests_total{{path="{p}",status="{s}"}} {n}' for (p, s), n in sorted(requests.items())]
        lines += [*_family("s2s_texts_total", "counter", "texts decoded"), f"s2s_texts_total {texts}"]
        lines += _family("s2s_request_seconds", "histogram", "POST /translate latency, seconds") + latency
        lines += _batcher_lines(batcher)
        return "\n".join(lines) + "\n"


def _family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _batcher_lines(stats: BatchStats) -> list[str]:
    lines = _family("s2s_batch_size", "histogram", "requests per decoded batch")
    sizes = Histogram(BATCH_BUCKETS)
    for size, count in stats.batch_sizes.items():
        sizes.observe(size, count)
    lines += sizes.lines("s2s_batch_size")
    counters: Mapping[str, int] = {
        "answered": stats.answered,
        "failed": stats.failed,
        "timed_out": stats.timed_out,
        "rejected": stats.rejected,
        "cancelled": stats.cancelled,
    }
    lines += _family("s2s_batcher_requests_total", "counter", "batcher requests by outcome")
    lines += [f's2s_batcher_requests_total{{outcome="{k}"}} {v}' for k, v in counters.items()]
    lines += [*_family("s2s_queue_depth", "gauge", "requests waiting for a batch"), f"s2s_queue_depth {stats.queued}"]
    return lines
