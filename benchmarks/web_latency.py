"""Latency of ``s2s.mjs`` in the browser (onnxruntime-web's wasm backend, one thread, in Debian's headless Chromium)
and in Node (onnxruntime-node, one thread) beside the Python runtime's (onnxruntime, one thread): the same bundle,
the same texts, the fused graphs everywhere; medians of ``translate`` calls per batch size, greedy and beam search,
after checking that all three translate alike. It also saves a screenshot of the page.

    python -m s2s_onnx.benchmarks.web_latency --output benchmarks/results/web
"""

from __future__ import annotations

import argparse
import functools
import http.server
import itertools
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from s2s_onnx.runtime.errors import S2SError
from s2s_onnx.runtime.model import Seq2SeqModel
from s2s_onnx.runtime.web.ort_files import ORT_WEB_VERSION
from s2s_onnx.runtime.web.site import write_site

from .load_test import default_texts, usable_texts
from .report import machine_info, versions

DRIVER_DIR = Path(__file__).resolve().parent / "web"  # its package.json pins onnxruntime-node and playwright-core
DRIVER = DRIVER_DIR / "drive.mjs"
NODE_PACKAGES = ("onnxruntime-node", "playwright-core")


class WebToolsError(S2SError, RuntimeError):
    """Node.js, npm, the driver's packages or Chromium are missing, or the driver failed."""


def ensure_node_modules() -> Path:
    """``benchmarks/web/node_modules``, installed with ``npm ci`` (as its lock file pins them) if missing."""
    modules = DRIVER_DIR / "node_modules"
    if all((modules / name / "package.json").is_file() for name in NODE_PACKAGES):
        return modules
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise WebToolsError("Node.js and npm are not installed (Debian: apt install nodejs npm)")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DRIVER_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        raise WebToolsError(f"'npm ci' in {DRIVER_DIR} failed: {done.stderr.strip()[-300:]}")
    return modules


def run_driver(*args: str, job: dict[str, Any] | None = None, timeout: float = 900) -> dict[str, Any]:
    """One ``node drive.mjs ARGS`` run (``job`` on its stdin); its JSON answer."""
    done = subprocess.run(
        ["node", str(DRIVER), *args],
        input=json.dumps(job) if job is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise WebToolsError(f"node drive.mjs {args[0]} failed: {done.stderr.strip()[-500:]}")
    found: dict[str, Any] = json.loads(done.stdout)
    return found


@contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """``folder`` over a loopback HTTP server, as ``python3 -m http.server`` serves it; its URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def python_timing(model: Seq2SeqModel, job: dict[str, Any]) -> dict[str, Any]:
    """What ``drive.mjs`` measures, with the Python runtime: ``warmup`` calls, then the median of ``repeats``."""
    medians, translations = {}, []
    for size in job["batch_sizes"]:
        texts = job["texts"][:size]
        for _ in range(job["warmup"]):
            translations = model.translate(texts, **job["options"])
        times = []
        for _ in range(job["repeats"]):
            started = time.perf_counter()
            model.translate(texts, **job["options"])
            times.append((time.perf_counter() - started) * 1000)
        medians[str(size)] = statistics.median(times)
    return {"medians": medians, "translations": translations}


def measure(model: Seq2SeqModel, site: Path, url: str, job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    runs = {"python": python_timing(model, job), "node": run_driver("time-node", str(site), job=job)}
    runs["browser"] = run_driver("time-page", f"{url}/", job=job)
    first = runs["python"]["translations"]
    for name, run in runs.items():
        if run["translations"] != first:
            raise WebToolsError(
                f"{name} translated otherwise than the Python runtime; run the tests (tests/test_web.py)"
            )
    return runs


def table(records: list[dict[str, Any]]) -> str:
    lines = [
        "| decode | batch | Python ms | Node ms | browser (wasm) ms | Node / Python | browser / Python |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in records:
        lines.append(
            f"| {r['decode']} | {r['batch']} | {r['python_ms']:.2f} | {r['node_ms']:.2f} | {r['browser_ms']:.2f} "
            f"| {r['node_ms'] / r['python_ms']:.2f} | {r['browser_ms'] / r['python_ms']:.2f} |"
        )
    return "\n".join(lines)


def plot(records: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        return
    labels = [f"{r['decode']}\nbatch {r['batch']}" for r in records]
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.27
    for offset, (key, name) in enumerate((("python_ms", "Python"), ("node_ms", "Node"), ("browser_ms", "browser"))):
        axis.bar([i + (offset - 1) * width for i in range(len(records))], [r[key] for r in records], width, label=name)
    axis.set_xticks(range(len(records)), labels)
    axis.set_ylabel("ms per translate() call (median)")
    axis.set_yscale("log")
    axis.legend()
    axis.set_title("s2s-onnx fused graphs, one thread: onnxruntime (Python), -node, -web (wasm)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m s2s_onnx.benchmarks.web_latency", description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="bundle (default: the built-in model)")
    parser.add_argument("--batch-sizes", type=lambda v: [int(x) for x in v.split(",")], default=[1, 32])
    parser.add_argument("--beam", type=int, default=4, help="beams of the beam-search rows (0: greedy only)")
    parser.add_argument("--repeats", type=int, default=100, help="timed calls per row (the median is reported)")
    parser.add_argument("--warmup", type=int, default=50, help="calls before timing (wasm tiers up meanwhile)")
    parser.add_argument("--ort-dir", type=Path, default=None, help="onnxruntime-web's files (default: fetched)")
    parser.add_argument("--output", type=Path, default=Path("web-results"))
    return parser.parse_args(argv)


def run(settings: argparse.Namespace) -> int:
    ensure_node_modules()
    model = Seq2SeqModel.load(settings.model, threads=1)
    fitting = usable_texts(model.vocabulary, default_texts(settings.model))
    texts = list(itertools.islice(itertools.cycle(fitting), max(settings.batch_sizes)))
    decodes: list[tuple[str, dict[str, Any]]] = [("greedy", {})]
    if settings.beam > 1:
        decodes.append((f"beam {settings.beam}", {"beam_size": settings.beam}))
    records, raw = [], {}
    settings.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        site = write_site(Path(work) / "site", model, settings.ort_dir).path
        (site / "node_modules").symlink_to(DRIVER_DIR / "node_modules")
        with static_server(site) as url:
            for name, options in decodes:
                job = {"batch_sizes": settings.batch_sizes, "texts": texts, "warmup": settings.warmup}
                job["repeats"] = settings.repeats
                raw[name] = runs = measure(model, site, url, {**job, "options": options})
                for size in settings.batch_sizes:
                    ms = {f"{key}_ms": run["medians"][str(size)] for key, run in runs.items()}
                    records.append({"decode": name, "batch": size, **ms})
            query = urllib.parse.urlencode({"q": "\n".join(fitting[:12])})
            run_driver("page", f"{url}/?{query}", str(settings.output / "page.png"))
    report = {"environment": environment(raw["greedy"], settings.repeats), "records": records}
    (settings.output / "web-latency.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    (settings.output / "web-latency.md").write_text(table(records) + "\n", "utf-8")
    plot(records, settings.output / "web-latency.png")
    print(table(records))
    return 0


def environment(runs: dict[str, dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Machine, versions and thread settings of one run."""
    return {
        "machine": machine_info(),
        "python_packages": versions(),
        "onnxruntime_node": _package_version("onnxruntime-node"),
        "onnxruntime_web": ORT_WEB_VERSION,
        "playwright_core": _package_version("playwright-core"),
        "node": runs["node"]["node"],
        "browser": runs["browser"]["user_agent"],
        "threads": "1 everywhere (Python threads=1; Node intraOpNumThreads 1; wasm numThreads 1)",
        "repeats": repeats,
    }


def _package_version(name: str) -> str:
    manifest = DRIVER_DIR / "node_modules" / name / "package.json"
    return str(json.loads(manifest.read_text("utf-8")).get("version", "unknown")) if manifest.is_file() else "unknown"


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
