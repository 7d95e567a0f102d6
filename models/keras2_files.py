"""Keras 2 model files that Keras 3 cannot load, read without ``tf_keras``: TensorFlow SavedModel folders (what
``model.save("s2s")`` wrote before Keras 3) and the ``.keras`` archives of tf.keras 2.13-2.15 (module
``keras.src.engine.functional``, weights in Keras 2's layout, group paths with backslashes when saved on
Windows). Each becomes a :class:`~.legacy_h5.LegacyGraph` (the functional config and each layer's weights in
``get_weights`` order), found and rebuilt as the same Keras 3 model exactly as a legacy ``.h5`` is.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from s2s_onnx.runtime.errors import ModelFormatError
from s2s_onnx.runtime.onnx_scan import ProtobufError, fields

from .legacy_h5 import LegacyGraph

SAVED_MODEL_FILE = "saved_model.pb"
KERAS_METADATA = "keras_metadata.pb"
# the sub-objects of a layer that hold its weights, in get_weights order (forward before backward)
WEIGHT_HOLDERS = ("forward_layer", "backward_layer", "cell")
NOT_WEIGHTS = ("variables", "trainable_variables", "non_trainable_variables", "keras_api")


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / SAVED_MODEL_FILE).is_file()


def saved_model_version(path: Path) -> str:
    """The Keras version that wrote a SavedModel folder (its Keras metadata is required)."""
    return str(_root_metadata(path).get("keras_version", "2"))


def _root_metadata(path: Path) -> dict[str, Any]:
    metadata = path / KERAS_METADATA
    if not metadata.is_file():
        raise ModelFormatError(
            f"{path} is a TensorFlow SavedModel without Keras metadata ({KERAS_METADATA}), so it holds no Keras "
            "model to rebuild; save the Keras model with model.save() and convert that"
        )
    try:
        for _, _, node in fields(metadata.read_bytes()):
            if not isinstance(node, bytes):
                continue
            found = {number: value for number, _, value in fields(node)}
            if found.get(3) == b"root" and isinstance(found.get(5), bytes):
                meta = json.loads(found[5])
                if isinstance(meta, dict):
                    return meta
    except (ProtobufError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{metadata} is damaged ({exc}); save the model again with model.save()") from exc
    raise ModelFormatError(f"{metadata} describes no root model; save the model again with model.save()")


def _functional_config(meta: dict[str, Any], source: Path) -> dict[str, Any]:
    config = meta.get("config")
    if meta.get("class_name") not in ("Functional", "Model") or not isinstance(config, dict) or "layers" not in config:
        raise ModelFormatError(
            f"{source} holds a {meta.get('class_name', 'model')!r}, not a functional Keras model (Input -> layers); "
            "the Keras example's models are functional"
        )
    return config


def read_saved_model(path: Path) -> LegacyGraph:
    """A SavedModel folder's Keras config (``keras_metadata.pb``) and weights (the ``variables`` checkpoint,
    walked through its object graph from each layer to its variables)."""
    config = _functional_config(_root_metadata(path), path)
    import tensorflow as tf
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    try:
        reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
        graph = trackable_object_graph_pb2.TrackableObjectGraph()
        graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    except (tf.errors.OpError, ValueError) as exc:
        raise ModelFormatError(f"{path}: its variables cannot be read ({exc}); save the model again") from exc
    layers = {int(c.local_name.split("-")[1]): c.node_id for c in graph.nodes[0].children if _is_layer(c.local_name)}
    weights = {}
    for index, layer in enumerate(config["layers"]):
        if index in layers:
            keys = _variable_keys(graph, layers[index], set())
            weights[layer["config"]["name"]] = [np.asarray(reader.get_tensor(key)) for key in keys]
    return LegacyGraph(config, weights, saved_model_version(path))


def _is_layer(name: str) -> bool:
    return re.fullmatch(r"layer-\d+", name) is not None


def _variable_keys(graph: Any, node_id: int, seen: set[int]) -> list[str]:
    """Checkpoint keys of one layer's variables, in ``get_weights`` order."""
    keys = []
    for child in graph.nodes[node_id].children:
        if child.node_id in seen or child.local_name in NOT_WEIGHTS or child.local_name.startswith("_"):
            continue
        seen.add(child.node_id)
        node = graph.nodes[child.node_id]
        values = [a.checkpoint_key for a in node.attributes if a.name == "VARIABLE_VALUE"]
        if values:
            keys.append(values[0])
        elif child.local_name in WEIGHT_HOLDERS:
            keys += _variable_keys(graph, child.node_id, seen)
    return keys


def is_keras2_archive(meta: dict[str, Any]) -> bool:
    return str(meta.get("keras_version", "3")).startswith("2.")


def read_keras2_archive(path: Path) -> LegacyGraph:
    """A tf.keras 2 ``.keras`` zip: ``config.json`` and ``model.weights.h5`` (``layers/<name>/.../vars/<i>``)."""
    import h5py

    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.replace("\\", "/"): name for name in archive.namelist()}
            config = json.loads(archive.read(members["config.json"]))
            weights_file = io.BytesIO(archive.read(members["model.weights.h5"]))
        with h5py.File(weights_file, "r") as handle:
            arrays = _archive_arrays(handle)
    except (KeyError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelFormatError(
            f"{path}: not a readable Keras 2 .keras archive ({exc}); save it with model.save()"
        ) from exc
    functional = _functional_config(config, path)
    weights, seen = {}, Counter[str]()
    for layer in functional["layers"]:
        # the weights file names a layer by its class, snake_case, numbered in model.layers order: not its name
        kind = _snake_case(str(layer["class_name"]))
        stored = kind if not seen[kind] else f"{kind}_{seen[kind]}"
        seen[kind] += 1
        found = sorted((key, value) for key, value in arrays.items() if key[0] == stored)
        weights[layer["config"]["name"]] = [value for _, value in found]
    return LegacyGraph(functional, weights, str(config.get("keras_version", "2")))


def _snake_case(name: str) -> str:
    """Keras' own ``to_snake_case``: ``InputLayer`` -> ``input_layer``, ``LSTM`` -> ``lstm``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _archive_arrays(handle: Any) -> dict[tuple[str, tuple[int, ...], int], np.ndarray]:
    """Every weight of the archive keyed ``(layer, holder order..., index)``, whatever separator its paths use."""
    found: dict[tuple[str, tuple[int, ...], int], np.ndarray] = {}

    def visit(name: str, item: Any) -> None:
        parts = name.replace("\\", "/").split("/")
        if not hasattr(item, "shape") or len(parts) < 4 or parts[0] != "layers" or parts[-2] != "vars":
            return
        holders = tuple(WEIGHT_HOLDERS.index(p) if p in WEIGHT_HOLDERS else -1 for p in parts[2:-2])
        found[(parts[1], holders, int(parts[-1]))] = np.asarray(item)

    handle.visititems(visit)
    return found
