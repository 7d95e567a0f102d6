"""Load test of the Ray Serve application beside ``s2s-onnx serve``, on the same machine and texts.

Runs against the Ray cluster this machine already runs (``ray start --head`` first): for each replica count, the
application (``s2s_onnx.ray:app``) behind Ray's HTTP proxy on 127.0.0.1, then N concurrent keep-alive clients for a
few seconds, every answer checked against in-process decoding; ``--kill`` kills one replica's process mid-load
(the requests it held must fail clearly or be answered by the other, none wrongly, none hanging). The same load
against an ``s2s-onnx serve`` process gives the single-process figures. Results: a table and JSON.

    python -m s2s_onnx.benchmarks.ray_serve_load --replicas 1,2 --clients 64 --seconds 20 --output ray-serve
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from s2s_onnx.runtime.model import Seq2SeqModel

from .http_client import HttpConnection, start_server
from .load_test import default_texts

PORT = 8000


async def _client(host: str, port: int, texts: list[str], expected: dict[str, str], until: float) -> dict[str, Any]:
    latencies: list[float] = []
    outcome: dict[str, Any] = {"ok": 0, "wrong": 0, "errors": {}, "hung": 0}
    connection: HttpConnection | None = None
    n = 0
    while time.monotonic() < until:
        text = texts[n % len(texts)]
        n += 1
        started = time.monotonic()
        try:
            connection = connection or await HttpConnection.open(host, port)
            payload = json.dumps({"text": text}).encode()
            request = connection.request("POST", "/translate", payload, "Content-Type: application/json\r\n")
            status, raw = await asyncio.wait_for(request, 30)
        except asyncio.TimeoutError:
            outcome["hung"] += 1
            connection = None
            continue
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            key = type(exc).__name__
            outcome["errors"][key] = outcome["errors"].get(key, 0) + 1
            connection = None
            continue
        body = _json(raw)
        if status == 200 and isinstance(body, dict):
            latencies.append(time.monotonic() - started)
            outcome["ok" if body.get("text") == expected[text] else "wrong"] += 1
        else:
            kind = body["error"]["type"] if isinstance(body, dict) and "error" in body else repr(raw[:40].decode())
            key = f"{status} {kind}"
            outcome["errors"][key] = outcome["errors"].get(key, 0) + 1
    if connection is not None:
        await connection.close()
    return {**outcome, "latencies": latencies}


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


async def _load(host: str, port: int, clients: int, seconds: float, texts: list[str], expected: dict[str, str]) -> Any:
    until = time.monotonic() + seconds
    shards = [texts[k:] + texts[:k] for k in range(clients)]
    return await asyncio.gather(*(_client(host, port, s, expected, until) for s in shards))


def summary(name: str, runs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    latencies = sorted(t for r in runs for t in r["latencies"])
    errors: dict[str, int] = {}
    for r in runs:
        for key, count in r["errors"].items():
            errors[key] = errors.get(key, 0) + count
    return {
        "server": name,
        "answered": sum(r["ok"] for r in runs),
        "wrong": sum(r["wrong"] for r in runs),
        "hung": sum(r["hung"] for r in runs),
        "errors": errors,
        "per_second": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
    }


def _kill_one_replica(after: float) -> None:
    time.sleep(after)
    subprocess.run(["pkill", "-9", "-o", "-f", "^ray::ServeReplica"], check=False)


def serve_runs(settings: argparse.Namespace, texts: list[str], expected: dict[str, str]) -> list[dict[str, Any]]:
    import threading

    import ray
    from ray import serve

    from s2s_onnx.ray import app

    ray.init(address="auto", logging_level=logging.ERROR, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    records = []
    try:
        for replicas in settings.replicas:
            args = {"num_replicas": replicas, "num_cpus": 0.5, "max_batch_size": 32}
            serve.run(app(args), name="s2s", route_prefix="/")
            asyncio.run(_load("127.0.0.1", PORT, 4, 2.0, texts, expected))  # warm-up
            runs = asyncio.run(_load("127.0.0.1", PORT, settings.clients, settings.seconds, texts, expected))
            records.append(
                {**summary(f"Ray Serve, {replicas} replica(s)", runs, settings.seconds), "replicas": replicas}
            )
        if settings.kill:
            killer = threading.Thread(target=_kill_one_replica, args=(settings.seconds / 3,))
            killer.start()
            runs = asyncio.run(_load("127.0.0.1", PORT, settings.clients, settings.seconds, texts, expected))
            killer.join()
            name = f"Ray Serve, {settings.replicas[-1]} replicas, one killed (-9) a third of the way in"
            records.append({**summary(name, runs, settings.seconds), "replicas": settings.replicas[-1], "killed": 1})
    finally:
        serve.shutdown()
        ray.shutdown()
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m s2s_onnx.benchmarks.ray_serve_load", description=__doc__)
    parser.add_argument("--replicas", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--kill", action="store_true", help="also kill one replica mid-load")
    parser.add_argument("--output", type=Path, default=Path("ray-serve"))
    settings = parser.parse_args(argv)
    texts = list(default_texts(None))
    expected = dict(zip(texts, Seq2SeqModel.load(threads=1).translate(texts), strict=True))
    records = serve_runs(settings, texts, expected)
    with start_server(["--threads", "1"]) as single:
        asyncio.run(_load(single.host, single.port, 4, 2.0, texts, expected))
        runs = asyncio.run(_load(single.host, single.port, settings.clients, settings.seconds, texts, expected))
    records.append(summary("s2s-onnx serve (one process)", runs, settings.seconds))
    settings.output.mkdir(parents=True, exist_ok=True)
    (settings.output / "ray-serve.json").write_text(json.dumps(records, indent=2), "utf-8")
    lines = [
        "| server | answered | req/s | p50 ms | p99 ms | wrong | hung | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in records:
        errors = ", ".join(f"{n} × {k}" for k, n in r["errors"].items()) or "none"
        lines.append(
            f"| {r['server']} | {r['answered']:,} | {r['per_second']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['wrong']} | {r['hung']} | {errors} |"
        )
    (settings.output / "ray-serve.md").write_text("\n".join(lines) + "\n", "utf-8")
    print("\n".join(lines))
    return 0 if all(r["wrong"] == 0 and r["hung"] == 0 for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
