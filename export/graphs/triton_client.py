"""Client for an s2s-onnx model in a Triton Inference Server repository (copied there as ``client.py`` by
``s2s-onnx triton``).

It encodes texts with the bundle's vocabulary (``s2s_config.json`` beside it; needs only the s2s-onnx runtime,
numpy + onnxruntime), sends them to Triton over HTTP (``pip install "tritonclient[http]"``) and decodes the
answer; ``encode`` and ``decode`` work with any other way of calling the model too::

    python client.py --url localhost:8000 "March 3rd, 2021"
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from s2s_onnx.runtime.config import BundleConfig
from s2s_onnx.runtime.vocab import CleanRules, UnknownPolicy

HERE = Path(__file__).resolve().parent
MODEL_NAME = HERE.name  # the directory is the model


def load_config(path: Path = HERE / "s2s_config.json") -> BundleConfig:
    """The bundle's configuration: vocabulary, lengths and input kind."""
    return BundleConfig.from_dict(json.loads(path.read_text("utf-8")), str(path))


def encode(config: BundleConfig, texts: Sequence[str], unknown: UnknownPolicy = "error") -> dict[str, np.ndarray]:
    """The model's input for ``texts``, padded to the maximum encoder length as ``config.pbtxt`` says."""
    vocab = config.vocabulary
    rules = CleanRules(unknown=unknown)
    clean = [vocab.clean(t, rules) for t in texts]
    return {"encoder_inputs": vocab.encode_sources(clean, ids=config.model.input == "ids")}


def decode(config: BundleConfig, outputs: dict[str, np.ndarray]) -> list[str]:
    """Texts from the model's ``token_ids`` and ``lengths`` (each row up to its end token)."""
    ids, lengths = outputs["token_ids"], np.asarray(outputs["lengths"]).reshape(-1)
    return [config.vocabulary.decode_ids(ids[row, : lengths[row]].tolist()) for row in range(len(lengths))]


def translate(url: str, texts: Sequence[str], config: BundleConfig | None = None) -> list[str]:
    """Send ``texts`` to Triton at ``url`` (host:port) in one request and return their translations."""
    import tritonclient.http as http

    config = config or load_config()
    feeds = encode(config, texts)
    inputs: list[Any] = []
    for name, array in feeds.items():
        tensor = http.InferInput(name, list(array.shape), "FP32" if array.dtype == np.float32 else "INT64")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    outputs = [http.InferRequestedOutput(name) for name in ("token_ids", "lengths")]
    result = http.InferenceServerClient(url).infer(MODEL_NAME, inputs, outputs=outputs)
    return decode(config, {name: result.as_numpy(name) for name in ("token_ids", "lengths")})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"translate with the Triton model {MODEL_NAME!r}")
    parser.add_argument("texts", nargs="+")
    parser.add_argument("--url", default="localhost:8000", help="Triton's HTTP address")
    args = parser.parse_args(argv)
    try:
        import tritonclient.http  # noqa: F401
    except ModuleNotFoundError:
        print("client.py: error: tritonclient is not installed; pip install 'tritonclient[http]'", file=sys.stderr)
        return 2
    try:
        for text in translate(args.url, args.texts):
            print(text)
    except Exception as exc:  # a client script: one line, never a traceback
        print(f"client.py: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
