"""Every malformed-input kind raises its named error naming file, column and row; quarantine keeps going."""

from pathlib import Path

import polars as pl
import pytest

from raie_core.data import (
    DelimiterError,
    DuplicateRowError,
    EmptyInputError,
    EncodingError,
    InvalidValueError,
    MalformedLineError,
    MappingError,
    MissingColumnError,
    MissingFileError,
    MissingValueError,
    ValidationMode,
    load_dataset,
)
from raie_core.data.yelp import YelpRules, load_yelp
from raie_core.errors import RaieConfigError, RaieDataError

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
GOOD = ["1\t10\t4\t100\n", "1\t11\t5\t200\n", "2\t10\t3\t300\n", "2\t12\t1\t400\n"]


def _ml100k(tmp_path: Path, body: str | bytes) -> Path:
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    (tmp_path / "ml-100k.inter").write_bytes(data)
    return tmp_path


def _u_data(tmp_path: Path, body: str | bytes) -> Path:
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    (tmp_path / "u.data").write_bytes(data)
    return tmp_path


def _assert_names(error: pytest.ExceptionInfo, file: Path, column: str, row: str) -> None:
    message = str(error.value)
    assert str(file) in message
    assert repr(column) in message, message
    assert row in message, message
    assert "\n" not in message


def test_missing_column(tmp_path: Path) -> None:
    root = _ml100k(tmp_path, "user_id:token\titem_id:token\trating:float\n1\t10\t4\n")
    with pytest.raises(MissingColumnError) as error:
        load_dataset("ml-100k", root)
    _assert_names(error, root / "ml-100k.inter", "timestamp", "row 1")


def test_wrong_delimiter(tmp_path: Path) -> None:
    root = _u_data(tmp_path, "1,10,4,100\n1,11,5,200\n")
    with pytest.raises(DelimiterError) as error:
        load_dataset("movielens", root)
    _assert_names(error, root / "u.data", "line", "row 1")
    assert "','" in str(error.value)
    assert isinstance(error.value, MalformedLineError)


def test_wrong_delimiter_in_header(tmp_path: Path) -> None:
    root = _ml100k(tmp_path, "user_id:token,item_id:token,rating:float,timestamp:float\n1,2,3,4\n")
    with pytest.raises(DelimiterError) as error:
        load_dataset("ml-100k", root)
    _assert_names(error, root / "ml-100k.inter", "line", "row 1")


def test_non_numeric_timestamp(tmp_path: Path) -> None:
    root = _u_data(tmp_path, "".join(GOOD[:2]) + "2\t10\t3\tabc\n" + GOOD[3])
    with pytest.raises(InvalidValueError) as error:
        load_dataset("movielens", root)
    _assert_names(error, root / "u.data", "timestamp", "row 3")
    assert "'abc'" in str(error.value)


def test_negative_timestamp(tmp_path: Path) -> None:
    root = _ml100k(tmp_path, HEADER + "".join(GOOD) + "3\t10\t4\t-5\n")
    with pytest.raises(InvalidValueError) as error:
        load_dataset("ml-100k", root)
    _assert_names(error, root / "ml-100k.inter", "timestamp", "row 6")
    assert ">= 0" in str(error.value)


def test_empty_file(tmp_path: Path) -> None:
    root = _ml100k(tmp_path, "")
    with pytest.raises(EmptyInputError) as error:
        load_dataset("ml-100k", root)
    assert str(root / "ml-100k.inter") in str(error.value)
    assert "empty" in str(error.value)


def test_header_only_file(tmp_path: Path) -> None:
    root = _ml100k(tmp_path, HEADER)
    with pytest.raises(EmptyInputError) as error:
        load_dataset("ml-100k", root)
    assert str(root / "ml-100k.inter") in str(error.value)
    assert "row 1" in str(error.value)


def test_duplicate_rows(tmp_path: Path) -> None:
    root = _ml100k(tmp_path, HEADER + "".join(GOOD) + GOOD[1] + GOOD[2])
    with pytest.raises(DuplicateRowError) as error:
        load_dataset("ml-100k", root)
    _assert_names(error, root / "ml-100k.inter", "user_id, item_id, timestamp", "rows 6, 7")


def test_invalid_utf8(tmp_path: Path) -> None:
    body = (HEADER + "".join(GOOD[:2])).encode() + b"3\t1\xff\xfe0\t4\t500\n"
    root = _ml100k(tmp_path, body)
    with pytest.raises(EncodingError) as error:
        load_dataset("ml-100k", root)
    _assert_names(error, root / "ml-100k.inter", "line", "row 4")
    assert "utf-8" in str(error.value)


def test_rating_out_of_range(tmp_path: Path) -> None:
    root = _u_data(tmp_path, "".join(GOOD[:3]) + "2\t12\t7\t400\n")
    with pytest.raises(InvalidValueError) as error:
        load_dataset("movielens", root)
    _assert_names(error, root / "u.data", "rating", "row 4")
    assert "[1, 5]" in str(error.value)


def test_non_numeric_rating(tmp_path: Path) -> None:
    root = _u_data(tmp_path, "1\t10\tgood\t100\n" + "".join(GOOD[1:]))
    with pytest.raises(InvalidValueError) as error:
        load_dataset("movielens", root)
    _assert_names(error, root / "u.data", "rating", "row 1")


def test_missing_user_id(tmp_path: Path) -> None:
    root = _ml100k(tmp_path, HEADER + GOOD[0] + "\t11\t5\t200\n" + "".join(GOOD[2:]))
    with pytest.raises(MissingValueError) as error:
        load_dataset("ml-100k", root)
    _assert_names(error, root / "ml-100k.inter", "user_id", "row 3")


def test_truncated_last_line(tmp_path: Path) -> None:
    root = _u_data(tmp_path, "".join(GOOD) + "3\t10\t4")
    with pytest.raises(MalformedLineError) as error:
        load_dataset("movielens", root)
    _assert_names(error, root / "u.data", "user_id, item_id, rating, timestamp", "row 5")
    assert "4 fields" in str(error.value)


def test_broken_yelp_json_line(tmp_path: Path) -> None:
    good = '{"user_id": "u1", "business_id": "b1", "stars": 5, "date": "2020-01-01 10:00:00"}\n'
    (tmp_path / "review.json").write_text(good + '{"user_id": "u2", "business_id"\n' + good)
    with pytest.raises(MalformedLineError) as error:
        load_dataset("yelp", tmp_path)
    _assert_names(error, tmp_path / "review.json", "line", "row 2")
    assert "JSON" in str(error.value)


def test_unknown_mapping_key(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("uid,sku,ts\na,x,100\n")
    with pytest.raises(MappingError) as error:
        load_dataset("table", table, mapping={"usr": "uid", "item": "sku", "timestamp": "ts"})
    _assert_names(error, table, "usr", "row 1")
    assert isinstance(error.value, RaieConfigError)


def test_mapping_names_absent_column(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("uid,sku,ts\na,x,100\n")
    with pytest.raises(MappingError) as error:
        load_dataset("table", table, mapping={"user": "uid", "item": "sku", "timestamp": "time"})
    _assert_names(error, table, "time", "row 1")


def test_missing_file_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="u.data"):
        load_dataset("movielens", tmp_path)
    with pytest.raises(RaieConfigError, match="mode='lenient'"):
        load_dataset("ml-100k", mode="lenient")
    with pytest.raises(RaieConfigError, match="name='netflix'"):
        load_dataset("netflix", tmp_path)
    with pytest.raises(RaieConfigError, match="needs a path"):
        load_dataset("movielens")


def test_strict_message_lists_first_rows_and_total(tmp_path: Path) -> None:
    bad = [f"9\t{i}\t4\tx\n" for i in range(7)]
    root = _u_data(tmp_path, "".join(GOOD) + "".join(bad))
    with pytest.raises(InvalidValueError, match=r"rows 5, 6, 7, 8, 9 \(7 in all\)"):
        load_dataset("movielens", root)


def test_every_data_error_is_a_raie_data_error() -> None:
    kinds = [DelimiterError, DuplicateRowError, EmptyInputError, EncodingError, InvalidValueError,
             MalformedLineError, MappingError, MissingColumnError, MissingFileError,
             MissingValueError]  # fmt: skip
    assert all(issubclass(kind, RaieDataError) for kind in kinds)


def test_quarantine_counts_bad_rows_and_keeps_good_ones(tmp_path: Path) -> None:
    body = (
        HEADER.encode()
        + "".join(GOOD).encode()  # rows 2-5 good
        + b"3\t10\t4\tabc\n"  # row 6: timestamp
        + b"\t10\t4\t600\n"  # row 7: user_id
        + b"3\t10\t9\t700\n"  # row 8: rating
        + GOOD[0].encode()  # row 9: duplicate of row 2
        + b"3\t1\xff0\t4\t800\n"  # row 10: encoding
        + b"3\t11\t4\n"  # row 11: truncated
        + b"3\t12\t2\t900\n"  # row 12: good
    )
    dataset = load_dataset("ml-100k", _ml100k(tmp_path, body), mode=ValidationMode.QUARANTINE)
    q = dataset.quarantined.sort("row")
    assert q.get_column("row").to_list() == [6, 7, 8, 9, 10, 11]
    assert q.get_column("column").to_list() == [
        "timestamp", "user_id", "rating", "user_id, item_id, timestamp", "line",
        "user_id, item_id, rating, timestamp",
    ]  # fmt: skip
    assert (
        q.get_column("reason")[0] == "timestamp is integer seconds or an ISO datetime (value 'abc')"
    )
    assert set(q.get_column("file")) == {str(tmp_path / "ml-100k.inter")}
    frame = dataset.interactions
    assert frame.height == 5
    assert frame.get_column("timestamp").to_list() == [100, 200, 300, 400, 900]
    assert frame.schema == pl.Schema(
        {"user_id": pl.Int64, "item_id": pl.Int64, "timestamp": pl.Int64, "rating": pl.Float64}
    )


def test_quarantine_mode_accepts_string(tmp_path: Path) -> None:
    root = _u_data(tmp_path, "".join(GOOD) + "2\t12\t7\t400\n")
    dataset = load_dataset("movielens", root, mode="quarantine")
    assert dataset.quarantined.select("row", "column").rows() == [(5, "rating")]
    assert dataset.interactions.height == 4


def test_quarantine_of_every_row_is_still_an_empty_input(tmp_path: Path) -> None:
    root = _u_data(tmp_path, "1\t10\t4\tx\n")
    with pytest.raises(EmptyInputError, match="no valid data rows"):
        load_dataset("movielens", root, mode="quarantine")


def test_quarantine_of_a_broken_yelp_line(tmp_path: Path) -> None:
    good = '{{"user_id": "u{}", "business_id": "b1", "stars": 5, "date": "2020-01-0{} 10:00:00"}}\n'
    body = good.format(1, 1) + "{not json\n" + "[1, 2]\n" + good.format(2, 2)
    (tmp_path / "review.json").write_text(body)
    dataset = load_yelp(tmp_path, ValidationMode.QUARANTINE, YelpRules(core=1))
    assert dataset.quarantined.select("row", "column").rows() == [(2, "line"), (3, "line")]
    assert dataset.interactions.get_column("user_id").to_list() == ["u1", "u2"]
