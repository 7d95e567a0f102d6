"""Load a trained training-model file: Keras 3 ``.keras``/``.h5``, or a Keras 2 ``.h5``, ``.keras`` archive or
SavedModel folder.

Keras 2 files are read without ``tf_keras`` (see :mod:`legacy_h5` and :mod:`keras2_files`).
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from s2s_onnx.runtime.errors import ModelFileNotFoundError, ModelFormatError

from .keras2_files import (
    SAVED_MODEL_FILE,
    is_keras2_archive,
    is_saved_model,
    read_keras2_archive,
    read_saved_model,
    saved_model_version,
)
from .legacy_h5 import LegacyGraph, read_legacy_h5

logger = logging.getLogger(__name__)

Flavour = Literal["keras3-keras", "keras3-h5", "keras2-h5", "keras2-keras", "keras2-savedmodel"]
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
KERAS2_READERS = {
    "keras2-h5": read_legacy_h5,
    "keras2-keras": read_keras2_archive,
    "keras2-savedmodel": read_saved_model,
}


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # a keras.Model (Keras 2 files are rebuilt as Keras 3 models)
    flavour: Flavour
    keras_version: str
    source_spec: Any = None  # the Seq2SeqSpec found in the file itself, with the file's own semantics


def detect_flavour(path: Path) -> tuple[Flavour, str]:
    """Which kind of Keras file ``path`` is, and the Keras version that saved it."""
    if path.is_dir():
        if not is_saved_model(path):
            raise ModelFormatError(
                f"{path} is a folder but not a TensorFlow SavedModel (no {SAVED_MODEL_FILE} in it); give the model "
                "file itself (.keras or .h5) or the folder model.save() wrote"
            )
        return "keras2-savedmodel", saved_model_version(path)
    with path.open("rb") as handle:
        head = handle.read(8)
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                meta = json.loads(archive.read("metadata.json"))
        except (KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ModelFormatError(f"{path} is a zip file but not a Keras .keras model ({exc})") from exc
        return ("keras2-keras" if is_keras2_archive(meta) else "keras3-keras"), str(meta.get("keras_version", "3"))
    if head == HDF5_SIGNATURE:
        import h5py

        with h5py.File(path, "r") as handle:
            if "model_config" not in handle.attrs:
                raise ModelFormatError(
                    f"{path} holds no model config (a weights-only .h5?); save the whole model with model.save()"
                )
            version = handle.attrs.get("keras_version", b"")
        version = version.decode() if isinstance(version, bytes) else str(version)
        return ("keras2-h5" if version.startswith("2.") else "keras3-h5"), version
    raise ModelFormatError(
        f"{path} is not a Keras model file (neither a .keras archive nor HDF5); pass the trained model "
        "saved with model.save()"
    )


def load_graph(path: str | Path) -> tuple[Any, Flavour, str]:
    """A model file as something with ``get_config``/``get_layer``: a Keras 3 model, or a Keras 2 file's config
    and weights (``legacy_h5.LegacyGraph``). Returns (graph, flavour, Keras version that saved it)."""
    path = Path(path)
    if not path.exists():
        raise ModelFileNotFoundError(f"model file {str(path)!r} does not exist")
    flavour, version = detect_flavour(path)
    logger.info("loading %s (%s, Keras %s)", path, flavour, version)
    try:
        if flavour in KERAS2_READERS:
            return KERAS2_READERS[flavour](path), flavour, version
        return _keras_load(path, flavour), flavour, version
    except (ValueError, TypeError, OSError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"{path}: Keras could not load this model ({first[:300]})") from exc


def _keras_load(path: Path, flavour: Flavour) -> Any:
    """Keras 3's own loader; a Keras 3 ``.h5`` it cannot read back is read like a Keras 2 file instead: one with a
    ``mask_zero`` Embedding, whose implicit ``NotEqual`` layer Keras 3 writes but does not know, or with an
    ``Attention`` layer, whose ``score_mode="dot"`` its ``.h5`` reader turns into the function ``dot``."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, TypeError) as exc:
        unreadable = "Unknown layer" in str(exc) or "Error when deserializing" in str(exc)
        if flavour != "keras3-h5" or not unreadable:
            raise
        logger.info("Keras 3 cannot load %s back (%s); reading its config and weights directly", path, exc)
        return read_legacy_h5(path)


def load_training_model(path: str | Path, decoder_model: str | Path | None = None) -> LoadedModel:
    """Load a trained training model of any supported flavour, without compiling it; Keras 2 files are rebuilt
    as the same Keras 3 model. With ``decoder_model``, ``path`` is the inference encoder model and the pair is
    rebuilt as the training model it came from (see ``inference_pair``)."""
    from .graph_search import find_seq2seq
    from .inference import training_model

    graph, flavour, version = load_graph(path)
    if decoder_model is not None:
        from .inference_pair import find_pair

        decoder_graph, _, _ = load_graph(decoder_model)
        spec = find_pair(graph, decoder_graph)
        return LoadedModel(training_model(spec), flavour, version, spec)
    if isinstance(graph, LegacyGraph):
        spec = find_seq2seq(graph)
        return LoadedModel(training_model(spec), flavour, version, spec)
    return LoadedModel(model=graph, flavour=flavour, keras_version=version, source_spec=find_seq2seq(graph))
