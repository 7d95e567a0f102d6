"""The code's shape, checked: imports point one way (runtime <- models <- export <- benchmarks), each folder
imports only what its role allows (TensorFlow in export/tf and models, ``onnx`` in the runtime only lazily,
Starlette and uvicorn only in runtime/serving), the subcommand modules import nothing heavy at module level,
and modules and functions stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("runtime", "models", "export", "benchmarks")
HEAVY = {"tensorflow", "keras", "tf_keras", "tf2onnx", "h5py", "matplotlib", "tqdm"}


def modules(layer: str) -> list[Path]:
    return sorted(p for p in (ROOT / layer).rglob("*.py") if ".venv" not in p.parts)


def imported(path: Path, layer: str) -> list[tuple[str, int, bool]]:
    """(absolute module name, line, at module level) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:  # relative: resolved against the file's own package
                package = ["s2s_onnx", *path.relative_to(ROOT).parent.parts]
                base = package[: len(package) - (node.level - 1)]
                name = ".".join([*base, name] if name else base)
            found.append((name, node.lineno, id(node) in top_level))
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "s2s_onnx" and parts[1] in LAYERS else None


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_one_way(layer: str) -> None:
    rank = LAYERS.index(layer)
    reverse = []
    for path in modules(layer):
        for module, line, _ in imported(path, layer):
            target = layer_of(module)
            if target is not None and LAYERS.index(target) > rank:
                reverse.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not reverse, "reverse layer edges:\n" + "\n".join(reverse)


def test_the_checker_sees_a_reverse_edge(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from s2s_onnx.export.tf.convert import convert\n")
    assert layer_of(imported(bad, "runtime")[0][0]) == "export"


def test_runtime_imports_no_heavy_module_anywhere() -> None:
    heavy = [
        f"{path.relative_to(ROOT)}:{line} {module}"
        for path in modules("runtime")
        for module, line, _ in imported(path, "runtime")
        if module.split(".")[0] in HEAVY
    ]
    assert not heavy


COMMAND_FILES = {
    "runtime": "runtime/cli/commands.py",
    "models": "models/commands.py",
    "export": "export/commands.py",
    "benchmarks": "benchmarks/commands.py",
}


@pytest.mark.parametrize("layer", LAYERS)
def test_command_modules_import_nothing_heavy_at_module_level(layer: str) -> None:
    path = ROOT / COMMAND_FILES[layer]
    heavy = [m for m, _, top in imported(path, layer) if top and m.split(".")[0] in HEAVY]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert {"register", "run"} <= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert not heavy


@pytest.mark.parametrize("layer", LAYERS)
def test_modules_and_functions_are_small(layer: str) -> None:
    too_big = []
    for path in modules(layer):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 400:
            too_big.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        if layer in ("runtime", "export"):
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > 60:
                        too_big.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}() has {length} lines")
    assert not too_big, "\n".join(too_big)


TENSORFLOW = {"tensorflow", "keras", "tf_keras", "tf2onnx", "h5py"}
SERVING = {"starlette", "uvicorn", "httptools", "uvloop"}
# the only places that may import TensorFlow/Keras at all: the training and loading code, the TensorFlow side
# of export, and the benchmark rows that time Keras itself
TENSORFLOW_HOMES = ("models/", "export/tf/", "benchmarks/")
# modules in models/ and benchmarks/ that the ONNX-only and TensorFlow-free code imports: never TensorFlow
TENSORFLOW_FREE = (
    "models/spec.py",
    "models/data.py",
    "models/dates.py",
    "models/realistic_dates.py",
    "models/quality.py",
)


def all_imports() -> list[tuple[str, str, int, bool]]:
    return [
        (str(path.relative_to(ROOT)), module, line, top)
        for layer in LAYERS
        for path in modules(layer)
        for module, line, top in imported(path, layer)
    ]


def test_tensorflow_only_where_it_belongs() -> None:
    wrong = [
        f"{path}:{line} {module}"
        for path, module, line, _ in all_imports()
        if module.split(".")[0] in TENSORFLOW and (not path.startswith(TENSORFLOW_HOMES) or path in TENSORFLOW_FREE)
    ]
    assert not wrong, "TensorFlow outside models/, export/tf/ and benchmarks/:\n" + "\n".join(wrong)


def test_export_graphs_never_import_the_tensorflow_side() -> None:
    wrong = [
        f"{path}:{line} {module}"
        for path, module, line, _ in all_imports()
        if path.startswith("export/graphs/")
        and (module.startswith("s2s_onnx.export.tf") or module.split(".")[0] in TENSORFLOW)
    ]
    assert not wrong


def test_runtime_imports_onnx_only_lazily() -> None:
    eager = [
        f"{path}:{line}"
        for path, module, line, top in all_imports()
        if path.startswith("runtime/") and module.split(".")[0] == "onnx" and top
    ]
    assert not eager


def test_starlette_and_uvicorn_only_in_serving() -> None:
    wrong = [
        f"{path}:{line} {module}"
        for path, module, line, _ in all_imports()
        if module.split(".")[0] in SERVING
        and not path.startswith(("runtime/serving/", "runtime/ray_support/serve_app.py", "benchmarks/"))
    ]
    assert not wrong
