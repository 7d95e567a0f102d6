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
    assert dates.ordinal(3) == "3rd" and dates.ordinal(11) == "11th" and dates.ordinal(22) == "22nd"
    (train_s, _), (val_s, _) = dates.split(sources, targets, 0.25)
    assert len(train_s) == 150 and len(val_s) == 50 and train_s + val_s == sources


@pytest.mark.shared_data
def test_shared_fra_eng_reads_when_present() -> None:
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "fra-eng.txt"
    if not path.is_file():
        pytest.skip("../shared/data/fra-eng.txt is not on this machine")
    sources, targets = read_pairs(path, 10000)
    assert len(sources) == len(targets) == 10000 and sources[0] == "Go."


def test_dates_cover_the_spellings_people_type() -> None:
    import re

    from s2s_onnx.models.realistic_dates import realistic_pairs

    sources, targets = dates.make_pairs(20000)
    patterns = {
        "ISO": r"\d{4}-\d{2}-\d{2}$",
        "lowercase weekday and month": r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday), [a-z]+ ",
        "capitalised month, zero-padded day": r"[A-Z][a-z]+ 0\d, \d{4}$",
        "abbreviated lowercase month": r"[a-z]{3} \d{1,2} \d{4}$",
        "two-digit year": r"\d{2}/\d{2}/\d{2}$",
        "capitals": r"[A-Z]{3,} ",
    }
    for name, pattern in patterns.items():
        assert any(re.match(pattern, s) for s in sources), name
    for source, target in zip(sources, targets, strict=True):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", source):
            assert source == target
        elif re.fullmatch(r"\d\d\.\d\d\.\d{4}", source):
            assert source.split(".")[::-1] == target.split("-")
    real_sources, real_targets = realistic_pairs(2000)
    assert realistic_pairs(2000) == (real_sources, real_targets)
    assert set("".join(real_sources)) <= set("".join(sources))
    assert len(set(real_sources) & set(sources)) < 100  # a fresh set, not the training data
