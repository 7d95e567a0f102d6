"""A soak of ``s2s-onnx serve`` under attack: honest keep-alive clients send single texts (every answer checked
against sequential decoding) while hostile clients keep trying what an attacker on the same machine would:
oversized and too many headers, slow-loris, silent connections, short bodies, huge and deep bodies, bodies that are
not JSON, a lone surrogate, input made only of unknown characters, a foreign ``Host``. It reports each case's
answers and slowest answer, the honest clients' rate, latency and wrong answers, and the server's memory.

    python -m s2s_onnx.benchmarks.hostile_soak --seconds 60 --output soak-results
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s2s_onnx.runtime.model import Seq2SeqModel

from .http_client import HttpConnection, ServerProcess, start_server
from .load_test import default_texts
from .report import machine_info, versions

HOST = b"Host: 127.0.0.1\r\nConnection: close\r\n"
JSON_POST = b"POST /translate HTTP/1.1\r\n" + HOST + b"Content-Type: application/json\r\n"


def _post(body: bytes, extra: bytes = b"") -> bytes:
    return JSON_POST + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


# what each hostile client sends, again and again (at most `concurrency` at once), and the answer it must get
CASES: dict[str, tuple[bytes, int, str]] = {
    "1 MiB header line": (b"GET /health HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 2**20 + b"\r\n\r\n", 2, "431"),
    "1,000 headers": (
        b"GET /health HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: 1\r\n" % i for i in range(1000)),
        2,
        "431",
    ),
    "slow-loris (headers never end)": (b"POST /translate HTTP/1.1\r\n" + HOST + b"X-Slow: ", 50, "408"),
    "silent connection": (b"", 50, "408"),
    "body shorter than Content-Length": (JSON_POST + b'Content-Length: 100\r\n\r\n{"te', 20, "408"),
    "10 MiB body": (_post(b'{"text": "' + b"a" * 10 * 2**20 + b'"}'), 2, "413"),
    "JSON 3,000 deep": (_post(b"[" * 3000), 4, "400"),
    "text/plain body": (
        b"POST /translate HTTP/1.1\r\n"
        + HOST
        + b'Content-Type: text/plain\r\nContent-Length: 16\r\n\r\n{"text":"May 1"}',
        4,
        "415",
    ),
    "lone surrogate key": (_post(b'{"\\ud800": 1, "text": "May 1"}'), 4, "400"),
    "only unknown characters": (_post('{"text": "\u200b\u0301\u200f", "unknown": "skip"}'.encode()), 4, "422"),
    "foreign Host (DNS rebinding)": (
        b"POST /translate HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b'Content-Length: 16\r\n\r\n{"text":"May 1"}',
        4,
        "421",
    ),
}


@dataclass(frozen=True)
class SoakSettings:
    """How long, how many honest clients, the server's read timeout (its flag; ``None``: its default)."""

    seconds: float = 60.0
    clients: int = 8
    read_timeout_s: float | None = None
    out: Path = Path("soak-results")


@dataclass
class CaseResult:
    """One hostile case: tries, answers by status line (``reset``, ``no answer``), slowest answer in seconds."""

    case: str
    tries: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    slowest_s: float = 0.0

    @property
    def unexpected(self) -> int:
        """Answers other than the status this case must get."""
        expected = CASES[self.case][2]
        return sum(n for answer, n in self.answers.items() if not answer.startswith(expected))


async def _attack(server: ServerProcess, data: bytes, result: CaseResult, until: float) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(data)
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), 60)
            writer.close()
            answer = raw.split(b"\r\n", 1)[0].decode("latin-1")[9:] or "closed, no answer"
        except (ConnectionError, TimeoutError) as exc:
            answer = type(exc).__name__
        result.tries += 1
        result.answers[answer] = result.answers.get(answer, 0) + 1
        result.slowest_s = max(result.slowest_s, time.monotonic() - started)


async def _honest(server: ServerProcess, texts: list[str], expected: dict[str, str], until: float) -> list[Any]:
    connection, latencies, wrong = await HttpConnection.open(server.host, server.port), [], 0
    n = 0
    while time.monotonic() < until:
        text = texts[n % len(texts)]
        started = time.monotonic()
        status, body = await connection.post_json("/translate", {"text": text})
        latencies.append(time.monotonic() - started)
        wrong += status != 200 or body["text"] != expected[text]
        n += 1
    await connection.close()
    return [latencies, wrong]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _watch(pid: int, until: float, samples: list[float], report: Callable[[float, float], None]) -> None:
    started, said = time.monotonic(), 0.0
    while (now := time.monotonic()) < until:
        samples.append(_rss_mib(pid))
        if now - said >= 10:
            said = now
            report(now - started, samples[-1])
        await asyncio.sleep(0.5)


async def _soak(settings: SoakSettings, server: ServerProcess, texts: list[str], expected: dict[str, str]) -> Any:
    until = time.monotonic() + settings.seconds
    results = {case: CaseResult(case) for case in CASES}
    samples: list[float] = []

    def report(elapsed: float, rss: float) -> None:
        print(f"soak: {elapsed:.0f}/{settings.seconds:g} s, server {rss:.0f} MiB", file=sys.stderr, flush=True)

    attacks = [
        _attack(server, data, results[case], until) for case, (data, count, _) in CASES.items() for _ in range(count)
    ]
    honest = [_honest(server, texts[n:] + texts[:n], expected, until) for n in range(settings.clients)]
    watched = asyncio.ensure_future(_watch(server.process.pid, until, samples, report))
    outcomes = await asyncio.gather(*honest, *attacks)
    await watched
    return results, outcomes[: settings.clients], samples


def soak(settings: SoakSettings) -> dict[str, Any]:
    """Run the soak; the record that :func:`write` saves."""
    texts = list(default_texts(None))
    model = Seq2SeqModel.load(threads=1)
    expected = dict(zip(texts, model.translate(texts), strict=True))
    args = ["--threads", "1"] + (
        [] if settings.read_timeout_s is None else ["--read-timeout", f"{settings.read_timeout_s}"]
    )
    with start_server(args) as server:
        rss_start = _rss_mib(server.process.pid)
        results, honest, samples = asyncio.run(_soak(settings, server, texts, expected))
        alive = server.process.poll() is None
        rss_end = _rss_mib(server.process.pid)
    latencies = sorted(t for lat, _ in honest for t in lat)
    return {
        "settings": {**asdict(settings), "out": str(settings.out), "server_args": args},
        "machine": machine_info(),
        "versions": versions(),
        "server_alive": alive,
        "honest": {
            "requests": len(latencies),
            "per_second": len(latencies) / settings.seconds,
            "wrong": sum(w for _, w in honest),
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        },
        "memory_mib": {"start": rss_start, "peak": max(samples, default=rss_start), "end": rss_end},
        "cases": [{**asdict(r), "expected": CASES[r.case][2], "unexpected": r.unexpected} for r in results.values()],
        "server_log_lines": dict(collections.Counter(_log_kind(line) for line in server.stderr)),
    }


def _log_kind(line: str) -> str:
    return line.split(" (", 1)[0].split(": ", 1)[-1] if "(" in line else line[:60]


def markdown(record: dict[str, Any]) -> str:
    honest, memory = record["honest"], record["memory_mib"]
    rows = ["| hostile case | tries | answers | unexpected | slowest (s) |", "| --- | ---: | --- | ---: | ---: |"]
    for case in record["cases"]:
        answers = ", ".join(f"{n} × {a}" for a, n in sorted(case["answers"].items()))
        rows.append(
            f"| {case['case']} | {case['tries']:,} | {answers} | {case['unexpected']} | {case['slowest_s']:.2f} |"
        )
    rows.append(
        f"\nhonest clients: {honest['requests']:,} requests ({honest['per_second']:,.0f}/s), {honest['wrong']} wrong "
        f"or refused, p50 {honest['p50_ms']:.1f} ms, p99 {honest['p99_ms']:.1f} ms; server memory "
        f"{memory['start']:.0f} MiB at start, {memory['peak']:.0f} at peak, {memory['end']:.0f} at the end; "
        f"still serving: {record['server_alive']}"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    defaults = SoakSettings()
    parser = argparse.ArgumentParser(prog="python -m s2s_onnx.benchmarks.hostile_soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="how long (default %(default)s)")
    parser.add_argument("--clients", type=int, default=defaults.clients, help="honest clients (default %(default)s)")
    parser.add_argument("--read-timeout", type=float, default=None, help="the server's --read-timeout")
    parser.add_argument("--output", type=Path, default=defaults.out, help="folder for soak.json and soak.md")
    args = parser.parse_args(argv)
    settings = SoakSettings(args.seconds, args.clients, args.read_timeout, args.output)
    record = soak(settings)
    settings.out.mkdir(parents=True, exist_ok=True)
    (settings.out / "soak.json").write_text(json.dumps(record, indent=2), "utf-8")
    table = markdown(record)
    (settings.out / "soak.md").write_text(table + "\n", "utf-8")
    print(table)
    print(f"wrote {settings.out / 'soak.json'}, {settings.out / 'soak.md'}")
    return 0 if clean(record) else 1


def clean(record: dict[str, Any]) -> bool:
    """The server still serves, no honest answer was wrong and every hostile case got only its own answer."""
    return (
        record["server_alive"] and record["honest"]["wrong"] == 0 and not any(c["unexpected"] for c in record["cases"])
    )


if __name__ == "__main__":
    raise SystemExit(main())
