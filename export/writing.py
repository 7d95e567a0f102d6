"""Writing a bundle all at once: a temporary directory that replaces the target only when complete."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from s2s_onnx.runtime.errors import BundleExistsError, OutputError


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


def check_target(target: Path, force: bool) -> None:
    """Refuse an existing output unless ``force``; refuse a file where a directory should go."""
    if target.exists() and not force:
        raise BundleExistsError(f"output {str(target)!r} already exists; pass --force to replace it")
    if target.exists() and not target.is_dir():
        raise OutputError(f"output {str(target)!r} exists and is not a directory")


@contextlib.contextmanager
def atomic_directory(target: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``target`` only if the block succeeds."""
    check_target(target, force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        umask = os.umask(0)
        os.umask(umask)
        work.chmod(0o777 & ~umask)  # mkdtemp makes it private; a bundle is an ordinary directory
    except OSError as exc:
        raise OutputError(f"cannot write to {str(target.parent)!r}: {exc.strerror or exc}") from exc
    try:
        yield work
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            work.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
