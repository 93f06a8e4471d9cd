"""`raie bench docs`: report.json of `raie bench quality` (`quality.report_json`) to one markdown
page, on hand-made reports shaped like `runner.run_bench`'s result (no bench runs here)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flows.cli import main

METHODS = ("base", "lora", "raie")


def _args(*argv: str) -> argparse.Namespace:
    """`raie bench quality` options as its parser leaves them, dataset / backbone resolved."""
    from flows.benches import quality

    parser = argparse.ArgumentParser()
    quality.add_arguments(parser)
    args = parser.parse_args(["--seeds", "3", "--max-users", "80", *argv])
    args.dataset = args.dataset or "ml-100k"
    args.backbone = args.backbone or "seqrec"
    return args


def _paired(mean: float) -> dict[str, Any]:
    """A paired cell as `report.paired_rows` makes it, the mean a numpy scalar as numpy leaves
    it before `float()`."""
    return {
        "mean": np.float64(mean),
        "se": 0.001,
        "ahead": np.int64(2),
        "seeds": 3,
        "low": mean - 0.01,
        "high": mean + 0.01,
    }


def _result(headline: str = "T_NDCG@10", cohort: bool = False, rss: bool = True) -> dict[str, Any]:
    """A result as `runner.run_bench` returns it (plus the bars), without the live objects;
    ``rss=False``: as reports written before runs recorded their peak memory."""
    from flows.benches.quality import table_fields

    block = headline[0]
    preset = "streaming" if block == "P" else "paper"
    costs = ("wall_s", "peak_rss_mib")
    fields = [f for f in table_fields(preset, block == "V") if f not in costs]
    rss_cell = {"peak_rss_mib": {"mean": 1536.0, "std": 0.0}} if rss else {}
    rows = [
        {
            "method": m,
            **{f: {"mean": 0.01 * (i + 1), "std": 0.002} for f in fields},
            "wall_s": {"mean": 12.5, "std": 0.5},
            **rss_cell,
        }
        for i, m in enumerate(METHODS)
    ]
    paired = [
        {"method": "base", "raie - method": _paired(0.02)},
        {"method": "lora", f"{headline} - base": _paired(0.01), "raie - method": _paired(0.01)},
        {"method": "raie", f"{headline} - base": _paired(0.02)},
    ]
    section = None
    if cohort:
        part = {
            "windows": 4,
            "users": 2,
            "rows": [
                {"method": "raie", headline: {"mean": 0.5, "std": 0.0, "low": 0.25, "high": 0.75}}
            ],
        }
        empty = {"windows": 0, "users": 0, "rows": []}
        section = {
            "file": "drift/cohort.txt",
            "ids": 3,
            "found": 2,
            "blocks": {block: {"field": headline, "cohort": part, "others": empty}},
            "routing": None,
        }
    return {
        "config_hash": "0123456789abcdef",
        "config": {"dataset": "ml-100k", "seed": 0},
        "rows": rows,
        "headline": headline,
        "paired": paired,
        "bars": [
            {
                "bar": f"{headline} >= lora (best baseline)",
                "raie": 0.03,
                "target": 0.02,
                "met": True,
            }
        ],
        "regions": [{"region": np.int64(-1), "windows": 9, "NDCG@10": dict.fromkeys(METHODS, 0.1)}],
        "cohort": section,
        "windows": {"train": 100, "setup": 50, "periods": [np.int64(10)], "S": 20, block: 9},
        "backbone_s": {"mean": 30.0, "std": 2.0},
        "backbones_cached": 0,
        "runs_reused": 0,
        "curves": {m: [0.1] for m in METHODS},
        "raie": None,
    }


def _write(folder: Path, result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """report.json of ``result`` in ``folder``, as `track.bench` writes it; returns the record."""
    from flows.benches.quality import report_record, write_report_json

    folder.mkdir(parents=True)
    record = report_record(result, args)
    write_report_json(record, folder)
    return record


def _docs(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["bench", "docs", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_report_json_reads_back_as_the_record_and_renders_report_md_text(tmp_path: Path) -> None:
    from flows.benches.quality import PAYLOAD_FIELDS, read_report, report_markdown

    args = _args("--validate")
    record = _write(tmp_path / "run", _result("V_NDCG@10"), args)
    saved = read_report(tmp_path / "run")  # the folder or its report.json
    assert saved == record == read_report(tmp_path / "run" / "report.json")
    assert set(PAYLOAD_FIELDS) <= set(saved) and "raie" not in saved and "curves" not in saved
    assert saved["command"] == "raie bench quality --preset paper --backbone seqrec --seeds 3 " + (
        "--methods popularity,base,full_ft,full_replay,lora,replay,lwf,lsat,mole,ebpr,raie --dataset ml-100k "
        "--max-users 80 --validate"
    )
    assert (saved["seeds"], saved["validate"], saved["headline"]) == (3, True, "V_NDCG@10")
    assert type(saved["paired"][1]["raie - method"]["ahead"]) is int  # numpy scalars converted
    text = "\n".join(report_markdown(saved))
    assert text.startswith("# raie bench quality — paper preset, seqrec, ml-100k\n")
    assert f"Command: `{saved['command']}`" in text
    assert "| raie | +0.0200 ± 0.0010 (2/3) [+0.0100, +0.0300] |" in text


def test_docs_page_has_each_report_in_order_with_its_command_and_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paper = _write(tmp_path / "paper", _result(), _args())
    stream = _write(
        tmp_path / "stream",
        _result("P_NDCG@10", cohort=True, rss=False),
        _args("--preset", "streaming", "--seeds", "1", "--cohort", "drift/cohort.txt"),
    )
    drift = {"dataset": "ml-100k", "table": "/data/horror/interactions.parquet", "genre": "Horror"}
    drift |= {"share": 0.3, "onset": "1997-12-19T21:30:58Z", "seed": 0, "source_path": None}
    (tmp_path / "stream" / "drift.json").write_text(json.dumps(drift), encoding="utf-8")
    page = tmp_path / "docs" / "benchmarks.md"
    reports = [str(tmp_path / "paper"), str(tmp_path / "stream" / "report.json")]
    code, out, err = _docs(capsys, *reports, "--out", str(page))
    assert code == 0 and err == ""
    assert out.startswith(f"wrote {page}: 2 report(s)")
    text = page.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# Benchmarks"
    assert f"raie bench docs {' '.join(reports)} --out {page}" in text  # what generated it
    first = lines.index("## ml-100k, paper preset, seqrec, 3 seeds")
    second = lines.index("## ml-100k, streaming preset, seqrec, 1 seed, cohort / others")
    assert first < second
    assert lines[first + 2 : first + 5] == ["```bash", paper["command"], "```"]
    drift_line = (
        "raie data drift --dataset ml-100k --out /data/horror --genre Horror --share 0.3 "
        "--onset 1997-12-19T21:30:58Z --seed 0"
    )  # the drift.json beside the report: the command that made its table comes first
    assert lines[second + 2 : second + 6] == ["```bash", drift_line, stream["command"], "```"]
    assert "--every" not in paper["command"] and "--cohort drift/cohort.txt" in stream["command"]
    windows = "windows: {'train': 100, 'setup': 50, 'periods': [10], 'S': 20, 'T': 9}"
    second += 1  # the drift line
    assert windows in lines[first + 6] and "backbone setup 30.0 ± 2.0 s" in lines[first + 6]
    # means (S and T blocks for the paper preset, P and S for streaming)
    assert lines[first + 12].startswith("| method | S_Recall@5 |")
    assert lines[second + 12].startswith("| method | P_Recall@5 |")
    assert lines[first + 12].endswith("| wall_s | peak_rss_mib |")
    assert lines[second + 12].endswith("| S_NDCG@20 | wall_s |")  # an older report: no column
    assert "| lora | 0.0200 ± 0.0020 |" in text and "| 12.5 ± 0.5 | 1536.0 ± 0.0 |" in text
    # paired differences with their user intervals, in both sections
    assert text.count("| raie | +0.0200 ± 0.0010 (2/3) [+0.0100, +0.0300] | - |") == 2
    assert "| lora | +0.0100 ± 0.0010 (2/3) [+0.0000, +0.0200] |" in text
    # the cohort table only where the run had one, headings one level down
    assert text.count("### Cohort / others (drift/cohort.txt)") == 1
    assert text.index("### Cohort / others") > second
    assert "| raie | 0.5000 ± 0.0000 [0.2500, 0.7500] | - | - |" in text
    assert "### Per region (T_NDCG@10, seed 0)" in text and "\n## Quality bars" not in text
    assert "* met      T_NDCG@10 >= lora (best baseline): raie 0.0300, target 0.0200" in text
    assert "\n\n\n" not in text and text.endswith("\n")


def test_docs_json_prints_one_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "run", _result(), _args())
    page = tmp_path / "page.md"
    code, out, _ = _docs(capsys, "--json", str(tmp_path / "run"), "--out", str(page))
    assert code == 0
    assert json.loads(out) == {
        "out": str(page),
        "reports": [str(tmp_path / "run" / "report.json")],
        "sections": 1,
    }
    assert page.is_file()


def test_old_missing_and_broken_reports_are_one_sentence_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "page.md"
    old = tmp_path / "old"
    old.mkdir()
    (old / "report.json").write_text(json.dumps({"config_hash": "abc", "config": {}}))
    code, out, err = _docs(capsys, str(old), "--out", str(page))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"raie: error: report file {old / 'report.json'} has no field 'rows' (rerun its "
        "`raie bench quality`: older versions wrote only the config)"
    ]
    missing = tmp_path / "nowhere" / "report.json"
    code, _, err = _docs(capsys, str(missing), "--out", str(page))
    assert code == 1
    assert (
        err.strip()
        == f"raie: error: report file {missing} cannot be read (No such file or directory)"
    )
    record = _write(tmp_path / "typed", _result(), _args())
    (tmp_path / "typed" / "report.json").write_text(json.dumps({**record, "seeds": "3"}))
    code, _, err = _docs(capsys, str(tmp_path / "typed"), "--out", str(page))
    assert code == 1
    assert err.strip().endswith("field 'seeds' should be an integer, not a string")
    (tmp_path / "typed" / "report.json").write_text("[1, 2]")
    code, _, err = _docs(capsys, str(tmp_path / "typed"), "--out", str(page))
    assert code == 1 and err.strip().endswith("should hold an object, not an array")
    (tmp_path / "typed" / "report.json").write_text("{")
    code, _, err = _docs(capsys, str(tmp_path / "typed"), "--out", str(page))
    assert code == 1 and "report.json is not JSON (" in err
    assert not page.exists()  # nothing written when a report is bad


def test_docs_without_reports_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "docs"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: REPORT" in capsys.readouterr().err
