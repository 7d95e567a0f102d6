"""The CLI never shows a traceback: a table of bad inputs, each one line on stderr and exit code 2; streaming
output that is answered per batch and survives Ctrl-C; Ctrl-C stops a long fused decode within a second;
and an over-long decode either fails with a clear error or stays within the stated memory bound.
No TensorFlow: the built-in bundle and tiny ``onnx.helper`` bundles."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from onnx_fixtures import TINY_VOCAB, random_weights, write_bundle

from s2s_onnx.runtime import Bundle, DecodeLimitError, DecodeOptions, InvalidOptionError, Seq2SeqModel
from s2s_onnx.runtime.bundle import default_model_path
from s2s_onnx.runtime.options import MAX_DECODE_BYTES

UTF8 = {**os.environ, "LC_ALL": "en_US.UTF-8", "LANG": "en_US.UTF-8", "PYTHONIOENCODING": ""}


def cli(*args: str | bytes, stdin: bytes = b"", timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "s2s_onnx", *args]
    return subprocess.run(command, input=stdin, capture_output=True, timeout=timeout, env=UTF8, cwd="/")


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, Path]:
    """Damaged copies of the built-in bundle."""
    root = tmp_path_factory.mktemp("broken")
    made = {}
    for name in ("corrupt-onnx", "config-dir", "no-config"):
        made[name] = root / name
        shutil.copytree(default_model_path(), made[name])
    (made["corrupt-onnx"] / "greedy.onnx").write_bytes(b"\x08\x07garbage")
    (made["config-dir"] / "config.json").unlink()
    (made["config-dir"] / "config.json").mkdir()
    (made["no-config"] / "config.json").unlink()
    return made


CASES = {
    "invalid UTF-8 argument": ((b"translate", b"3 March\xff 2021"), b"", "argument 1: text is not valid UTF-8"),
    "invalid UTF-8 on stdin": (("translate",), b"3 March 2021\n\xc3\x28\n", "line 2: not valid UTF-8"),
    "unknown character": (("translate", "3 March# 2021"), b"", "'#'"),
    "empty input": (("translate", ""), b"", "input is empty"),
    "blank line on stdin": (("translate",), b"3 March 2021\n   \n", "line 2: input is blank"),
    "huge --max-length": (("translate", "--max-length", "100000000", "x"), b"", "max_length must be between 1 and"),
    "--steps with an unallocatable length": (
        ("translate", "--steps", "--max-length", "10000", "--batch-size", "4096"),
        b"3 March 2021\n" * 600,
        "would need about",
    ),
    "zero --batch-size": (("translate", "--batch-size", "0", "x"), b"", "must be at least 1"),
    "missing bundle": (("translate", "--model", "/nonexistent", "x"), b"", "does not exist"),
    "unknown option": (("translate", "--bogus"), b"", "unrecognized arguments"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case: str) -> None:
    args, stdin, expected = CASES[case]
    done = cli(*args, stdin=stdin)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("corrupt-onnx", "greedy.onnx is not a valid ONNX model"),
        ("config-dir", "config.json: it is a directory"),
        ("no-config", "config.json is missing"),
    ],
)
@pytest.mark.parametrize("command", ["translate", "inspect"])
def test_damaged_bundles_for_translate_and_inspect(broken, name: str, expected: str, command: str) -> None:
    args = (
        ("translate", "--model", str(broken[name]), "3 March 2021")
        if command == "translate"
        else ("inspect", str(broken[name]))
    )
    done = cli(*args)
    err = done.stderr.decode()
    assert done.returncode == 2 and len(err.strip().splitlines()) == 1 and expected in err, err


def test_unreadable_bundle_file(tmp_path: Path) -> None:
    from test_builtin import as_ordinary_user

    bundle = tmp_path / "bundle"
    shutil.copytree(default_model_path(), bundle)
    (bundle / "encoder.onnx").chmod(0)
    command = as_ordinary_user([sys.executable, "-m", "s2s_onnx", "inspect", str(bundle)])
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/", env=UTF8)
    assert done.returncode == 2 and "encoder.onnx: permission denied" in done.stderr and "Traceback" not in done.stderr


def test_json_output_is_valid_utf8_and_keep_going_keeps_lines_aligned() -> None:
    stdin = b"3 March 2021\nab#\n\n14 Jul 1989\n" + b"\xff\n"
    done = cli("translate", "--json", "--keep-going", stdin=stdin)
    rows = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert [r.get("text") for r in rows] == ["2021-03-03", None, None, "1989-07-14", None]
    assert [r.get("line") for r in rows] == [None, 2, 3, None, 5]
    err = done.stderr.decode().splitlines()
    assert done.returncode == 2 and len(err) == 4 and err[-1].endswith("3 line(s) failed (reported above)")
    plain = cli("translate", "--keep-going", "--error-marker", "?", stdin=stdin)
    assert plain.stdout.decode().splitlines() == ["2021-03-03", "?", "?", "1989-07-14", "?"]


def test_each_batch_is_printed_before_stdin_ends() -> None:
    command = [sys.executable, "-m", "s2s_onnx", "translate", "--batch-size", "2"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=UTF8, cwd="/") as process:
        watchdog = threading.Timer(60, process.kill)  # a CLI that waited for stdin's end would hang the test
        watchdog.start()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(b"3 March 2021\n14 Jul 1989\n")
        process.stdin.flush()
        first = process.stdout.readline(), process.stdout.readline()  # answered while stdin is still open
        process.stdin.write(b"dec 17 1960\n")
        process.stdin.close()
        rest = process.stdout.read()
        watchdog.cancel()
    assert first == (b"2021-03-03\n", b"1989-07-14\n") and rest == b"1960-12-17\n"


@pytest.fixture(scope="module")
def endless(tmp_path_factory) -> Path:
    """A bundle whose decodes never emit the end token, wide enough (768) that 10,000 steps at batch 100 take
    minutes."""
    weights = random_weights(
        TINY_VOCAB.num_encoder_tokens, TINY_VOCAB.num_decoder_tokens, 768, seed=1, end_bias=(TINY_VOCAB.end_id, -60.0)
    )
    return write_bundle(tmp_path_factory.mktemp("endless"), weights)


def test_ctrl_c_stops_a_long_fused_decode_within_a_second(endless: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "s2s_onnx",
        "translate",
        "--model",
        str(endless),
        "--max-length",
        "10000",
        "--batch-size",
        "256",
        "--threads",
        "1",
    ]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=UTF8, cwd="/"
    ) as process:
        assert process.stdin is not None
        process.stdin.write(b"abc\n" * 100)
        process.stdin.close()
        time.sleep(2.5)  # loaded and well inside the decode (10,000 steps take minutes)
        assert process.poll() is None
        started = time.perf_counter()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        stopped = time.perf_counter() - started
        err = process.stderr.read().decode() if process.stderr else ""
    assert process.returncode == 130 and err.strip() == "s2s-onnx: interrupted", err
    assert stopped < 1.0, f"took {stopped:.2f} s to stop"


MEMORY_SCRIPT = """
import json, resource, sys
from s2s_onnx.runtime import Seq2SeqModel
model = Seq2SeqModel.load(sys.argv[1])
model.translate("abc")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
results = model.decode(["abc"] * 64, max_length=10000, batch_size=64, strategy=sys.argv[2])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"lengths": sorted({len(r.token_ids) for r in results}), "grew_kib": after - before}))
"""


@pytest.mark.parametrize("strategy", ["fused", "steps"])
def test_longest_allowed_decode_stays_within_the_memory_bound(tmp_path: Path, strategy: str) -> None:
    weights = random_weights(
        TINY_VOCAB.num_encoder_tokens, TINY_VOCAB.num_decoder_tokens, 8, seed=1, end_bias=(TINY_VOCAB.end_id, -60.0)
    )
    bundle = write_bundle(tmp_path / "b", weights)
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(bundle), strategy], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["lengths"] == [10000]
    assert result["grew_kib"] * 1024 < MAX_DECODE_BYTES


def test_over_long_requests_fail_clearly(tmp_path: Path) -> None:
    model = Seq2SeqModel(Bundle.open())
    with pytest.raises(InvalidOptionError, match="max_length must be between 1 and 10000"):
        model.translate("abc", max_length=10**7)
    with pytest.raises(DecodeLimitError, match="lower batch_size or max_length"):
        model.translate(["3 March 2021"] * 4096, DecodeOptions(max_length=10000, batch_size=4096))


def test_a_terminal_gets_each_line_answered_when_entered() -> None:
    """On a tty, translate answers line by line (batch size 1), not when stdin ends."""
    import pty

    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "s2s_onnx", "translate", "--batch-size", "32"]
    with subprocess.Popen(command, stdin=follower, stdout=subprocess.PIPE, env=UTF8, cwd="/") as process:
        watchdog = threading.Timer(60, process.kill)
        watchdog.start()
        os.close(follower)
        assert process.stdout is not None
        os.write(leader, b"3 March 2021\n")
        first = process.stdout.readline()  # answered while the terminal is still open
        os.write(leader, b"dec 17 1960\n")
        second = process.stdout.readline()
        os.write(leader, b"\x04")  # Ctrl-D: end of input
        process.wait(timeout=60)
        watchdog.cancel()
    os.close(leader)
    assert (first, second) == (b"2021-03-03\n", b"1960-12-17\n") and process.returncode == 0
