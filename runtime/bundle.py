"""``Bundle``: one exported bundle on onnxruntime, its ``config.json`` and the sessions of its ONNX files.

The decoding loops, parity checks, benchmarks and ``inspect`` all take a ``Bundle``; it is made by one
function, :meth:`Bundle.open`, from one :class:`SessionConfig`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

from . import config as names
from .architecture import Architecture
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
    beam: ort.InferenceSession | None = None

    def __post_init__(self) -> None:
        _check_roles(self)

    @classmethod
    def open(
        cls, path: str | Path | None = None, sessions: SessionConfig | None = None, *, fused: bool = True
    ) -> Bundle:
        """Load the bundle at ``path`` (default: the built-in dates model). ``fused=False`` leaves the fused graphs
        (``greedy.onnx``, ``beam.onnx``) unloaded: every decode then runs step by step."""
        directory = Path(path) if path is not None else default_model_path()
        config = BundleConfig.load(directory)
        session_config = sessions if sessions is not None else SessionConfig()
        encoder = create_session(directory / names.ENCODER_NAME, session_config)
        decoder = create_session(directory / names.DECODER_NAME, session_config)
        greedy = beam = None
        if fused and config.fused:
            greedy = create_session(directory / names.GREEDY_NAME, session_config)
        if fused and config.beam:
            beam = create_session(directory / names.BEAM_NAME, session_config)
        logger.info("loaded %s on %s (fused: %s)", directory, ", ".join(decoder.get_providers()), bool(greedy))
        return cls(directory, config, encoder, decoder, greedy, beam)

    def fused_graph(self, method: Literal["greedy", "beam"]) -> ort.InferenceSession:
        """The session of the fused graph for ``method`` (``greedy.onnx`` or ``beam.onnx``); a bundle without it
        (or opened with ``fused=False``) is a :class:`BundleFormatError` that says how to get it."""
        session, name = (self.greedy, names.GREEDY_NAME) if method == "greedy" else (self.beam, names.BEAM_NAME)
        if session is None:
            raise BundleFormatError(
                f"{self.path} has no {name} loaded; re-export with 's2s-onnx convert --fused', which writes "
                f"{names.GREEDY_NAME} and {names.BEAM_NAME} (or decode with strategy 'auto' or 'steps')"
            )
        return session

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
        if self.beam is not None:
            found[names.BEAM_NAME] = self.beam
        return found

    @property
    def architecture(self) -> Architecture:
        return self.config.model

    def encoder_input(self, texts: Sequence[str | Sequence[str]]) -> np.ndarray:
        """The encoder's input for clean texts or token lists: one-hot, or token ids for an ``Embedding`` model."""
        return self.vocabulary.encode_sources(texts, ids=self.architecture.input == "ids")


Widths = dict[str, int | None]  # tensor name -> expected last dimension (None: not checked)


def roles(config: BundleConfig) -> dict[str, tuple[Widths, Widths]]:
    """Each ONNX file's inputs and outputs and their widths, as ``config.json`` describes the model."""
    model, vocab = config.model, config.vocabulary
    encoder_width = vocab.num_encoder_tokens if model.input == "one_hot" else None
    decoder_width = vocab.num_decoder_tokens if model.target_input == "one_hot" else None
    states: Widths = {s.name: s.width for s in model.states}
    states_out: Widths = {f"{s.name}{names.OUT_SUFFIX}": s.width for s in model.states}
    memory: Widths = dict.fromkeys(model.memory)  # an attention decoder's encoder outputs (and mask)
    return {
        names.ENCODER_NAME: ({names.ENCODER_INPUT: encoder_width}, {**memory, **states}),
        names.DECODER_NAME: (
            {names.DECODER_INPUT: decoder_width, **memory, **states},
            {names.PROBS: vocab.num_decoder_tokens, **states_out},
        ),
        names.GREEDY_NAME: (
            {names.ENCODER_INPUT: encoder_width, names.FUSED_MAX_LENGTH: None, names.FUSED_STOP_AT_END: None},
            {names.FUSED_TOKENS: None, names.FUSED_PROBS: None, names.FUSED_LENGTHS: None},
        ),
        names.BEAM_NAME: (
            {
                names.ENCODER_INPUT: encoder_width,
                names.FUSED_MAX_LENGTH: None,
                names.BEAM_SIZE: None,
                names.LENGTH_PENALTY: None,
            },
            dict.fromkeys(names.BEAM_OUTPUTS),
        ),
    }


TOKEN_INPUTS = {"one_hot": ("tensor(float)", 3), "ids": ("tensor(int64)", 2)}  # element type, rank


def _check_token_inputs(bundle: Bundle, name: str, session: ort.InferenceSession) -> None:
    """The token inputs are one-hot floats or int64 ids, as ``config.json`` says."""
    model = bundle.architecture
    kinds = {names.ENCODER_INPUT: model.input, names.DECODER_INPUT: model.target_input}
    for arg in session.get_inputs():
        if arg.name in kinds:
            element, rank = TOKEN_INPUTS[kinds[arg.name]]
            if arg.type != element or len(arg.shape) != rank:
                raise BundleFormatError(
                    f"{bundle.path / 'config.json'} says {arg.name} takes {kinds[arg.name]} but {name} takes a "
                    f"{len(arg.shape)}-d {arg.type}; the bundle's files do not belong together - re-export it"
                )


def _check_roles(bundle: Bundle) -> None:
    """Each ONNX file has the inputs and outputs of its role, of the widths that ``config.json`` states."""
    expected = roles(bundle.config)
    for name, session in bundle.sessions().items():
        _check_token_inputs(bundle, name, session)
        wanted_inputs, wanted_outputs = expected[name]
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
            for arg, want in wanted.items():
                width = found[arg][-1] if found[arg] else None
                if want is not None and isinstance(width, int) and width != want:
                    raise BundleFormatError(
                        f"{bundle.path / 'config.json'} gives {arg} a width of {want} but {name} {arg} has width "
                        f"{width}; the bundle's files do not belong together - re-export it"
                    )
