"""``s2s-onnx loadtest``: N concurrent clients send single sentences to a real ``s2s-onnx serve`` process.

Each mode (dynamic batching on, and off: ``--max-batch 1``) gets a fresh server; each client count N runs a
bounded number of requests within a time cap, after a warm-up. Every answer is compared with the text that
sequential, unbatched decoding in this process gives. Results: a table, JSON and a plot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s2s_onnx.runtime.bundle import default_model_path
from s2s_onnx.runtime.config import REFERENCE_NAME
from s2s_onnx.runtime.errors import DataFormatError, S2SError
from s2s_onnx.runtime.model import Seq2SeqModel
from s2s_onnx.runtime.vocab import Vocabulary

from .http_client import HttpConnection, ServerProcess, start_server
from .report import machine_info, versions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadSettings:
    """What to run: the bundle, the texts, client counts, requests and seconds per run (whichever ends
    first), the batching server's settings, onnxruntime threads and decode workers (both modes), and where
    results go."""

    bundle_dir: Path | None
    texts: tuple[str, ...]
    clients: tuple[int, ...] = (1, 8, 64)
    requests: int = 2000
    seconds: float = 30.0
    max_batch: int = 32
    max_delay_ms: float = 2.0
    threads: int = 1
    workers: int = 1
    out: Path = Path("loadtest-results")


@dataclass(frozen=True)
class LoadRun:
    """One mode at one client count: requests answered, errors, answers that differ from sequential
    decoding, wall seconds, throughput and latency percentiles."""

    mode: str
    clients: int
    requests: int
    errors: int
    mismatches: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float


def default_texts(bundle_dir: Path | None) -> tuple[str, ...]:
    """The inputs of the bundle's ``reference.json`` (the built-in bundle has 64)."""
    directory = Path(bundle_dir) if bundle_dir is not None else default_model_path()
    reference = directory / REFERENCE_NAME
    if not reference.is_file():
        raise DataFormatError(f"{directory} has no {REFERENCE_NAME}; pass --texts FILE (one text per line)")
    return tuple(d["text"] for d in json.loads(reference.read_text("utf-8"))["decodes"])


def usable_texts(vocab: Vocabulary, texts: tuple[str, ...]) -> tuple[str, ...]:
    """The texts a model with ``vocab`` can take as they are (known characters, not too long, not blank)."""
    keep = []
    for text in texts:
        try:
            vocab.clean(text)
        except S2SError:
            continue
        keep.append(text)
    if not keep:
        raise DataFormatError("none of the texts can be decoded by this model (unknown characters or too long)")
    return tuple(keep)


async def _client(
    connection: HttpConnection, work: itertools.count[int], texts: tuple[str, ...], until: tuple[int, float]
) -> list[tuple[float, int, str, str | None]]:
    """(latency, status, text sent, text received) for each request this client sent, until ``work`` reaches
    ``until[0]`` requests or the clock ``until[1]``."""
    done = []
    while (index := next(work)) < until[0] and time.perf_counter() < until[1]:
        text = texts[index % len(texts)]
        started = time.perf_counter()
        status, answer = await connection.post_json("/translate", {"text": text})
        got = answer.get("text") if status == 200 and isinstance(answer, dict) else None
        done.append((time.perf_counter() - started, status, text, got))
    return done


async def _load(server: ServerProcess, clients: int, settings: LoadSettings, requests: int) -> tuple[float, list[Any]]:
    connections = [await HttpConnection.open(server.host, server.port) for _ in range(clients)]
    try:
        work = itertools.count()
        started = time.perf_counter()
        until = (requests, started + settings.seconds)
        parts = await asyncio.gather(*(_client(c, work, settings.texts, until) for c in connections))
        elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()
    return elapsed, [item for part in parts for item in part]


def measure(
    server: ServerProcess, mode: str, clients: int, settings: LoadSettings, expected: dict[str, str]
) -> LoadRun:
    """Warm up, then one timed run of ``clients`` concurrent clients against ``server`` (running as ``mode``)."""
    asyncio.run(_load(server, clients, settings, min(settings.requests, 4 * clients)))
    elapsed, done = asyncio.run(_load(server, clients, settings, settings.requests))
    latencies = sorted(d[0] for d in done)
    errors = sum(1 for d in done if d[1] != 200)
    mismatches = sum(1 for d in done if d[1] == 200 and d[3] != expected[d[2]])
    return LoadRun(
        mode=mode,
        clients=clients,
        requests=len(done),
        errors=errors,
        mismatches=mismatches,
        seconds=round(elapsed, 3),
        per_second=round(len(done) / elapsed, 1),
        p50_ms=round(1000 * statistics.median(latencies), 2),
        p99_ms=round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
    )


def sequential_answers(settings: LoadSettings) -> dict[str, str]:
    """What unbatched decoding gives for each text, one call per text."""
    model = Seq2SeqModel.load(settings.bundle_dir, threads=settings.threads)
    return {text: model.translate(text) for text in dict.fromkeys(settings.texts)}


def decode_ceiling(settings: LoadSettings, rounds: int = 3) -> dict[str, float]:
    """Sentences per second of in-process decoding, no HTTP, on the same texts and threads: one at a time and
    in batches of ``max_batch`` (best of ``rounds``). Their ratio bounds what batching can gain."""
    model = Seq2SeqModel.load(settings.bundle_dir, threads=settings.threads)
    texts = list(settings.texts[: 16 * settings.max_batch])
    rates = {}
    for size in (1, settings.max_batch):
        model.decode(texts[:size], batch_size=size)
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for start in range(0, len(texts), size):
                model.decode(texts[start : start + size], batch_size=size)
            best = min(best, time.perf_counter() - started)
        rates[f"batch_{size}_per_second"] = round(len(texts) / best, 1)
    return rates


def load_test(settings: LoadSettings) -> list[LoadRun]:
    """Both modes at every client count; logs each run as it ends."""
    expected = sequential_answers(settings)
    model_args = [] if settings.bundle_dir is None else ["--model", str(settings.bundle_dir)]
    common = [*model_args, "--threads", str(settings.threads), "--workers", str(settings.workers)]
    common += ["--max-queue", str(max(1024, 2 * max(settings.clients)))]
    modes = {
        "batched": ["--max-batch", str(settings.max_batch), "--max-delay-ms", str(settings.max_delay_ms)],
        "unbatched": ["--max-batch", "1"],
    }
    runs = []
    for mode, extra in modes.items():
        with start_server([*common, *extra]) as server:
            for clients in settings.clients:
                runs.append(measure(server, mode, clients, settings, expected))
                logger.info("%s", runs[-1])
    return runs


def ceiling_notes(runs: list[LoadRun], ceiling: float) -> list[str]:
    """Rows whose batched/unbatched ratio is above what decoding alone allows: timing noise, flagged."""
    by = {(r.mode, r.clients): r for r in runs}
    notes = []
    for clients in sorted({r.clients for r in runs}):
        one, many = by.get(("unbatched", clients)), by.get(("batched", clients))
        if one is None or many is None or one.per_second <= 0:
            continue
        ratio = many.per_second / one.per_second
        if ratio > ceiling * 1.1:
            notes.append(
                f"UNRELIABLE: {clients} clients' batched/unbatched ratio {ratio:.2f}× is above the {ceiling:.2f}× "
                "that decoding alone allows; the machine was busy during the run. Repeat the load test on an idle "
                "machine before using these figures"
            )
    return notes


def markdown(runs: list[LoadRun]) -> str:
    """Clients × mode table: throughput, p50 and p99 latency, and batched over unbatched throughput."""
    by = {(r.mode, r.clients): r for r in runs}
    lines = [
        "| clients | unbatched req/s | p50 ms | p99 ms | batched req/s | p50 ms | p99 ms | batched / unbatched |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for clients in sorted({r.clients for r in runs}):
        one, many = by.get(("unbatched", clients)), by.get(("batched", clients))
        if one is None or many is None:
            continue
        lines.append(
            f"| {clients} | {one.per_second:,.0f} | {one.p50_ms:.2f} | {one.p99_ms:.2f} | {many.per_second:,.0f} | "
            f"{many.p50_ms:.2f} | {many.p99_ms:.2f} | {many.per_second / one.per_second:.2f}× |"
        )
    return "\n".join(lines)


def write_results(settings: LoadSettings, runs: list[LoadRun], ceiling: dict[str, float] | None = None) -> list[Path]:
    """``loadtest.json``, ``loadtest.md`` and (with matplotlib) ``loadtest.png`` in ``settings.out``."""
    settings.out.mkdir(parents=True, exist_ok=True)
    record = {
        "decode_ceiling": ceiling or {},
        "settings": {
            **asdict(settings),
            "texts": len(settings.texts),
            "bundle_dir": str(settings.bundle_dir),
            "out": None,
        },
        "machine": machine_info(),
        "versions": versions(),
        "runs": [asdict(r) for r in runs],
    }
    written = [settings.out / "loadtest.json", settings.out / "loadtest.md"]
    written[0].write_text(json.dumps(record, indent=2) + "\n", "utf-8")
    written[1].write_text(markdown(runs) + "\n", "utf-8")
    if _plot(settings.out / "loadtest.png", runs):
        written.append(settings.out / "loadtest.png")
    return written


def _plot(path: Path, runs: list[LoadRun]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for mode in ("unbatched", "batched"):
        mine = sorted((r for r in runs if r.mode == mode), key=lambda r: r.clients)
        left.plot([r.clients for r in mine], [r.per_second for r in mine], marker="o", label=mode)
        right.plot([r.clients for r in mine], [r.p99_ms for r in mine], marker="o", label=mode)
    for axes, label in ((left, "requests / s"), (right, "p99 latency, ms")):
        axes.set_xscale("log", base=2)
        axes.set_xlabel("concurrent clients")
        axes.set_ylabel(label)
        axes.legend()
    figure.suptitle("s2s-onnx serve: single-sentence requests, dynamic batching on and off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
