"""Checks a generated Triton repository without Triton: ``config.pbtxt``, read by a small protobuf text-format
parser written here (independent of the writer), must match the ONNX graph's inputs and outputs as
onnxruntime sees them; and the model file, fed through the repository's own ``client.py``, must decode what
the runtime decodes, also for requests concatenated along the batch as Triton's dynamic batcher does."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from s2s_onnx.runtime import Seq2SeqModel

TOKEN = re.compile(r'\s*(?:(?P<string>"[^"]*")|(?P<word>[-\w.]+)|(?P<mark>[{}\[\]:,]))')
ORT_TYPES = {
    "tensor(float)": "TYPE_FP32",
    "tensor(int64)": "TYPE_INT64",
    "tensor(int32)": "TYPE_INT32",
    "tensor(bool)": "TYPE_BOOL",
    "tensor(float16)": "TYPE_FP16",
}


def parse_pbtxt(text: str) -> dict[str, Any]:
    """Protobuf text format as nested dicts; a field given more than once, or as ``[...]``, is a list."""
    tokens = [m.group(m.lastgroup or "") for m in TOKEN.finditer(text) if m.group(0).strip()]
    position = 0

    def value() -> Any:
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "{":
            return message("}")
        if token == "[":
            items = []
            while tokens[position] != "]":
                items.append(value())
                if tokens[position] == ",":
                    position += 1
            position += 1
            return items
        if token.startswith('"'):
            return token[1:-1]
        return int(token) if re.fullmatch(r"-?\d+", token) else token

    def message(end: str | None) -> dict[str, Any]:
        nonlocal position
        found: dict[str, Any] = {}
        while position < len(tokens) and tokens[position] != end:
            name = tokens[position]
            position += 1
            if tokens[position] == ":":
                position += 1
            item = value()
            if name in found:
                found[name] = [*(found[name] if isinstance(found[name], list) else [found[name]]), item]
            else:
                found[name] = item
            if position < len(tokens) and tokens[position] == ",":
                position += 1
        position += 1
        return found

    return message(None)


def check_config_against_graph(home: Path) -> dict[str, Any]:
    config = parse_pbtxt((home / "config.pbtxt").read_text("utf-8"))
    assert config["name"] == home.name and config["backend"] == "onnxruntime"
    assert config["max_batch_size"] > 0 and "dynamic_batching" in config
    session = ort.InferenceSession(str(home / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    for declared, actual in ((config["input"], session.get_inputs()), (config["output"], session.get_outputs())):
        assert [d["name"] for d in declared] == [a.name for a in actual]
        for spec, arg in zip(declared, actual, strict=True):
            assert spec["data_type"] == ORT_TYPES[arg.type], (spec, arg.type)
            shape = spec["reshape"]["shape"] if "reshape" in spec else spec["dims"]
            assert len(shape) + 1 == len(arg.shape), (spec, arg.shape)  # + Triton's batch dimension
            for mine, theirs in zip(shape, arg.shape[1:], strict=True):
                assert mine == -1 or not isinstance(theirs, int) or mine == theirs, (spec, arg.shape)
    return config


def load_client(home: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"client_{home.name}", home / "client.py")
    assert spec is not None and spec.loader is not None
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    return client


def check_decodes(home: Path, model: Seq2SeqModel, texts: list[str]) -> None:
    config = check_config_against_graph(home)
    client = load_client(home)
    assert config["name"] == client.MODEL_NAME
    bundle_config = client.load_config()
    session = ort.InferenceSession(str(home / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    wanted = [o["name"] for o in config["output"]]
    halves = [
        client.encode(bundle_config, texts[: len(texts) // 2]),
        client.encode(bundle_config, texts[len(texts) // 2 :]),
    ]
    for feeds in halves:  # each request matches the config: batch dimension + the declared dims
        for spec in config["input"]:
            assert list(feeds[spec["name"]].shape[1:]) == spec["dims"]
    batched = {name: np.concatenate([h[name] for h in halves]) for name in halves[0]}
    outputs = dict(zip(wanted, session.run(wanted, batched), strict=True))
    assert client.decode(bundle_config, outputs) == model.translate(texts)
