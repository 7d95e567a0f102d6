"""Writing a bundle all at once (``atomic_directory``, the runtime's), and the source file's fingerprint."""

from __future__ import annotations

import hashlib
from pathlib import Path

from s2s_onnx.runtime.output_dirs import atomic_directory as atomic_directory  # the runtime's, re-exported
from s2s_onnx.runtime.output_dirs import check_target as check_target


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, or of a folder (a SavedModel): its files' relative paths and bytes, in sorted order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
