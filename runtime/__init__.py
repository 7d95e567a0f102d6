"""s2s-onnx runtime: greedy decoding of an exported Keras encoder-decoder on onnxruntime.

Needs only numpy and onnxruntime; never imports TensorFlow, Keras or tf2onnx.
"""

from .batching import BatchingOptions, BatchStats, DynamicBatcher
from .bundle import Bundle, default_model_path
from .config import FORMAT_VERSION, BundleConfig
from .decoding import BatchTokens, Cancellation
from .errors import (
    BatcherClosedError,
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
    QueueFullError,
    RequestTimeoutError,
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
    "BatchStats",
    "BatchTokens",
    "BatcherClosedError",
    "BatchingOptions",
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
    "DynamicBatcher",
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
    "QueueFullError",
    "RequestTimeoutError",
    "S2SError",
    "Seq2SeqModel",
    "SessionConfig",
    "UnknownCharacterError",
    "Vocabulary",
    "VocabularyMismatchError",
    "default_model_path",
]
