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
        _check_roles(self)

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


# Each role's inputs and outputs: name -> expected last dimension ("latent", a vocabulary width, or None).
ROLES: dict[str, tuple[dict[str, str | None], dict[str, str | None]]] = {
    names.ENCODER_NAME: (
        {names.ENCODER_INPUT: "input characters"},
        {names.STATE_H: "latent", names.STATE_C: "latent"},
    ),
    names.DECODER_NAME: (
        {names.DECODER_INPUT: "target characters", names.STATE_H: "latent", names.STATE_C: "latent"},
        {names.PROBS: "target characters", names.STATE_H_OUT: "latent", names.STATE_C_OUT: "latent"},
    ),
    names.GREEDY_NAME: (
        {names.ENCODER_INPUT: "input characters", names.GREEDY_MAX_LENGTH: None, names.GREEDY_STOP_AT_END: None},
        {names.GREEDY_TOKENS: None, names.GREEDY_PROBS: None, names.GREEDY_LENGTHS: None},
    ),
}


def _check_roles(bundle: Bundle) -> None:
    """Each ONNX file has the inputs and outputs of its role, of the widths that ``config.json`` states."""
    vocab = bundle.vocabulary
    widths = {
        "latent": bundle.latent_dim,
        "input characters": vocab.num_encoder_tokens,
        "target characters": vocab.num_decoder_tokens,
    }
    for name, session in bundle.sessions().items():
        wanted_inputs, wanted_outputs = ROLES[name]
        for kind, args, wanted in (
            ("inputs", session.get_inputs(), wanted_inputs),
            ("outputs", session.get_outputs(), wanted_outputs),
        ):
            found = {a.name: a.shape for a in args}
            if set(found) != set(wanted):
                raise BundleFormatError(
                    f"{bundle.path / name} has {kind} {sorted(found)} but a {name} needs {sorted(wanted)}; "
                    "the bundle's files are mixed up - re-export it"
                )
            for arg, what in wanted.items():
                width = found[arg][-1] if found[arg] else None
                if what is not None and isinstance(width, int) and width != widths[what]:
                    raise BundleFormatError(
                        f"{bundle.path / 'config.json'} has {widths[what]} {what} but {name} {arg} has width {width}; "
                        "the bundle's files do not belong together - re-export it"
                    )
