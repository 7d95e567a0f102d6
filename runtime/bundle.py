"""``Bundle``: one exported bundle on onnxruntime, its ``config.json`` and the sessions of its ONNX files.

The decoding loops, parity checks, benchmarks and ``inspect`` all take a ``Bundle``; it is made by one
function, :meth:`Bundle.open`, from one :class:`SessionConfig`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from . import config as names
from .config import BundleConfig
from .errors import BundleFormatError
from .sessions import SessionConfig, create_session
from .vocab import Vocabulary

logger = logging.getLogger(__name__)


def default_model_path() -> Path:
    """The built-in dates bundle shipped inside the package."""
    return Path(__file__).resolve().parent / "assets" / "dates"


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: its directory, its config, and one session per ONNX file (``greedy`` if fused)."""

    path: Path
    config: BundleConfig
    encoder: ort.InferenceSession
    decoder: ort.InferenceSession
    greedy: ort.InferenceSession | None = None

    def __post_init__(self) -> None:
        _check_widths(self)

    @classmethod
    def open(
        cls, path: str | Path | None = None, sessions: SessionConfig | None = None, *, greedy: bool = True
    ) -> Bundle:
        """Load the bundle at ``path`` (default: the built-in dates model). ``greedy=False`` skips ``greedy.onnx``."""
        directory = Path(path) if path is not None else default_model_path()
        config = BundleConfig.load(directory)
        session_config = sessions if sessions is not None else SessionConfig()
        encoder = create_session(directory / names.ENCODER_NAME, session_config)
        decoder = create_session(directory / names.DECODER_NAME, session_config)
        fused = None
        if greedy and config.fused:
            fused = create_session(directory / names.GREEDY_NAME, session_config)
        logger.info("loaded %s on %s (fused: %s)", directory, ", ".join(decoder.get_providers()), bool(fused))
        return cls(directory, config, encoder, decoder, fused)

    @property
    def vocabulary(self) -> Vocabulary:
        return self.config.vocabulary

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def providers(self) -> list[str]:
        return list(self.decoder.get_providers())

    def sessions(self) -> dict[str, ort.InferenceSession]:
        """File name -> session, for every loaded ONNX file."""
        found = {names.ENCODER_NAME: self.encoder, names.DECODER_NAME: self.decoder}
        if self.greedy is not None:
            found[names.GREEDY_NAME] = self.greedy
        return found


def _check_widths(bundle: Bundle) -> None:
    """The vocabulary must match the graphs' one-hot widths."""
    vocab = bundle.vocabulary
    for session, name, expected, what in (
        (bundle.encoder, names.ENCODER_NAME, vocab.num_encoder_tokens, "input"),
        (bundle.decoder, names.DECODER_NAME, vocab.num_decoder_tokens, "target"),
    ):
        width = session.get_inputs()[0].shape[-1]
        if isinstance(width, int) and width != expected:
            raise BundleFormatError(
                f"config.json has {expected} {what} characters but {name} takes {width}; "
                "the bundle's files do not belong together - re-export it"
            )
