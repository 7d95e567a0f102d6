"""``s2s-onnx translate-file`` here and through Ray Data on a real local Ray cluster.

The cluster runs inside its own network namespace (``unshare -n``) holding only the loopback interface, so that
nothing of it can listen on, or talk to, any other address; the driver, the CLI and the cluster all run in there.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s2s_onnx.runtime import Seq2SeqModel
from s2s_onnx.runtime.cli import main


@pytest.fixture(scope="module")
def texts() -> list[str]:
    model = Seq2SeqModel.load(verify=False)
    return [d["text"] for d in json.loads((model.path / "reference.json").read_text("utf-8"))["decodes"]]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_translate_file_reads_text_jsonl_and_csv_in_order(tmp_path: Path, texts: list[str], capsys) -> None:
    model = Seq2SeqModel.load(verify=False)
    expected = model.translate(texts[:10])
    (tmp_path / "in.txt").write_text("\n".join(texts[:10]) + "\n", "utf-8")
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"src": t}) + "\n" for t in texts[:10]), "utf-8")
    with (tmp_path / "in.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "src"])
        writer.writerows([[n, t] for n, t in enumerate(texts[:10])])
    for name, column in (("in.txt", []), ("in.jsonl", ["--column", "src"]), ("in.csv", ["--column", "src"])):
        out = tmp_path / f"{name}.out.jsonl"
        assert main(["translate-file", str(tmp_path / name), "-o", str(out), "--details", *column]) == 0
        rows = _rows(out)
        assert [r["line"] for r in rows] == list(range(1, 11)) and [r["translation"] for r in rows] == expected
        assert rows[0]["token_ids"] == list(model.decode(texts[0]).token_ids)
    assert "rows in" in capsys.readouterr().err
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow

    pq.write_table(pyarrow.table({"src": texts[:10]}), tmp_path / "in.parquet")
    out = tmp_path / "parquet.out.jsonl"
    assert main(["translate-file", str(tmp_path / "in.parquet"), "-o", str(out), "--column", "src"]) == 0
    assert [r["translation"] for r in _rows(out)] == expected


def test_a_bad_row_stops_the_run_or_is_kept_with_keep_going(tmp_path: Path, texts: list[str], capsys) -> None:
    source, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_bytes(("\n".join([texts[0], "März 3", texts[1]]) + "\n").encode() + b"\xff\xfe\n")
    assert main(["translate-file", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("s2s-onnx: error: line 2: input has characters") and not out.exists()
    assert list(tmp_path.iterdir()) == [source], "no half-written file is left"
    assert main(["translate-file", str(source), "-o", str(out), "--keep-going"]) == 2
    rows = _rows(out)
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert rows[1]["error"]["type"] == "UnknownCharacterError" and "UTF-8" in rows[3]["error"]["message"]
    assert "2 of 4 row(s) failed" in capsys.readouterr().err
    assert main(["translate-file", str(tmp_path / "in.jsonl"), "-o", str(out)]) == 2  # a missing file: one line


RAY_RUN = r"""
set -e
ip link set lo up
export RAY_USAGE_STATS_ENABLED=0 PATH="{bin}:$PATH"
cd "{work}"
export RAY_TMPDIR=$(mktemp -d /tmp/s2s-ray.XXXXXX)  # its own session files (short: they hold socket paths)
temp=$RAY_TMPDIR
ray start --head --node-ip-address=127.0.0.1 --num-cpus=2 --include-dashboard=false --disable-usage-stats \
    > ray-start.log 2>&1
trap 'ray stop --force > /dev/null 2>&1; rm -rf "$temp"' EXIT
python - <<'PY' > api.json
import json, ray
from s2s_onnx.ray import translate_dataset
ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
texts = {texts}
rows = translate_dataset(ray.data.from_items([{{"text": t}} for t in texts]), details=True).take_all()
print(json.dumps({{r["text"]: [r["translation"], [int(t) for t in r["token_ids"]], r["stop_reason"]] for r in rows}}))
PY
s=$(date +%s.%N)
s2s-onnx translate-file big.txt -o local.jsonl --keep-going 2> local.err || true
m=$(date +%s.%N)
( until pgrep -f "^ray::MapWorker" > /dev/null; do sleep 0.2; done; sleep {kill_after}
  pkill -9 -o -f "^ray::MapWorker" && echo killed > killed.txt ) &
s2s-onnx translate-file big.txt -o ray.jsonl --keep-going --ray auto 2> ray.err || true
e=$(date +%s.%N)
python -c "print({{'local_s': $m - $s, 'ray_s': $e - $m}})" > times.txt
ss -ltn | awk 'NR > 1 {{print $4}}' > listening.txt
"""


def test_ray_data_translates_100000_lines_as_the_local_run_even_when_a_worker_dies(
    tmp_path: Path, texts: list[str]
) -> None:
    """100,000 lines (one bad) through Ray Data on a real local cluster, with a translator actor killed (-9)
    5 s after the first one starts, equal the local run line for line; ``translate_dataset`` equals in-process decoding."""
    pytest.importorskip("ray")
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.skip("needs unshare -n (a network namespace) to keep the Ray cluster on loopback only")
    lines = [texts[i % len(texts)] for i in range(100_000)]
    lines[500] = "März 3"
    (tmp_path / "big.txt").write_text("\n".join(lines) + "\n", "utf-8")
    sample = texts[:20]
    script = RAY_RUN.format(bin=Path(sys.executable).parent, work=tmp_path, texts=sample, kill_after=5)
    started = time.monotonic()
    done = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    local, remote = (tmp_path / "local.jsonl").read_bytes(), (tmp_path / "ray.jsonl").read_bytes()
    assert local == remote and local.count(b"\n") == 100_000
    assert (tmp_path / "killed.txt").exists(), "a translator actor was killed mid-run"
    assert json.loads(local.splitlines()[500])["error"]["type"] == "UnknownCharacterError"
    model = Seq2SeqModel.load(verify=False)
    api = json.loads((tmp_path / "api.json").read_text())
    for text in sample:
        result = model.decode(text)
        assert api[text] == [result.text, list(result.token_ids), result.stop_reason]
    listening = (tmp_path / "listening.txt").read_text().split()
    assert listening and all(
        a.rsplit(":", 1)[0] in ("127.0.0.1", "[::ffff:127.0.0.1]", "*", "0.0.0.0", "[::1]", "[::]") for a in listening
    )
    print((tmp_path / "times.txt").read_text(), f"total {time.monotonic() - started:.0f} s")


SERVE_RUN = r"""
set -e
ip link set lo up
export RAY_USAGE_STATS_ENABLED=0 PATH="{bin}:$PATH"
export RAY_TMPDIR=$(mktemp -d /tmp/s2s-ray.XXXXXX)
cd "{work}"
ray start --head --node-ip-address=127.0.0.1 --num-cpus=2 --include-dashboard=false --disable-usage-stats \
    > ray-start.log 2>&1
trap 'ray stop --force > /dev/null 2>&1; rm -rf "$RAY_TMPDIR"' EXIT
python - <<'PY' > bad.json
import asyncio, json, ray
from ray import serve
from s2s_onnx.benchmarks.http_client import HttpConnection
from s2s_onnx.ray import app
ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
serve.start(http_options={{"host": "127.0.0.1", "port": 8000}})
serve.run(app({{"num_cpus": 0.5, "max_texts": 4}}), name="s2s", route_prefix="/")
async def calls():
    c = await HttpConnection.open("127.0.0.1", 8000)
    out = []
    for body, kind in ((b'{{"text": "M\\u00e4rz 3"}}', "application/json"), (b'{{"txt": 1}}', "application/json"),
                       (b'{{"text": ["a", "b", "c", "d", "e"]}}', "application/json"), (b'{{"text": "May 1"}}', "text/plain"),
                       (b'{{"text": ["May 1", "June 2"], "details": true}}', "application/json")):
        status, raw = await c.request("POST", "/translate", body, f"Content-Type: {{kind}}\r\n")
        out.append([status, json.loads(raw)])
    out.append(list(await c.request("GET", "/nowhere")))
    out[-1][1] = json.loads(out[-1][1])
    status, raw = await c.request("GET", "/health")
    out.append([status, json.loads(raw)])
    return out
print("RESULT", json.dumps(asyncio.run(calls())))
serve.shutdown()
PY
python -m s2s_onnx.benchmarks.ray_serve_load --replicas 1,2 --clients 32 --seconds 6 --kill --output out > load.log 2> load.err
"""


def test_ray_serve_answers_as_serve_does_and_survives_a_killed_replica(tmp_path: Path) -> None:
    """The Serve application behind Ray's proxy on loopback: bad requests get the JSON 4xx of ``s2s-onnx serve``;
    32 concurrent clients against 1 and 2 replicas are all answered exactly; with one of 2 replicas killed (-9)
    mid-load, none is answered wrongly and none hangs."""
    pytest.importorskip("ray")
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.skip("needs unshare -n (a network namespace) to keep the Ray cluster on loopback only")
    script = SERVE_RUN.format(bin=Path(sys.executable).parent, work=tmp_path)
    done = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        done.stderr[-1500:],
        (tmp_path / "load.err").read_text()[-1500:] if (tmp_path / "load.err").exists() else "",
    )
    found = [line for line in (tmp_path / "bad.json").read_text().splitlines() if line.startswith("RESULT ")]
    bad = json.loads(found[0][len("RESULT ") :])
    model = Seq2SeqModel.load(verify=False)
    assert [status for status, _ in bad] == [422, 400, 400, 415, 200, 404, 200]
    assert bad[0][1]["error"]["type"] == "UnknownCharacterError" and "unknown field" in bad[1][1]["error"]["message"]
    assert [r["text"] for r in bad[4][1]["results"]] == model.translate(["May 1", "June 2"])
    assert bad[6][1]["status"] == "ok"
    records = json.loads((tmp_path / "out" / "ray-serve.json").read_text())
    assert [r.get("replicas") for r in records] == [1, 2, 2, None]
    assert all(r["wrong"] == 0 and r["hung"] == 0 and r["answered"] > 0 for r in records), records
    assert all(not r["errors"] for r in records if "killed" not in r), records


def test_translate_file_on_ray_without_a_cluster_says_how_to_start_one(tmp_path: Path, monkeypatch, capsys) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))  # no cluster's session files here
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    (tmp_path / "in.txt").write_text("May 1\n", "utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["translate-file", str(tmp_path / "in.txt"), "-o", str(out), "--ray", "auto"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ray start --head" in err[0] and not out.exists()
