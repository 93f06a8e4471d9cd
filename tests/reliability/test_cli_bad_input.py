"""Finding 8 of issue 19: bad input ends in one sentence and exit 1 (2 for usage), with no
traceback and nothing changed in the home.

Homes that are a file, read-only or hold no such dataset are refused before Prefect starts;
errors raised inside a flow reach the terminal once (no Prefect traceback:
test_state_integrity.py); a bad setup file is
not retried and leaves no state folder; data files with milli/microsecond timestamps, Yelp
stars given as strings, a 1 MB id or an id holding NUL are refused naming file, column and
value (or set aside in quarantine mode).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flows.cli import main
from raie_core.data.validation import MAX_ID_CHARS, SHOWN_VALUE_CHARS
from tests.reliability.cli_run import fake_home, one_sentence, raie, tree

pytestmark = pytest.mark.reliability

HEADER = "user_id,item_id,timestamp,rating"
T0 = 880_000_000  # 1997-11-20, UTC seconds


def _rows(scale: int = 1) -> list[str]:
    return [f"{u},{i},{(T0 + u * 1000 + i * 86400) * scale},4" for u in range(1, 9) for i in (1, 2)]


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for this process: a read-only bind mount as root (who ignores file
    modes), else the write bits cleared."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(path), str(path)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot make a read-only mount here")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


# ---- homes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["status"], ["update", "--dataset", "table"]])
def test_a_home_that_is_a_file(tmp_path: Path, command: list[str]) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    sentence = one_sentence(raie("--home", str(home), *command))
    assert sentence == f"home {home} is a file, not a folder; pass --home with a folder"
    assert home.read_text() == "not a folder"
    below = one_sentence(raie("--home", str(home / "sub"), *command))
    assert below == f"home {home / 'sub'} cannot be used: {home} is a file, not a folder"


def test_a_read_only_home_fails_at_once(tmp_path: Path) -> None:
    home = fake_home(tmp_path / "home")
    before = tree(home)
    with read_only(home):
        sentence = one_sentence(raie("--home", str(home), "update", "--dataset", "table"))
    lock = home / "state" / "table" / ".lock"
    assert sentence.startswith(f"the RAIE home is not writable: cannot write {lock} (")
    assert tree(home) == before  # Prefect never started: no database in home/prefect


def test_an_unknown_dataset_creates_nothing(tmp_path: Path) -> None:
    home = fake_home(tmp_path / "home")
    before = tree(home)
    sentence = one_sentence(raie("--home", str(home), "update", "--dataset", "nosuch"))
    assert sentence == f"no bank for dataset nosuch in {home}; run `raie setup` first"
    assert tree(home) == before


@pytest.mark.parametrize("command", ["update", "backfill", "promote", "rollback", "gc"])
def test_a_refused_command_on_a_missing_home_creates_nothing(tmp_path: Path, command: str) -> None:
    """Not even the home's Prefect folder: it is made only once a writer holds its lock."""
    missing = tmp_path / "nohome"
    argv = [command, "--dataset", "table", *(["--version", "1"] if command == "promote" else [])]
    sentence = one_sentence(raie("--home", str(missing), *argv))
    assert sentence == f"no bank for dataset table in {missing}; run `raie setup` first"
    assert not missing.exists()


def test_the_console_drops_what_main_prints_itself() -> None:
    """Outside --debug the terminal handler drops a record carrying a RaieError and Prefect's
    failure lines of a run (main prints the error once); other warnings pass."""
    from flows.cli import _console
    from raie_core.errors import RaieStateError

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        _console(debug=False)
        try:
            raise RaieStateError("bank version v0001 of table not found")
        except RaieStateError:
            logging.getLogger("prefect.flow_runs").exception("Encountered exception")
        logging.getLogger("prefect.task_runs").error("Finished in state Failed('...')")
        logging.getLogger("tasks.ingest").warning("1 bad rows quarantined")
    finally:
        root.removeHandler(handler)
    assert seen == ["1 bad rows quarantined"]


@pytest.mark.slow  # ~70 s on a loaded 2-core machine: Prefect starts before the data is read
def test_a_duplicate_row_in_setup_data_is_not_retried_and_leaves_no_state(
    tmp_path: Path,
) -> None:
    data = _csv(tmp_path / "dup.csv", [*_rows(), _rows()[3]])
    home = tmp_path / "home"
    result = raie("--home", str(home), "setup", "--dataset", "table", "--path", str(data))
    assert one_sentence(result) == (
        f"{data}: column 'user_id, item_id, timestamp' breaks the rule '(user_id, item_id, "
        "timestamp) is unique' at row 18"
    )
    assert not (home / "state").exists()


# ---- setup's quarantine mode and retries -----------------------------------------------------
def test_setup_takes_on_error_quarantine(tmp_path: Path) -> None:
    from flows.cli import build_parser
    from raie_core.data.errors import DuplicateRowError
    from tasks.store import Store
    from tasks.windows import ingest_snapshots

    args = build_parser().parse_args(["setup", "--on-error", "quarantine"])
    assert args.on_error == "quarantine"
    with pytest.raises(SystemExit) as usage:
        build_parser().parse_args(["setup", "--on-error", "skip"])
    assert usage.value.code == 2
    data = str(_csv(tmp_path / "dup.csv", [*_rows(), _rows()[3]]))
    store = Store(tmp_path / "home", "table")
    with pytest.raises(DuplicateRowError):
        ingest_snapshots.fn(store, "table", "1w", data, "strict")
    summary = ingest_snapshots.fn(store, "table", "1w", data, "quarantine")
    assert summary["quarantined"] == 1 and summary["snapshots"] == 1
    assert (store.snapshots_dir / "quarantine.parquet").is_file()


@pytest.mark.slow  # a whole setup (~1-2 min on a loaded 2-core machine)
def test_setup_with_on_error_quarantine_sets_a_duplicate_aside(tmp_path: Path) -> None:
    import polars as pl

    from raie_core.data import load_dataset

    frame = load_dataset("ml-100k").interactions.filter(pl.col("user_id") <= 150)
    frame = pl.concat([frame, frame.head(1)])  # one duplicate row
    data = tmp_path / "dup.csv"
    frame.write_csv(data)
    home = tmp_path / "home"
    args = ["--home", str(home), "--json", "setup", "--dataset", "table", "--path", str(data)]
    refused = raie(*args, "--until", "1997-12-15", timeout=900)
    assert "is unique' at row " in one_sentence(refused)
    done = raie(*args, "--until", "1997-12-15", "--on-error", "quarantine", timeout=900)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["version"] == 1 and report["quarantined"] == 1
    quarantine = pl.read_parquet(home / "state" / "table" / "snapshots" / "quarantine.parquet")
    assert quarantine.select("row", "column").rows() == [
        (frame.height + 1, "user_id, item_id, timestamp")
    ]


def test_validation_errors_are_not_retried_but_io_errors_are() -> None:
    from prefect.states import Failed

    from raie_core.data.errors import DuplicateRowError
    from tasks.retry import retry_io_only
    from tasks.windows import ingest_snapshots

    assert ingest_snapshots.retries == 1
    assert ingest_snapshots.retry_condition_fn is retry_io_only
    assert not retry_io_only(None, None, Failed(data=DuplicateRowError("x.csv: duplicate")))
    assert retry_io_only(None, None, Failed(data=OSError(5, "Input/output error")))


# ---- data files ------------------------------------------------------------------------------
def _validate(capsys: pytest.CaptureFixture[str], path: Path, *flags: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["data", "validate", str(path), *flags])
    captured = capsys.readouterr()
    return code, captured.err if code else captured.out


@pytest.mark.parametrize(("scale", "shown"), [(1000, "880087400000"), (10**6, "880087400000000")])
def test_milli_and_microsecond_timestamps_name_the_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scale: int, shown: str
) -> None:
    data = _csv(tmp_path / "ratings.csv", _rows(scale))
    code, err = _validate(capsys, data)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"raie: error: {data}: column 'timestamp' breaks the rule ")
    assert "larger values look like milliseconds or microseconds" in err
    assert f"(first bad value '{shown}')" in err


def test_yelp_stars_as_strings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "review.json").write_text(
        "".join(
            json.dumps({"user_id": f"u{u}", "business_id": f"b{b}", "stars": stars,
                        "date": f"2019-01-{b + 1:02d} 10:00:00"}) + "\n"
            for u in range(3) for b in range(3)
            for stars in ["5" if (u, b) == (1, 2) else 5.0]
        )
    )  # fmt: skip
    code, err = _validate(capsys, tmp_path)
    review = tmp_path / "review.json"
    assert code == 1 and err == (
        f"raie: error: {review}: column 'stars' breaks the rule 'stars is a JSON number' at "
        "row 6 (first bad value '\"5\"')\n"
    )
    from raie_core.data.schema import ValidationMode
    from raie_core.data.yelp import YelpRules, load_yelp

    loaded = load_yelp(tmp_path, ValidationMode.QUARANTINE, YelpRules(core=1))
    assert loaded.quarantined.select("row", "column").rows() == [(6, "stars")]
    assert loaded.interactions.height == 8


@pytest.mark.parametrize(
    ("user", "rule"),
    [
        ("U" * 1_000_000, f"user_id is at most {MAX_ID_CHARS} characters"),
        ("ab\0cd", "user_id holds no control characters (NUL, tab, newline)"),
    ],
)
def test_ids_are_bounded_and_printable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], user: str, rule: str
) -> None:
    data = _csv(tmp_path / "ratings.csv", [*_rows(), f"{user},1,{T0},4"])
    code, err = _validate(capsys, data)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(
        f"raie: error: {data}: column 'user_id' breaks the rule '{rule}' at row 18"
    )
    assert len(err) < 400 + len(str(data)) and user[:SHOWN_VALUE_CHARS] in err.replace(
        "\\x00", "\0"
    )
    code, out = _validate(capsys, data, "--mode", "quarantine")
    assert code == 0 and "16 interactions" in out and "1 rows quarantined" in out
