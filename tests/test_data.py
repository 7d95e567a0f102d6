from pathlib import Path

import pytest

from s2s_onnx.models import dates
from s2s_onnx.models.data import read_pairs
from s2s_onnx.runtime import DataFormatError, ModelFileNotFoundError


def test_reads_first_n_pairs_ignoring_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("Go.\tVa !\tCC-BY\nHi.\tSalut.\nRun!\tCours !\n", encoding="utf-8")
    assert read_pairs(path, 2) == (["Go.", "Hi."], ["Va !", "Salut."])
    assert read_pairs(path) == (["Go.", "Hi.", "Run!"], ["Va !", "Salut.", "Cours !"])


def test_malformed_line_names_its_number(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("Go.\tVa !\nno tab here\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 2"):
        read_pairs(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileNotFoundError):
        read_pairs(tmp_path / "nope.txt")


def test_dates_task_is_deterministic_and_correct() -> None:
    a = dates.make_pairs(200, seed=3)
    assert a == dates.make_pairs(200, seed=3)
    assert a != dates.make_pairs(200, seed=4)
    sources, targets = a
    assert all(len(t) == 10 and t[4] == "-" and t[7] == "-" for t in targets)
    assert dates.SPELLINGS[5](__import__("datetime").date(2021, 3, 3)) == "March 3rd, 2021"
    (train_s, _), (val_s, _) = dates.split(sources, targets, 0.25)
    assert len(train_s) == 150 and len(val_s) == 50 and train_s + val_s == sources


def test_shared_fra_eng_reads_when_present() -> None:
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "fra-eng.txt"
    if not path.is_file():
        pytest.skip("../shared/data/fra-eng.txt is not on this machine")
    sources, targets = read_pairs(path, 10000)
    assert len(sources) == len(targets) == 10000 and sources[0] == "Go."
