"""tasks.drift.read_cohort: ids as text, blank lines skipped, one-sentence errors."""

from pathlib import Path

import pytest

from raie_core.data import EmptyInputError
from raie_core.errors import RaieDataError
from tasks.drift import read_cohort


def test_read_cohort_strips_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "cohort.txt"
    path.write_text("196\n 7 \n\n1m_12\n196\n")
    assert read_cohort(path) == frozenset({"196", "7", "1m_12"})


def test_unreadable_or_empty_cohort_files_are_one_sentence_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(
        RaieDataError, match=rf"^cohort file {missing} cannot be read \(No such file"
    ):
        read_cohort(missing)
    with pytest.raises(
        RaieDataError, match=rf"^cohort file {tmp_path} cannot be read \(Is a directory"
    ):
        read_cohort(tmp_path)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(RaieDataError, match="cannot be read"):
        read_cohort(binary)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n")
    with pytest.raises(EmptyInputError, match="holds no user id"):
        read_cohort(blank)
