"""s2s-onnx runtime: greedy decoding of an exported Keras LSTM encoder-decoder on onnxruntime.

Needs only numpy and onnxruntime; never imports TensorFlow, Keras or tf2onnx.
"""

from .config import FORMAT_VERSION, BundleConfig
from .errors import (
    BundleExistsError,
    BundleFormatError,
    ConversionError,
    DataFormatError,
    InputTooLongError,
    MissingExtraError,
    ModelFileNotFoundError,
    ModelFormatError,
    NotEncoderDecoderError,
    OutputError,
    ParityError,
    ProviderNotAvailableError,
    S2SError,
    UnknownCharacterError,
    VocabularyMismatchError,
)
from .model import DecodeResult, Seq2SeqModel, default_model_path
from .vocab import Vocabulary

__all__ = [
    "FORMAT_VERSION",
    "BundleConfig",
    "BundleExistsError",
    "BundleFormatError",
    "ConversionError",
    "DataFormatError",
    "DecodeResult",
    "InputTooLongError",
    "MissingExtraError",
    "ModelFileNotFoundError",
    "ModelFormatError",
    "NotEncoderDecoderError",
    "OutputError",
    "ParityError",
    "ProviderNotAvailableError",
    "S2SError",
    "Seq2SeqModel",
    "UnknownCharacterError",
    "Vocabulary",
    "VocabularyMismatchError",
    "default_model_path",
]
