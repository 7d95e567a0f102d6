"""Load a trained training-model file: Keras 3 ``.keras``/``.h5`` or a legacy Keras 2 ``.h5``.

Legacy Keras 2 ``.h5`` files are read without ``tf_keras`` (see :mod:`legacy_h5`).
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from s2s_onnx.runtime.errors import ModelFileNotFoundError, ModelFormatError

logger = logging.getLogger(__name__)

Flavour = Literal["keras3-keras", "keras3-h5", "keras2-h5"]
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # a keras.Model (Keras 2 files are rebuilt as Keras 3 models)
    flavour: Flavour
    keras_version: str


def detect_flavour(path: Path) -> tuple[Flavour, str]:
    """Which kind of Keras file ``path`` is, and the Keras version that saved it."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                meta = json.loads(archive.read("metadata.json"))
        except (KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ModelFormatError(f"{path} is a zip file but not a Keras 3 .keras model ({exc})") from exc
        return "keras3-keras", str(meta.get("keras_version", "3"))
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


def load_training_model(path: str | Path) -> LoadedModel:
    """Load a trained model file of any supported flavour, without compiling it."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileNotFoundError(f"model file {str(path)!r} does not exist")
    flavour, version = detect_flavour(path)
    logger.info("loading %s (%s, Keras %s)", path, flavour, version)
    try:
        if flavour == "keras2-h5":
            from .legacy_h5 import load_legacy_h5

            model = load_legacy_h5(path)
        else:
            import keras

            model = keras.saving.load_model(path, compile=False)
    except (ValueError, TypeError, OSError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"{path}: Keras could not load this model ({first[:300]})") from exc
    return LoadedModel(model=model, flavour=flavour, keras_version=version)
