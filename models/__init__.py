"""Training the Keras example's encoder-decoder and building its inference models (needs the ``export`` extra)."""

import os

# TensorFlow is chatty and Keras 3 must run on the TensorFlow backend for tf2onnx.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
