"""s2s-onnx runtime: greedy decoding of an exported Keras encoder-decoder on onnxruntime.

Needs only numpy and onnxruntime; never imports TensorFlow, Keras or tf2onnx.
"""

from .bundle import Bundle, default_model_path
from .config import FORMAT_VERSION, BundleConfig
from .decoding import BatchTokens, Cancellation
from .errors import (
    BundleExistsError,
    BundleFormatError,
    BundleReadError,
    ConversionError,
    DataFormatError,
    DecodeCancelledError,
    DecodeLimitError,
    EmptyInputError,
    InputEncodingError,
    InputTooLongError,
    InvalidOptionError,
    MissingExtraError,
    ModelFileNotFoundError,
    ModelFormatError,
    NotEncoderDecoderError,
    OptionTypeError,
    OutputError,
    ParityError,
    ProviderNotAvailableError,
    S2SError,
    UnknownCharacterError,
    VocabularyMismatchError,
)
from .model import DecodeResult, Seq2SeqModel
from .options import DecodeOptions
from .sessions import SessionConfig
from .vocab import Vocabulary

__all__ = [
    "FORMAT_VERSION",
    "BatchTokens",
    "Bundle",
    "BundleConfig",
    "BundleExistsError",
    "BundleFormatError",
    "BundleReadError",
    "Cancellation",
    "ConversionError",
    "DataFormatError",
    "DecodeCancelledError",
    "DecodeLimitError",
    "DecodeOptions",
    "DecodeResult",
    "EmptyInputError",
    "InputEncodingError",
    "InputTooLongError",
    "InvalidOptionError",
    "MissingExtraError",
    "ModelFileNotFoundError",
    "ModelFormatError",
    "NotEncoderDecoderError",
    "OptionTypeError",
    "OutputError",
    "ParityError",
    "ProviderNotAvailableError",
    "S2SError",
    "Seq2SeqModel",
    "SessionConfig",
    "UnknownCharacterError",
    "Vocabulary",
    "VocabularyMismatchError",
    "default_model_path",
]
