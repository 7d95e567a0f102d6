"""Quiet frameworks: TensorFlow prints start-up lines on stderr at import (oneDNN, "Could not find cuda
drivers", twice) that no environment variable silences, and Keras warns about legacy HDF5 files. The CLI's
heavy commands call :func:`quiet_frameworks` first; ``--verbose`` lets everything through."""

from __future__ import annotations

import logging
import os
import sys
import warnings

NOISY_LOGGERS = ("absl", "tensorflow", "tf2onnx", "keras", "h5py")


def quiet_frameworks(verbose: bool = False) -> None:
    """Import TensorFlow with stderr silenced at the file-descriptor level, and mute framework warnings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if verbose:
        return
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(keras|tf_keras|tensorflow|tf2onnx)")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        import tensorflow  # noqa: F401  (the start-up lines go to /dev/null)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    for name in NOISY_LOGGERS:  # TensorFlow resets some levels at import
        logging.getLogger(name).setLevel(logging.ERROR)
