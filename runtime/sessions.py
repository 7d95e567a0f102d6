"""onnxruntime session creation that mirrors onnxruntime's own arguments."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import onnxruntime as ort

from .errors import BundleFormatError, ModelFileNotFoundError, ProviderNotAvailableError

logger = logging.getLogger(__name__)

Device = Literal["cpu", "cuda", "auto"]
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def resolve_providers(device: str = "cpu", providers: Sequence[str] | None = None) -> list[str]:
    """Turn ``device`` or an explicit provider list into a checked provider list."""
    available = ort.get_available_providers()
    if providers is not None:
        requested = list(providers)
    elif device == "cpu":
        requested = [CPU]
    elif device == "cuda":
        requested = [CUDA, CPU]
    elif device == "auto":
        requested = [CUDA, CPU] if CUDA in available else [CPU]
    else:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', not {device!r}")
    missing = [p for p in requested if p not in available]
    if missing:
        hint = " (install the 'gpu' extra: pip install 's2s-onnx[gpu]')" if CUDA in missing else ""
        raise ProviderNotAvailableError(
            f"execution provider {', '.join(missing)} is not available; available: {', '.join(available)}{hint}"
        )
    return requested


def make_session_options(threads: int | None, sess_options: ort.SessionOptions | None) -> ort.SessionOptions:
    options = sess_options if sess_options is not None else ort.SessionOptions()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options


def create_session(
    path: Path,
    providers: list[str],
    provider_options: Sequence[dict[str, Any]] | None,
    sess_options: ort.SessionOptions,
) -> ort.InferenceSession:
    if not path.is_file():
        raise ModelFileNotFoundError(f"{path} is missing from the bundle; re-run 's2s-onnx convert'")
    try:
        session = ort.InferenceSession(
            str(path),
            sess_options=sess_options,
            providers=providers,
            provider_options=list(provider_options) if provider_options is not None else None,
        )
    except Exception as exc:  # onnxruntime raises InvalidProtobuf, Fail, InvalidGraph: plain Exceptions
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleFormatError(f"{path} is not a valid ONNX model ({first_line}); re-run 's2s-onnx convert'") from exc
    if CUDA in providers and CUDA not in session.get_providers():
        logger.warning(
            "%s: CUDAExecutionProvider was requested but the session fell back to %s; check the CUDA and "
            "cuDNN libraries that onnxruntime-gpu needs",
            path.name,
            ", ".join(session.get_providers()),
        )
    return session
