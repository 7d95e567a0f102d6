"""``s2s-onnx web``: a bundle as a static folder that translates in the browser with onnxruntime-web, and whose
``s2s.mjs`` embeds the model in a Node application with onnxruntime-node. ``s2s-onnx serve`` serves the same files
at ``/web/`` (:func:`site_files` is the one list of them)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import config as names
from ..errors import BundleFormatError, OutputError
from ..model import Seq2SeqModel
from ..output_dirs import atomic_directory
from .ort_files import ORT_FILES, ORT_WEB_VERSION, Progress, find_ort_files, how_to_get, ort_files

STATIC = Path(__file__).resolve().parent / "static"
PAGE_FILES = ("index.html", "page.mjs", "s2s.mjs", "s2s-text.mjs")
MODEL_DIR, ORT_DIR = "model", "ort"
# what s2s.mjs reads of a bundle: the fused graphs, the config, and the Keras decodes it checks at load
MODEL_FILES = (names.CONFIG_NAME, names.GREEDY_NAME, names.BEAM_NAME, names.REFERENCE_NAME)
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
}


@dataclass(frozen=True)
class Site:
    """What ``s2s-onnx web`` wrote: the folder, its files and their size."""

    path: Path
    files: int
    bytes: int


def web_bundle(model: Seq2SeqModel) -> Path:
    """The bundle folder of ``model``, if a page can run it (it has the fused greedy graph); else the error."""
    if model.bundle.greedy is not None:  # the loaded bundle's own answer: its fused graph is open
        return model.path
    raise BundleFormatError(
        f"{model.path} has no fused graphs, which the page runs; convert the model with "
        "'s2s-onnx convert MODEL -o BUNDLE --fused'"
    )


def site_files(bundle: Path, ort_dir: Path) -> dict[str, Path]:
    """Every file of the site, by its path in it: the page, the bundle's files under ``model/`` (the fused graphs,
    ``config.json`` and ``reference.json``), onnxruntime-web's under ``ort/``."""
    files = {name: STATIC / name for name in PAGE_FILES}
    files.update({f"{MODEL_DIR}/{n}": bundle / n for n in MODEL_FILES if (bundle / n).is_file()})
    files.update({f"{ORT_DIR}/{n}": ort_dir / n for n in ORT_FILES})
    return files


def node_package() -> str:
    """The folder's ``package.json``: an ES module package that runs on onnxruntime-node."""
    package = {
        "name": "s2s-onnx-model",
        "private": True,
        "type": "module",
        "description": "A Keras encoder-decoder, translated by s2s.mjs on onnxruntime-web (index.html) or -node",
        "dependencies": {"onnxruntime-node": ORT_WEB_VERSION},
    }
    return json.dumps(package, indent=2) + "\n"


# onnxruntime-node bundles its CPU build; its install script would fetch the optional CUDA files from nuget.org
NPM_SETTINGS = "# s2s.mjs runs onnxruntime-node's CPU build, which its npm package holds: skip the CUDA download\n"
NPM_SETTINGS += "onnxruntime-node-install=skip\n"


def write_site(
    target: Path,
    model: Seq2SeqModel,
    ort_dir: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Site:
    """Write the static folder for ``model`` (loaded and verified) into ``target``, whole or not at all."""
    bundle = web_bundle(model)
    files = site_files(bundle, ort_files(ort_dir, progress))
    if target.resolve() == bundle.resolve() or bundle.resolve() in target.resolve().parents:
        raise OutputError(f"output {str(target)!r} is inside the bundle {str(bundle)!r}; write the page elsewhere")
    with atomic_directory(target, force) as work:
        for name, source in files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, work / name)
        (work / "package.json").write_text(node_package(), encoding="utf-8")
        (work / ".npmrc").write_text(NPM_SETTINGS, encoding="utf-8")
    size = sum(source.stat().st_size for source in files.values())
    return Site(target, len(files) + 2, size)


@dataclass(frozen=True)
class WebPage:
    """The page ``s2s-onnx serve`` offers at ``/web/``: its files, or why it cannot (said to whoever asks)."""

    files: dict[str, Path] | None
    problem: str = ""


def web_page(model: Seq2SeqModel, ort_dir: Path | None = None) -> WebPage:
    """The page for ``model``'s bundle, with onnxruntime-web's files from ``ort_dir`` or the cache (never fetched:
    a server does not download at start). A named ``ort_dir`` without them is an error."""
    folder = find_ort_files(ort_dir)
    try:
        bundle = web_bundle(model)
    except BundleFormatError as exc:
        return WebPage(None, str(exc))
    if folder is None:
        return WebPage(None, "the page needs onnxruntime-web's files, which this machine lacks; " + how_to_get())
    return WebPage(site_files(bundle, folder))
