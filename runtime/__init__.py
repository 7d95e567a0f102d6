"""s2s-onnx runtime: decode an exported Keras encoder-decoder on onnxruntime (greedy, beam search, sampling;
batched, on CPU or CUDA).

Needs only numpy and onnxruntime; never imports TensorFlow, Keras or tf2onnx. The decoding core is this folder
(bundle, config, vocab, options, model, decoding, search, sessions); the command line is :mod:`.cli`, and
dynamic batching and the HTTP service are :mod:`.serving`.
"""

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
from .model import Seq2SeqModel
from .options import DecodeOptions
from .results import DecodeResult
from .serving.batching import BatchingOptions, BatchStats, DynamicBatcher
from .sessions import SessionConfig
from .vocab import CleanRules, TextRules, Vocabulary

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
    "CleanRules",
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
    "TextRules",
    "UnknownCharacterError",
    "Vocabulary",
    "VocabularyMismatchError",
    "default_model_path",
]
