"""Exceptions raised by s2s-onnx.

Every error subclasses :class:`S2SError` *and* the builtin it resembles, so callers can catch either.
Messages say what is wrong and how to fix it.
"""

from __future__ import annotations


class S2SError(Exception):
    """Base class of every s2s-onnx error."""


class ModelFileNotFoundError(S2SError, FileNotFoundError):
    """A model file, bundle or data file does not exist."""


class BundleFormatError(S2SError, ValueError):
    """A bundle's ``config.json`` or ONNX files are missing, malformed or of an unknown version."""


class ModelFormatError(S2SError, ValueError):
    """A file is not a Keras model this tool can read."""


class BundleReadError(S2SError, OSError):
    """A bundle file exists but cannot be read (permissions, a directory in its place, an I/O error)."""


class BundleExistsError(S2SError, FileExistsError):
    """The output bundle directory exists and ``force`` was not given."""


class OutputError(S2SError, OSError):
    """The output location cannot be written."""


class DataFormatError(S2SError, ValueError):
    """A pairs file or vocabulary file is malformed."""


class UnknownCharacterError(S2SError, ValueError):
    """Input text holds characters the model's vocabulary does not know."""

    def __init__(self, message: str, characters: tuple[str, ...]) -> None:
        super().__init__(message)
        self.characters = characters


class InputTooLongError(S2SError, ValueError):
    """Input text is longer than the encoder's maximum length."""


class EmptyInputError(S2SError, ValueError):
    """Input text is empty or blank."""


class InputEncodingError(S2SError, UnicodeError):
    """Input bytes are not valid UTF-8."""


class InvalidOptionError(S2SError, ValueError):
    """A decode or session option has a value outside its range or choices."""


class OptionTypeError(S2SError, TypeError):
    """A decode option or an input has the wrong type."""


class DecodeLimitError(S2SError, ValueError):
    """A decode request would need more memory than the stated bound."""


class DecodeCancelledError(S2SError, RuntimeError):
    """A decode was cancelled (``Cancellation.cancel()``, Ctrl-C in the CLI) before it finished."""


class VocabularyMismatchError(S2SError, ValueError):
    """The vocabulary's sizes do not match the model's input or output widths."""


class NotEncoderDecoderError(S2SError, ValueError):
    """A Keras model is not an LSTM encoder-decoder of the supported shape."""


class ProviderNotAvailableError(S2SError, RuntimeError):
    """A requested onnxruntime execution provider is not available."""


class ConversionError(S2SError, RuntimeError):
    """tf2onnx produced a graph that is not what the runtime expects."""


class ParityError(S2SError, RuntimeError):
    """ONNX and Keras outputs disagree beyond the tolerance."""


class QueueFullError(S2SError, RuntimeError):
    """A dynamic batcher's queue is full (back-pressure): retry later."""


class BatcherClosedError(S2SError, RuntimeError):
    """A dynamic batcher is shut down and takes or runs no more requests."""


class RequestTimeoutError(S2SError, TimeoutError):
    """A request was not decoded before its deadline."""


class MissingExtraError(S2SError, ImportError):
    """An optional dependency group is not installed."""


def install_hint(extra: str, missing: str) -> MissingExtraError:
    """Error for a missing optional dependency, naming the extra that brings it."""
    return MissingExtraError(
        f"{missing} is not installed; this command needs the '{extra}' extra: pip install 's2s-onnx[{extra}]'"
    )
