"""The bundle in the browser and in Node: ``s2s-onnx web``'s page in headless Chromium (Debian's, driven by
playwright-core) and its ``s2s.mjs`` in Node (onnxruntime-node) decode, token for token, what the Python runtime
decodes: 200 inputs, greedy and beam, for the built-in model and for a word-level Embedding bundle whose Keras
Tokenizer lowercases, filters and maps unknown words to its OOV token. ``s2s-onnx serve`` serves the same page at
``/web/``. Skipped where Node.js, npm or Chromium are missing, or where onnxruntime-web cannot be fetched."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_checks import STATIC, as_python, assert_same, drive, node_agrees, require_chromium, skip_web

from s2s_onnx.benchmarks.http_client import ServerProcess, fetch, start_server
from s2s_onnx.benchmarks.web_latency import static_server
from s2s_onnx.models.realistic_dates import realistic_pairs
from s2s_onnx.runtime import Seq2SeqModel
from s2s_onnx.runtime.bundle import default_model_path
from s2s_onnx.runtime.cli import main
from s2s_onnx.runtime.errors import S2SError
from s2s_onnx.runtime.text import TEXT_VECTORIZATION_PUNCTUATION
from s2s_onnx.runtime.web.ort_files import WebAssetsError, find_ort_files, ort_files

WORDS_BUNDLE = Path(__file__).resolve().parent / "fixtures" / "web-words"
BUNDLES = {"dates": default_model_path(), "words": WORDS_BUNDLE}


def word_inputs(count: int = 200, seed: int = 7) -> list[str]:
    """Texts as people type them to the word model: known and unknown words, any case, punctuation, odd spacing."""
    rng = random.Random(seed)
    known = ["go", "now", "run", "fast", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far", "away"]
    words = [*known, "Go", "NOW", "Cat", "zebra", "été", "naïve"]
    texts = []
    for _ in range(count):
        chosen = [rng.choice(words) + rng.choice(["", "", "", ",", "!", "?", "..."]) for _ in range(rng.randint(1, 8))]
        texts.append(rng.choice([" ", "  ", " "]).join(chosen))
    return texts


INPUTS = {"dates": realistic_pairs(200, seed=11)[0], "words": word_inputs()}


@pytest.fixture(scope="session")
def ort_dir() -> Path:
    try:
        return ort_files()
    except WebAssetsError as exc:
        skip_web(f"onnxruntime-web's files are not at hand: {exc}")


@pytest.fixture(scope="session")
def sites(tmp_path_factory: pytest.TempPathFactory, ort_dir: Path, node_modules: Path) -> Path:
    """``s2s-onnx web`` for each bundle, under one folder: ``dates/`` and ``words/``."""
    root = tmp_path_factory.mktemp("sites")
    for name, bundle in BUNDLES.items():
        assert main(["web", str(bundle), "-o", str(root / name), "--ort-dir", str(ort_dir)]) == 0
        (root / name / "node_modules").symlink_to(node_modules)  # as 'npm install' in the folder would make it
    return root


@pytest.fixture(scope="session")
def site_url(sites: Path) -> Iterator[str]:
    """The sites over a loopback HTTP server, as a user would serve the folder."""
    with static_server(sites) as url:
        yield url


@functools.cache
def python_model(name: str) -> Seq2SeqModel:
    return Seq2SeqModel.load(BUNDLES[name])


def get(running: ServerProcess, path: str, payload: Any = None) -> tuple[int, Any]:
    """GET ``path`` (POST ``payload``) on the running server."""
    return asyncio.run(fetch(running.host, running.port, "GET" if payload is None else "POST", path, payload))


def page_url(base: str, texts: list[str], beam: int = 1) -> str:
    query = {"q": "\n".join(texts), **({"beam": str(beam)} if beam > 1 else {})}
    return f"{base}/?{urllib.parse.urlencode(query)}"


@pytest.mark.parametrize("beam", [1, 4])
@pytest.mark.parametrize("name", ["dates", "words"])
def test_the_page_translates_as_the_python_runtime(site_url: str, name: str, beam: int) -> None:
    texts = INPUTS[name]
    found = drive("page", page_url(f"{site_url}/{name}", texts, beam))
    assert found["status"] == "done", found
    expected = python_model(name).translate(texts, beam_size=beam)
    assert found["results"].split("\n") == expected
    assert "texts in" in found["timing"] and not [line for line in found["console"] if "error" in line], found


def test_the_page_shows_an_error(site_url: str) -> None:
    found = drive("page", page_url(f"{site_url}/dates", ["March 3rd, 2021", "3 mars 2021 §"]))
    assert found["status"] == "error" and found["results"] == ""
    assert found["error"].startswith("UnknownCharacterError: input has characters the model does not know: '§'")


@pytest.mark.parametrize(
    "options", [{}, {"beam_size": 4, "num_return": 3}, {"beam_size": 3, "length_penalty": 0.6, "max_length": 6}]
)
@pytest.mark.parametrize("name", ["dates", "words"])
def test_node_decodes_as_the_python_runtime(sites: Path, name: str, options: dict[str, Any]) -> None:
    texts = INPUTS[name]
    found = drive("node", str(sites / name), job={"texts": texts, "options": options})
    expected = python_model(name).decode(texts, **options)
    assert len(found["results"]) == len(expected)
    for js, py in zip(found["results"], expected, strict=True):
        assert_same(js, as_python(py))


BAD_INPUTS = [
    ("dates", "March 3rd, 2021 §\u0301", {}),
    ("dates", "   ", {}),
    ("dates", "", {}),
    ("dates", "1" * 200, {}),
    ("dates", "§§", {"unknown": "skip"}),
    ("dates", "x", {"beam_size": 0}),
    ("dates", "x", {"beam_size": 2, "num_return": 3}),
    ("dates", "x", {"unknown": "drop"}),
    ("dates", "x", {"batch_size": 5000}),
    ("dates", "x", {"length_penalty": 11}),
    ("dates", "x", {"max_length": 10_001}),
    ("dates", "x", {"truncate": "yes"}),
    ("dates", "x", {"max_length": 10_000, "batch_size": 4096, "beam_size": 64}),
    ("words", "zebra " * 9, {}),
    ("words", "\u2003\u3000\t", {}),
    ("words", "\x1c\x85 \u2003", {}),  # blank to Python (str.isspace), not to JavaScript's \s
]


@pytest.mark.parametrize(("name", "text", "options"), BAD_INPUTS)
def test_node_refuses_what_the_python_runtime_refuses(sites: Path, name: str, text: str, options: dict) -> None:
    with pytest.raises(S2SError) as refused:
        python_model(name).decode([text], **options)
    found = drive("node", str(sites / name), job={"texts": [text], "options": options})
    assert found["error"] == {"type": type(refused.value).__name__, "message": str(refused.value)}


def test_node_takes_what_the_python_runtime_takes_with_lenient_options(sites: Path) -> None:
    cases = [("dates", ["MARCH 3rd 2021 §", "1" * 60], {"unknown": "replace", "truncate": True})]
    cases += [("dates", ["§§", ""], {"unknown": "skip", "allow_empty": True}), ("words", ["!!!", "été"], {})]
    for name, texts, options in cases:
        found = drive("node", str(sites / name), job={"texts": texts, "options": options})
        for js, py in zip(found["results"], python_model(name).decode(texts, **options), strict=True):
            assert_same(js, as_python(py))


def test_an_int8_bundle_decodes_the_same_tokens(tmp_path: Path, ort_dir: Path, node_modules: Path) -> None:
    """``s2s-onnx quantize``'s output in Node and in the page: the same tokens as the Python runtime's int8 decode.
    onnxruntime-node and -web 1.30 compute int8 products with other kernels than the Python onnxruntime, so the
    probabilities agree to 0.02 and the n-best scores to 0.2 (measured: 0.010 and 0.13), not to float rounding."""
    assert main(["quantize", "-o", str(tmp_path / "int8")]) == 0
    texts = INPUTS["dates"]
    for options in ({}, {"beam_size": 4}):  # the best hypothesis; lower ones, near-tied, may swap under int8
        node_agrees(tmp_path / "int8", texts, options, tolerance=0.02, score_tolerance=0.2)
    assert main(["web", str(tmp_path / "int8"), "-o", str(tmp_path / "site"), "--ort-dir", str(ort_dir)]) == 0
    with static_server(tmp_path / "site") as url:
        found = drive("page", page_url(url, texts))
    assert found["status"] == "done" and found["results"].split("\n") == Seq2SeqModel.load(tmp_path / "int8").translate(
        texts
    )


def test_the_web_command_writes_a_whole_site_or_nothing(tmp_path: Path, ort_dir: Path, capsys) -> None:
    out = tmp_path / "site"
    assert main(["web", "-o", str(out), "--ort-dir", str(ort_dir)]) == 0
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == sorted(
        ["index.html", "page.mjs", "s2s.mjs", "s2s-text.mjs", "package.json", ".npmrc"]
        + [f"model/{n}" for n in ("config.json", "greedy.onnx", "beam.onnx", "reference.json")]
        + [f"ort/{n}" for n in ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")]
    )
    assert json.loads((out / "package.json").read_text())["dependencies"] == {"onnxruntime-node": "1.30.0"}
    assert "python3 -m http.server 8080 -d" in capsys.readouterr().out
    # an existing folder is kept unless --force; a bundle without fused graphs and a wrong --ort-dir write nothing
    assert main(["web", "-o", str(out), "--ort-dir", str(ort_dir)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    steps_only = tmp_path / "steps-only"
    shutil.copytree(default_model_path(), steps_only)
    config = json.loads((steps_only / "config.json").read_text())
    config["fused"] = config["beam"] = False
    (steps_only / "config.json").write_text(json.dumps(config))
    assert main(["web", str(steps_only), "-o", str(tmp_path / "b"), "--ort-dir", str(ort_dir)]) == 2
    assert "has no fused graphs, which the page runs; convert the model with" in capsys.readouterr().err
    assert main(["web", "-o", str(tmp_path / "c"), "--ort-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "holds no onnxruntime-web files" in err and "npm install onnxruntime-web@1.30.0" in err
    )
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_a_tampered_package_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The npm registry's package is checked against its pinned integrity hash before a byte of it is used."""
    registry = tmp_path / "registry" / "onnxruntime-web" / "-"
    registry.mkdir(parents=True)
    (registry / "onnxruntime-web-1.30.0.tgz").write_bytes(b"\x1f\x8b not the package")
    with static_server(tmp_path / "registry") as url:
        monkeypatch.setenv("S2S_ONNX_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("NPM_CONFIG_REGISTRY", f"{url}/")
        assert find_ort_files() is None
        assert main(["web", "-o", str(tmp_path / "site")]) == 2
    *progress, error = capsys.readouterr().err.splitlines()
    assert all(line.startswith("s2s-onnx: fetching onnxruntime-web 1.30.0: ") for line in progress)
    assert error.startswith("s2s-onnx: error: ") and "does not match onnxruntime-web 1.30.0's integrity hash" in error
    assert not (tmp_path / "site").exists() and find_ort_files() is None


def test_serve_offers_the_page_at_web(ort_dir: Path, node_modules: Path, tmp_path: Path) -> None:
    """The same machine answers the HTTP API and, at /web/, the page for its own bundle, which decodes in the
    browser what the API decodes; without onnxruntime-web's files the page says how to get them."""
    texts = INPUTS["words"][:50]
    with start_server(["--model", str(WORDS_BUNDLE), "--ort-dir", str(ort_dir), "--threads", "1"]) as running:
        found = drive("page", page_url(f"{running.url}/web", texts, beam=2))
        status, reply = get(running, "/translate", {"text": texts, "beam_size": 2})
        assert status == 200 and found["status"] == "done", found
        assert found["results"].split("\n") == [r["text"] for r in reply["results"]]
        assert get(running, "/web/model/encoder.onnx")[0] == 404  # only the page's files, nothing else
        assert get(running, "/web/../config.json")[0] == 404
        status, body = get(running, "/web")
        assert status == 404 and "the page is at /web/" in body["error"]["message"]
    # a cache without the files: the API runs, and the page answers 503 with the way to get them
    empty = {"S2S_ONNX_CACHE": str(tmp_path / "empty-cache")}
    with start_server(["--threads", "1"], env=empty) as running:
        status, body = get(running, "/web/")
        assert status == 503 and "npm install onnxruntime-web@1.30.0" in body["error"]["message"]
        assert get(running, "/translate", {"text": "March 3rd, 2021"}) == (
            200,
            {"text": "2021-03-03", "stop_reason": "end"},
        )
        assert any("no page at /web/" in line for line in running.stderr)


def test_the_latency_benchmark_measures_all_three(tmp_path: Path, ort_dir: Path, node_modules: Path) -> None:
    """``python -m s2s_onnx.benchmarks.web_latency``, shortened: a row per decode and batch size with Python, Node
    and browser medians, after all three translated alike; the table, JSON, plot and the page's screenshot."""
    from s2s_onnx.benchmarks.web_latency import main as bench

    require_chromium()
    args = ["--batch-sizes", "1,4", "--beam", "2", "--repeats", "2", "--warmup", "1", "--ort-dir", str(ort_dir)]
    assert bench([*args, "--output", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "web-latency.json").read_text())
    assert [(r["decode"], r["batch"]) for r in report["records"]] == [
        ("greedy", 1),
        ("greedy", 4),
        ("beam 2", 1),
        ("beam 2", 4),
    ]
    assert all(r[f"{k}_ms"] > 0 for r in report["records"] for k in ("python", "node", "browser"))
    assert report["environment"]["onnxruntime_web"] == "1.30.0" and "HeadlessChrome" in report["environment"]["browser"]
    assert (tmp_path / "page.png").stat().st_size > 10_000 and (tmp_path / "web-latency.md").is_file()


def derived_bundle(tmp_path: Path, base: Path, name: str, **vocabulary: Any) -> Path:
    """``base`` with other text or loop rules in its config (its graphs unchanged; its stored Keras decodes no
    longer apply, so both runtimes load it with verify off)."""
    bundle = tmp_path / name
    shutil.copytree(base, bundle)
    config = json.loads((bundle / "config.json").read_text("utf-8"))
    config["vocabulary"].update(vocabulary)
    (bundle / "config.json").write_text(json.dumps(config), "utf-8")
    return bundle


TEXT_VECTORIZATION = {"lower": True, "filters": TEXT_VECTORIZATION_PUNCTUATION, "split": None, "strip": True}


@pytest.mark.parametrize(
    ("base", "rules"),
    [
        ("words", {"text": {**TEXT_VECTORIZATION, "oov_token": "<unk>"}}),
        ("words", {"loop": {"stop": "length", "max_length": 6, "joiner": ""}}),
        ("words", {"loop": {"stop": "end", "max_length": 4, "joiner": " | "}}),
        ("dates", {"loop": {"stop": "length", "max_length": 7, "joiner": None}}),
    ],
    ids=["text-vectorization", "no-end-token", "cap-and-joiner", "chars-fixed-length"],
)
def test_node_follows_every_text_and_loop_rule(tmp_path: Path, node_modules: Path, base: str, rules: dict) -> None:
    """TextVectorization's standardisation (punctuation stripped, not split on) and the author's loop (a fixed
    length with no end token, another cap, another joiner): the same decodes in Node as in Python."""
    bundle = derived_bundle(tmp_path, BUNDLES[base], "derived", **rules)
    texts = INPUTS[base][:60]
    found = drive("node", str(STATIC), str(bundle), job={"texts": texts, "options": {}, "load": {"verify": False}})
    assert "error" not in found, found
    expected = Seq2SeqModel.load(bundle, verify=False).decode(texts)
    for js, py in zip(found["results"], expected, strict=True):
        assert_same(js, as_python(py))
    if "loop" in rules and rules["loop"]["stop"] == "length":
        assert {r["stop_reason"] for r in found["results"]} == {"max_length"}


def test_node_reads_a_format_1_bundle(tmp_path: Path, node_modules: Path) -> None:
    """A bundle from before the token lists (format 1: the vocabulary as strings of characters)."""
    bundle = tmp_path / "v1"
    shutil.copytree(default_model_path(), bundle)
    shutil.copy(Path(__file__).parent / "fixtures" / "dates-config-v1.json", bundle / "config.json")
    (bundle / "beam.onnx").unlink()
    node_agrees(bundle, INPUTS["dates"][:60], {})
    found = drive("node", str(STATIC), str(bundle), job={"texts": ["May 1"], "options": {"beam_size": 2}})
    assert found["error"]["type"] == "InvalidOptionError" and "has no beam.onnx" in found["error"]["message"]


def test_node_refuses_a_bundle_that_lies(tmp_path: Path, node_modules: Path) -> None:
    """A config whose target table was reversed decodes nonsense: refused at load, as the Python runtime refuses it,
    by the Keras decodes stored in reference.json; a missing graph and a damaged config are named."""
    config = json.loads((default_model_path() / "config.json").read_text("utf-8"))
    lying = derived_bundle(
        tmp_path, default_model_path(), "lying", target_tokens=config["vocabulary"]["target_tokens"][::-1]
    )
    found = drive("node", str(STATIC), str(lying), job={"texts": ["May 1"], "options": {}})
    assert found["error"]["type"] == "BundleFormatError"
    assert "does not reproduce the Keras decodes it was verified with (reference.json)" in found["error"]["message"]
    with pytest.raises(S2SError, match="does not reproduce the Keras decodes"):
        Seq2SeqModel.load(lying)
    (lying / "greedy.onnx").unlink()
    found = drive("node", str(STATIC), str(lying), job={"texts": ["May 1"], "options": {}})
    assert (
        found["error"]["type"] == "BundleFormatError" and "greedy.onnx: it does not exist" in found["error"]["message"]
    )
    (lying / "config.json").write_text("{not json", "utf-8")
    found = drive("node", str(STATIC), str(lying), job={"texts": ["May 1"], "options": {}})
    assert found["error"]["type"] == "BundleFormatError" and "config.json: not valid JSON" in found["error"]["message"]


def hostile_texts(count: int, alphabet: str, seed: int) -> list[str]:
    """Random texts from the model's own tokens mixed with what people paste: other scripts and cases, combining
    marks, invisible and Python-only whitespace, astral characters, lone surrogates' neighbours, punctuation."""
    rng = random.Random(seed)
    odd = [
        "É",
        "ß",
        "İ",
        "ǅ",
        "Σ",
        "\u0301",
        "\u200b",
        "\u2003",
        "\x1c",
        "\x85",
        "\ufeff",
        "😀",
        "𝔄",
        "\t",
        "\n",
        "!?",
        "--",
    ]
    pieces = list(alphabet) + odd
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 14))) for _ in range(count)]


@pytest.mark.parametrize(
    "options", [{}, {"unknown": "skip", "truncate": True}, {"unknown": "replace", "allow_empty": True}]
)
@pytest.mark.parametrize("name", ["dates", "words"])
def test_node_cleans_hostile_text_as_python(sites: Path, name: str, options: dict[str, Any]) -> None:
    """300 random texts each, decoded one by one: the same result, or the same error with the same message."""
    model = python_model(name)
    words = [t for t in model.vocabulary.input_chars if t] if name == "words" else []
    alphabet = "".join(model.vocabulary.input_chars) if name == "dates" else ""
    texts = hostile_texts(300, alphabet, seed=len(options))
    if words:  # words: join known and unknown words with the odd pieces
        rng = random.Random(3)
        texts = [" ".join(rng.choice([*words, t, t.upper()]) for _ in range(rng.randint(1, 9))) for t in texts]
    found = drive("node-each", str(sites / name), job={"texts": texts, "options": options})["answers"]
    agreed = 0
    for text, js in zip(texts, found, strict=True):
        try:
            expected = as_python(model.decode(text, **options))
        except S2SError as exc:
            assert js == {"error": {"type": type(exc).__name__, "message": str(exc)}}, text
            continue
        assert "result" in js, (text, js)
        assert_same(js["result"], expected)
        agreed += 1
    assert agreed >= 30  # enough of them decode, not only fail alike


def test_node_decodes_your_own_ids_as_python(sites: Path) -> None:
    """``decodeIds``: input ids from the application's own tokenizer, one list or a list of lists, as ``decode_ids``."""
    model = python_model("words")
    rows = [model.prepare(text) for text in INPUTS["words"][:40]]
    found = drive("node", str(sites / "words"), job={"ids": rows, "options": {"beam_size": 2}})
    for js, py in zip(found["results"], model.decode_ids(rows, beam_size=2), strict=True):
        assert_same(js, as_python(py))
    one = drive("node", str(sites / "words"), job={"ids": rows[0], "options": {}})["results"]
    assert_same(one, as_python(model.decode_ids(rows[0])))
    for ids, options in (([[1, 99]], {}), ([list(range(1, 10))], {}), ([[]], {})):
        with pytest.raises(S2SError) as refused:
            model.decode_ids(ids, **options)
        found = drive("node", str(sites / "words"), job={"ids": ids, "options": options})
        assert found["error"] == {"type": type(refused.value).__name__, "message": str(refused.value)}
