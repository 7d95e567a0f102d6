"""onnxruntime-web's own files for a page: taken from the npm package at a pinned version, checked against the
registry's integrity hash, kept in a cache, or found in a folder the user names (``--ort-dir``). Nothing is
fetched when a page runs: the files are copied next to it."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import S2SError

logger = logging.getLogger(__name__)

ORT_WEB_VERSION = "1.30.0"  # onnxruntime-web (and onnxruntime-node) that s2s.mjs is tested with
ORT_WEB_INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")  # the wasm backend
DEFAULT_REGISTRY = "https://registry.npmjs.org/"
MAX_TARBALL_BYTES = 128 * 2**20
CHUNK = 1 << 20
Progress = Callable[[int, int], None]  # bytes so far, total bytes (0 when the server does not say)


class WebAssetsError(S2SError, OSError):
    """onnxruntime-web's files cannot be found or fetched."""


def how_to_get() -> str:
    return (
        f"install them with 'npm install onnxruntime-web@{ORT_WEB_VERSION}' and pass --ort-dir "
        "node_modules/onnxruntime-web/dist, or run 's2s-onnx web' where the npm registry can be reached (it keeps "
        f"them in {cache_dir()})"
    )


def cache_dir() -> Path:
    """Where fetched files are kept: ``$S2S_ONNX_CACHE``, else ``$XDG_CACHE_HOME/s2s-onnx``, else ``~/.cache``."""
    root = os.environ.get("S2S_ONNX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "s2s-onnx"
    )
    return Path(root) / f"onnxruntime-web-{ORT_WEB_VERSION}"


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ORT_FILES)


def find_ort_files(ort_dir: Path | None = None) -> Path | None:
    """A folder holding :data:`ORT_FILES`: ``ort_dir`` (the package's ``dist``, the package, or a folder with its
    ``node_modules``), else the cache; ``None`` if there is none. A named folder without them is an error."""
    if ort_dir is None:
        return cache_dir() if _complete(cache_dir()) else None
    for folder in (ort_dir, ort_dir / "dist", ort_dir / "node_modules" / "onnxruntime-web" / "dist"):
        if _complete(folder):
            _warn_on_other_version(folder)
            return folder
    raise WebAssetsError(
        f"--ort-dir {str(ort_dir)!r} holds no onnxruntime-web files ({', '.join(ORT_FILES)}); " + how_to_get()
    )


def _warn_on_other_version(folder: Path) -> None:
    if f'"{ORT_WEB_VERSION}"' not in (folder / ORT_FILES[0]).read_text("utf-8", "replace"):
        logger.warning("%s is not onnxruntime-web %s, which s2s.mjs was tested with", folder, ORT_WEB_VERSION)


def ort_files(ort_dir: Path | None = None, progress: Progress | None = None) -> Path:
    """The folder of onnxruntime-web's files: found (:func:`find_ort_files`), else fetched into the cache."""
    found = find_ort_files(ort_dir)
    return found if found is not None else fetch_ort_files(progress)


def fetch_ort_files(progress: Progress | None = None) -> Path:
    """Download the pinned onnxruntime-web package from the npm registry (``$npm_config_registry`` if set), check
    its integrity hash, and keep :data:`ORT_FILES` in the cache."""
    lower = os.environ.get("npm_config_registry")  # noqa: SIM112 (npm's own spelling)
    registry = os.environ.get("NPM_CONFIG_REGISTRY") or lower or DEFAULT_REGISTRY
    url = f"{registry.rstrip('/')}/onnxruntime-web/-/onnxruntime-web-{ORT_WEB_VERSION}.tgz"
    data = _download(url, progress)
    algorithm, _, expected = ORT_WEB_INTEGRITY.partition("-")
    if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != expected:
        what = f"onnxruntime-web {ORT_WEB_VERSION}"
        raise WebAssetsError(f"{url} does not match {what}'s integrity hash ({ORT_WEB_INTEGRITY}); " + how_to_get())
    target = cache_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".ort-", dir=target.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for name in ORT_FILES:
                member = archive.extractfile(f"package/dist/{name}")
                if member is None:
                    raise WebAssetsError(f"{url} lacks dist/{name}; " + how_to_get())
                (work / name).write_bytes(member.read())
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
    except (OSError, tarfile.TarError, KeyError) as exc:
        problem = f"cannot unpack onnxruntime-web from {url} into {target} ({exc}); "
        raise WebAssetsError(problem + how_to_get()) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _download(url: str, progress: Progress | None) -> bytes:
    buffer = io.BytesIO()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # a pinned package of the npm registry
            total = int(response.headers.get("Content-Length") or 0)
            while (chunk := response.read(CHUNK)) and buffer.tell() <= MAX_TARBALL_BYTES:
                buffer.write(chunk)
                if progress is not None:
                    progress(buffer.tell(), total)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebAssetsError(f"cannot fetch onnxruntime-web from {url} ({reason}); " + how_to_get()) from exc
    if buffer.tell() > MAX_TARBALL_BYTES:
        raise WebAssetsError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes; " + how_to_get())
    return buffer.getvalue()
