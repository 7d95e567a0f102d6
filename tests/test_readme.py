"""Every command and code block in README.md runs: here, or in .ci/run (install and demo lines).

``s2s-onnx`` lines run in-process against small fixtures in a scratch directory; training and benchmark
lines get small-scale overrides appended (argparse keeps the last value), so they run in seconds.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from s2s_onnx.runtime.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SKIP_MARK = "<!-- not run by the tests"
OVERRIDES = {
    "train": ["--epochs", "1", "--latent-dim", "16", "--num-samples", "300"],
    "bench": ["--quick", "--tokens", "3", "--batch-sizes", "1,2"],
    "loadtest": ["--requests", "20", "--clients", "1,2"],
}


def blocks(language: str) -> list[str]:
    found = []
    for match in re.finditer(rf"(<!--[^\n]*-->\n)?```{language}\n(.*?)```", README, re.S):
        if match.group(1) and match.group(1).startswith(SKIP_MARK):
            continue
        found.append(match.group(2))
    return found


def command_lines() -> list[str]:
    return [line.strip() for block in blocks("bash") for line in block.splitlines() if line.strip()]


def test_readme_has_the_two_commands() -> None:
    lines = command_lines()
    assert lines[0].endswith("s2s-onnx demo") and "pip install -e" in lines[0]
    assert lines[1] == ".venv/bin/python -m pytest"


def test_install_lines_are_run_by_ci() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for line in command_lines():
        if not line.startswith(("s2s-onnx", "printf")):
            assert line in ci, f"README line not run by .ci/run: {line}"
    assert 's2s-onnx translate "March 3rd, 2021"' in ci


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, pairs_file: Path) -> Path:
    """A directory holding what the README's commands refer to: fra-eng.txt and an example-trained model."""
    import keras

    from s2s_onnx.models.data import read_pairs
    from s2s_onnx.runtime.vocab import Vocabulary

    root = tmp_path_factory.mktemp("readme")
    shutil.copy(pairs_file, root / "fra-eng.txt")
    vocab = Vocabulary.from_pairs(*read_pairs(root / "fra-eng.txt", 10000))
    enc_in = keras.Input((None, vocab.num_encoder_tokens))
    _, h, c = keras.layers.LSTM(8, return_state=True)(enc_in)
    dec_in = keras.Input((None, vocab.num_decoder_tokens))
    decoder_lstm, dense = (
        keras.layers.LSTM(8, return_sequences=True, return_state=True),
        keras.layers.Dense(vocab.num_decoder_tokens, activation="softmax"),
    )
    seq, _, _ = decoder_lstm(dec_in, initial_state=[h, c])
    keras.Model([enc_in, dec_in], dense(seq)).save(root / "s2s_model.keras")
    # the example's inference pair, as a hand-written script saves it
    keras.Model(enc_in, [h, c]).save(root / "encoder_model.h5")
    states = [keras.Input((8,)), keras.Input((8,))]
    seq, h2, c2 = decoder_lstm(dec_in, initial_state=states)
    keras.Model([dec_in, *states], [dense(seq), h2, c2]).save(root / "decoder_model.h5")
    from readme_files import write_readme_files

    write_readme_files(root, vocab)
    return root


def test_readme_s2s_onnx_commands(scratch: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(scratch)
    ran = 0
    for line in command_lines():
        if line.startswith("printf"):
            done = subprocess.run(
                line,
                shell=True,
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
            )
            assert done.returncode == 0, done.stderr
            rows = [json.loads(x) for x in done.stdout.splitlines()]
            assert [r["text"] for r in rows] == ["1989-07-14", "2049-12-25"]
            assert rows[0]["stop_reason"] == "end" and len(rows[0]["probabilities"]) == 10
            ran += 1
            continue
        if not line.startswith("s2s-onnx ") or line.endswith("s2s-onnx demo"):
            continue
        argv = shlex.split(line)[1:]
        argv += OVERRIDES.get(argv[0], [])
        capsys.readouterr()  # each command's output on its own
        assert main(argv) == 0, line
        if argv[0] == "translate" and argv[-1] == "March 3rd, 2021":
            assert capsys.readouterr().out.strip().split("\t")[0] == "2021-03-03"  # n-best: the best first
        ran += 1
    assert ran >= 7
    assert (scratch / "dates-bundle" / "greedy.onnx").is_file()
    assert (scratch / "fra-bundle" / "config.json").is_file()
    assert (scratch / "pair-bundle" / "config.json").is_file()
    assert (
        json.loads((scratch / "dates-int8" / "config.json").read_text())["provenance"]["quantization"]["identical"]
        == 1.0
    )
    for family in ("gru", "stacked", "bi", "words"):
        assert (scratch / f"{family}-bundle" / "greedy.onnx").is_file(), family
    words = json.loads((scratch / "words-bundle" / "config.json").read_text())
    assert words["model"]["tokenization"] == "word" and words["model"]["input"] == "ids"
    assert (scratch / "bench-results" / "bench.json").is_file()
    assert json.loads((scratch / "loadtest-results" / "loadtest.json").read_text())["runs"][0]["mismatches"] == 0
    assert (scratch / "triton-repo" / "dates" / "config.pbtxt").is_file()
    for bundle in ("savedmodel", "tf2-keras", "cudnn", "keras22", "masked", "tokenizer", "dicts", "fixed"):
        assert (scratch / f"{bundle}-bundle" / "reference.json").is_file(), bundle
    fixed = json.loads((scratch / "fixed-bundle" / "config.json").read_text())["vocabulary"]["loop"]
    assert fixed == {"stop": "length", "max_length": 8, "joiner": ""}


def serve_block() -> list[str]:
    match = re.search(r"<!--[^\n]*test_readme_serve_section[^\n]*-->\n```bash\n(.*?)```", README, re.S)
    assert match, "README's Serve section lost its block"
    return [line.strip() for line in match.group(1).splitlines() if line.strip()]


def test_readme_serve_section() -> None:
    """The Serve section's server, started as written (on a free port, with the built-in dates model for
    dates-bundle: the section's answers are a trained dates model's), answers its requests as it says."""
    from s2s_onnx.benchmarks.http_client import start_server
    from s2s_onnx.runtime import default_model_path

    lines = serve_block()
    argv = shlex.split(lines[0])
    assert argv[:2] == ["s2s-onnx", "serve"] and argv[-2:] == ["--port", "8000"]
    args = [str(default_model_path()) if a == "dates-bundle" else a for a in argv[2:-2]]
    with start_server(args) as server:
        outputs = []
        for line in lines[1:]:
            command = line.replace("localhost:8000", f"{server.host}:{server.port}")
            done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
    assert json.loads(outputs[0]) == {"text": "2021-03-03", "stop_reason": "end"}
    results = json.loads(outputs[1])["results"]
    assert [r["text"] for r in results] == ["1989-07-14", "2049-12-25"] and len(results[0]["n_best"]) == 2
    assert 's2s_requests_total{path="/translate",status="200"} 2' in outputs[2]


def test_readme_python_blocks_run_without_tensorflow() -> None:
    code = "\n".join(blocks("python"))
    assert code.strip()
    probe = code + "\nimport sys\nassert not {'tensorflow', 'keras', 'tf2onnx'} & set(sys.modules), 'heavy import'\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "2021-03-03"
    assert lines[1] == "['2021-03-03', '2021-03-03']"
    assert lines[2].startswith("1989-07-14 end")
    assert lines[3] == "1976-07-04"
    assert lines[4] == "2021-03-03"
    assert lines[5] == "2021-03-03"  # the DynamicBatcher example


def test_default_model_translate_command_without_tensorflow() -> None:
    """`s2s-onnx translate "March 3rd, 2021"` with the built-in model, and no TensorFlow imported."""
    probe = (
        "import sys\n"
        "from s2s_onnx.runtime.cli import main\n"
        "code = main(['translate', 'March 3rd, 2021'])\n"
        "heavy = {'tensorflow', 'keras', 'tf2onnx', 'tf_keras'} & set(sys.modules)\n"
        "assert code == 0 and not heavy, (code, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2021-03-03"


def test_builtin_model_handles_the_issue_examples() -> None:
    from s2s_onnx.runtime import Seq2SeqModel

    model = Seq2SeqModel.load()
    examples = ["3 March 2021", "03/03/21", "Wednesday, March 3rd, 2021", "2021.3.3", "March 3rd, 2021", "2021-03-03"]
    examples += ["wednesday, march 3rd, 2021", "WEDNESDAY, MARCH 3RD, 2021", "3/3/21", "03.03.2021", "mar 3 2021"]
    assert model.translate(examples) == ["2021-03-03"] * len(examples)
    assert model.translate(["July 01, 1964", "dec 17 1960"]) == ["1964-07-01", "1960-12-17"]
    assert model.config.provenance["source_flavour"] == "keras3-keras"


def test_the_files_table_commands_are_the_ones_run() -> None:
    """Each command of "The files people have" table stands in a bash block too, so the README test runs it."""
    table = README[README.index("| you have | convert it with |") :].split("\n\n", 1)[0]
    commands = re.findall(r"`(s2s-onnx convert [^`]+)`", table)
    assert len(commands) == 8 and set(commands) <= set(command_lines())


def test_the_limits_table_states_the_serve_flags_defaults() -> None:
    import argparse

    from s2s_onnx.runtime.cli import build_parser

    section = README[README.index("| limit | flag | default | past it |") :].split("\n\n", 1)[0]
    rows = [[c.strip(" `") for c in line.strip("|").split("|")] for line in section.splitlines()[2:]]
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    serve = {flag: action for action in subparsers.choices["serve"]._actions for flag in action.option_strings}
    assert len(rows) == 13
    for _, flag, default, _ in rows:
        expected = serve[flag].default
        assert default == ("the bundle's cap" if expected is None else str(expected)), flag


def web_block() -> list[str]:
    match = re.search(r"<!--[^\n]*test_readme_web_section[^\n]*-->\n```bash\n(.*?)```", README, re.S)
    assert match, "README's browser section lost its block"
    return [line.strip() for line in match.group(1).splitlines() if line.strip()]


def test_readme_web_section(tmp_path: Path, node_modules: Path, capsys, monkeypatch) -> None:
    """ "In the browser and in Node": its two commands as written (the built-in model for dates-bundle, as the Serve
    section's test does, and a free port for 8080) give a page that translates in Chromium, and its JavaScript
    block, run with Node beside the folder, prints what it says."""
    import socket
    import time

    from web_checks import drive, skip_web

    from s2s_onnx.runtime import default_model_path

    web, server = web_block()
    monkeypatch.chdir(tmp_path)
    argv = [str(default_model_path()) if a == "dates-bundle" else a for a in shlex.split(web)[1:]]
    if main(argv) != 0:
        err = capsys.readouterr().err
        assert "cannot fetch onnxruntime-web" in err, err
        skip_web(err.strip())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(shlex.split(server.replace("8080", str(port))), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        found = drive("page", f"http://127.0.0.1:{port}/?q=March%203rd%2C%202021%0A14%20Jul%201989")
    finally:
        process.terminate()
        process.wait(10)
    assert found["status"] == "done" and found["results"] == "2021-03-03\n1989-07-14", found
    (tmp_path / "dates-web" / "node_modules").symlink_to(node_modules)  # what 'npm install' in the folder makes
    (tmp_path / "app.mjs").write_text("\n".join(blocks("js")), encoding="utf-8")
    done = subprocess.run(["node", "app.mjs"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["2021-03-03", "[ '1989-07-14', '1960-12-17' ]", "1989-07-14 end 2"]
