"""Shared fixtures: tiny real Keras models, trained for seconds, converted once per session.

Every fixture imports TensorFlow lazily, so the TensorFlow-free tier (``pytest -m "not keras"``) never loads it;
a test that uses one of them belongs to the Keras tier and is marked ``keras`` automatically.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fra-eng.txt"
LATENT = 32


def make_word_pairs(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """A learnable toy task with varied output lengths: a word -> the word reversed, in capitals."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        word = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 9)))
        pairs.append((word, word[::-1].upper()))
    return pairs


KERAS_FIXTURES = {
    "trained",
    "keras_file",
    "vocab",
    "bundle",
    "inference",
    "legacy_file",
    "scratch",
    "undertrained",
    "family_bundles",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if KERAS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.keras)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("s2s")


@pytest.fixture(scope="session")
def pairs_file(workdir: Path) -> Path:
    path = workdir / "pairs.txt"
    lines = [f"{s}\t{t}\tCC-BY attribution" for s, t in make_word_pairs(800)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained(workdir: Path, pairs_file: Path):
    """A Keras 3 model trained a few epochs on the pairs file, saved as .keras and .h5 with its vocabulary."""
    from s2s_onnx.models.data import read_pairs
    from s2s_onnx.models.training import TrainSettings, save, train

    sources, targets = read_pairs(pairs_file)
    result = train(sources, targets, TrainSettings(epochs=12, latent_dim=LATENT, verbose=0, learning_rate=0.01))
    save(result, workdir / "keras3", fmt="keras")
    result.model.save(workdir / "keras3" / "model.h5")
    return result


@pytest.fixture(scope="session")
def keras_file(trained, workdir: Path) -> Path:
    return workdir / "keras3" / "model.keras"


@pytest.fixture(scope="session")
def vocab(trained):
    return trained.vocabulary


@pytest.fixture(scope="session")
def sources(pairs_file: Path) -> list[str]:
    from s2s_onnx.models.data import read_pairs

    return read_pairs(pairs_file)[0]


@pytest.fixture(scope="session")
def bundle(keras_file: Path, vocab, workdir: Path, sources: list[str]) -> Path:
    """A fused bundle converted (and verified) from the .keras model."""
    from s2s_onnx.export.tf.convert import ConvertOptions, convert

    out = workdir / "bundle"
    convert(keras_file, out, vocab, ConvertOptions(fused=True, sentences=tuple(sources[:64])))
    return out


@pytest.fixture(scope="session")
def inference(trained):
    from s2s_onnx.models.inference import build_inference_models

    return build_inference_models(trained.model)


@pytest.fixture(scope="session")
def mixed_inputs(sources: list[str]) -> list[str]:
    """Short, long, empty and repeated inputs, in mixed order."""
    picked = sorted(set(sources), key=len)
    return [picked[-1], picked[0], "", *picked[5:40:3], picked[-2], "abc", picked[1]]


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """onnxruntime-node and playwright-core, as ``benchmarks/web/package-lock.json`` pins them (``npm ci``)."""
    from web_checks import skip_web

    from s2s_onnx.benchmarks.web_latency import WebToolsError, ensure_node_modules

    try:
        return ensure_node_modules()
    except WebToolsError as exc:
        skip_web(str(exc))
