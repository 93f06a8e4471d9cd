"""`raie data describe|snapshots|validate` through flows.cli.main and the installed script."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import main

RAIE = Path(sys.executable).with_name("raie")


def test_describe_ml100k_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "describe", "--dataset", "ml-100k", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["ratings"], summary["users"], summary["items"]) == (100000, 943, 1682)
    assert (summary["first"], summary["last"]) == ("1997-09-20", "1998-04-22")


def test_describe_ml1m_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "describe", "--dataset", "ml-1m", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["ratings"], summary["users"], summary["items"]) == (1_000_209, 6_040, 3_706)
    assert (summary["first"], summary["last"]) == ("2000-04-25", "2003-02-28")


def test_validate_detects_an_ml1m_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = "user_id:token\titem_id:token\trating:float\ttimestamp:float\r\n"
    (tmp_path / "ml-1m.inter").write_bytes(f"{header}1m_5\tHeat (1995)\t4\t100\r\n".encode())
    item = "item_id:token\tmovie_title:token\trelease_year:float\tgenre:token\r\n"
    item += "Heat (1995)\tHeat\t1995\tAction Crime Thriller\r\n"
    (tmp_path / "ml-1m.item").write_bytes(item.encode())
    assert main(["data", "validate", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["format"], report["ratings"], report["catalog_items"]) == ("ml-1m", 1, 1)


def test_describe_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "describe"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ml-100k: 100000 ratings, 943 users, 1682 items")
    assert "1997-09-20 .. 1998-04-22" in out


def test_snapshots_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "snap"
    args = ["data", "snapshots", "--dataset", "ml-100k", "--every", "1mo", "--out", str(out)]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["snapshots"] == 8  # 1997-09 .. 1998-04
    assert (report["first"], report["last"]) == ("1997-09-01", "1998-04-01")
    assert (out / "period=1997-09-01" / "interactions.parquet").is_file()
    assert (out / "catalog.parquet").is_file()


def test_validate_ok_and_quarantine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "t.csv"
    table.write_text("uid,sku,ts,stars\na,x,100,5\nb,x,200,9\nb,y,300,4\n")
    mapping = "user=uid,item=sku,timestamp=ts,rating=stars"
    assert main(["data", "validate", str(table), "--map", mapping, "--mode", "quarantine"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: {table} (table): 2 interactions, 2 users, 2 items")
    assert "1 rows quarantined" in out


def test_data_error_is_one_sentence_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "u.data").write_text("1\t1\t5\t100\n2\t1\t4\t-7\n")
    assert main(["data", "validate", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith(f"raie: error: {tmp_path / 'u.data'}: column 'timestamp'")
    assert "at row 2" in lines[0]


def test_unknown_mapping_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "t.csv"
    table.write_text("uid,sku,ts\na,x,100\n")
    assert main(["data", "validate", str(table), "--map", "usr=uid"]) == 1
    assert "mapping key 'usr'" in capsys.readouterr().err


def test_bad_flag_exits_2() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "snapshots", "--every", "2w", "--out", "x"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "validate", "x", "--map", "user"])
    assert exit_info.value.code == 2


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "ml-100k.inter").write_text("user_id:token\titem_id:token\n")
    base = [str(RAIE), "data", "validate", str(tmp_path), "--format", "ml-100k"]
    plain = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.startswith("raie: error: ") and "'timestamp'" in plain.stderr
    debug = subprocess.run([*base, "--debug"], capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "MissingColumnError" in debug.stderr


def test_cli_choices_match_the_core_enums() -> None:
    from flows.commands import data
    from raie_core.data import Every, Source, ValidationMode

    assert data.FORMATS == tuple(s.value for s in Source)
    assert data.MODES == tuple(m.value for m in ValidationMode)
    assert data.EVERY == tuple(e.value for e in Every)


def _drift_table(tmp_path: Path) -> Path:
    """A tiny table with titles and genres: users 1-4, films 10-14 (11, 12, 14 Horror)."""
    rows = [
        "user_id,item_id,timestamp,rating,title,genres",
        "1,10,100,5,Big,Comedy",
        "1,11,200,4,Scream,Comedy|Horror",
        "1,13,900,5,Heat,Drama",
        "2,12,300,5,Alien,Horror|Sci-Fi",
        "2,13,950,4,Heat,Drama",
        "2,10,960,2,Big,Comedy",
        "3,14,400,4,Shining,Horror",
        "3,10,990,5,Big,Comedy",
        "4,13,150,5,Heat,Drama",
    ]
    table = tmp_path / "source.csv"
    table.write_text("\n".join(rows) + "\n")
    return table


def test_drift_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import datetime

    import polars as pl

    from raie_core.data import DriftConfig, inject_drift, load_dataset

    source, out = _drift_table(tmp_path), tmp_path / "drifted"
    args = ["data", "drift", "--dataset", "table", "--path", str(source), "--out", str(out)]
    args += ["--genre", "Horror", "--share", "1", "--onset", "1970-01-01T00:13:20", "--seed", "4"]
    assert main([*args, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    # positives at t >= 800 s: users 1 (13@900), 2 (13@950), 3 (10@990); user 2's 10@960 is a 2
    assert (record["active_users"], record["cohort_users"], record["moved"]) == (3, 3, 3)
    assert (record["genre_films"], record["drawable_films"]) == (3, 3)
    assert record["onset"] == "1970-01-01T00:13:20Z" and record["table"] == str(
        out / "interactions.parquet"
    )
    assert (out / "cohort.txt").read_text() == "1\n2\n3\n"
    assert json.loads((out / "drift.json").read_text()) == record
    loaded = load_dataset("table", out / "interactions.parquet")
    onset = datetime.datetime(1970, 1, 1, 0, 13, 20)
    expected = inject_drift(load_dataset("table", source), DriftConfig("Horror", 1.0, onset, 4))
    assert loaded.interactions.equals(
        expected.dataset.interactions.sort("timestamp", "user_id", "item_id")
    )
    titles = loaded.items.join(expected.dataset.items, on="item_id")
    assert titles["title"].to_list() == titles["title_right"].to_list()
    assert titles["genres"].to_list() == titles["genres_right"].to_list()
    moved = loaded.interactions.filter(pl.col("timestamp").is_in([900, 950, 990]))
    assert set(moved["item_id"].to_list()) <= {11, 12, 14}
    assert main(args) == 0  # the printout, over the same folder
    text = capsys.readouterr().out
    assert "3 of 3 users with a positive after the onset" in text
    assert (
        f"--dataset table --path {out / 'interactions.parquet'} --cohort {out / 'cohort.txt'}"
        in text
    )


def test_drift_errors_are_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _drift_table(tmp_path)
    base = [
        "data",
        "drift",
        "--dataset",
        "table",
        "--path",
        str(source),
        "--out",
        str(tmp_path / "o"),
    ]
    good = {"--genre": "Horror", "--share": "0.5", "--onset": "1970-01-01T00:10:00"}
    cases = {
        "--genre": (
            "Horrr",
            "genre='Horrr' is not a genre of the table catalog (Comedy, Drama, Horror, Sci-Fi)",
        ),
        "--share": ("1.5", "share=1.5 should be in (0, 1]"),
        "--onset": ("1999-01-01", "onset=1999-01-01T00:00:00Z lies outside the data"),
    }
    for flag, (value, message) in cases.items():
        argv = [*base, *(x for k, v in {**good, flag: value}.items() for x in (k, v))]
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"raie: error: {message}")
    assert not (tmp_path / "o").exists()
    for flag, value in (("--share", "lots"), ("--onset", "12/20/1997")):
        argv = [*base, *(x for k, v in {**good, flag: value}.items() for x in (k, v))]
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
