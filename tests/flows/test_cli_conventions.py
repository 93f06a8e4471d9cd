"""The operator conventions of every `raie` command: help text and defaults on every option,
one definition of the shared choices, one `--json` shape (flows/commands/output.py), progress
on stderr and only on a terminal, and one sentence when the MLflow server is unreachable.

The commands that need a set-up home print their JSON in tests/flows/test_champion_cli.py
(status, lineage, recommend, verify, gc, promote, rollback) and in the slow
tests/flows/test_cli_reject.py (setup, update, backfill); the heavy benches in their own tests.
"""

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.choices import EVERY
from flows.cli import build_parser, main
from flows.commands.output import FIELD_NAME, json_line

ROOT = Path(__file__).resolve().parents[2]

COVERED_ELSEWHERE = {
    "status": "test_champion_cli.py",
    "lineage": "test_champion_cli.py",
    "recommend": "test_champion_cli.py",
    "verify": "test_champion_cli.py",
    "gc": "test_champion_cli.py",
    "promote": "test_champion_cli.py",
    "rollback": "test_champion_cli.py",
    "setup": "test_cli_reject.py (slow)",
    "update": "test_cli_reject.py (slow)",
    "backfill": "test_cli_reject.py (slow)",
    "bench quality": "test_bench_quality.py",
    "bench pipeline": "test_bench_pipeline.py (slow)",
    "bench speed": "a minute of training; prints through print_json like every command",
    "bench regions": "test_cli_conventions.py::test_bench_json",
}
"""Commands whose `--json` runs elsewhere (they need a set-up home or minutes)."""


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(" ".join(path), parser)]
    out = []
    for action in subs:
        for name, child in action.choices.items():
            child.format_help()  # a LazyParser adds its arguments now
            out += _leaves(child, (*path, name))
    return out


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    skip = (argparse._HelpAction, argparse._SubParsersAction)
    return [a for a in parser._actions if not isinstance(a, skip)]


def test_every_option_has_help_and_states_its_default() -> None:
    missing, no_default = [], []
    for command, parser in _leaves(build_parser()):
        for action in _options(parser):
            name = f"raie {command} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                missing.append(name)
            elif action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                if "default" not in action.help:
                    no_default.append(name)
    assert not missing, f"options without help text: {missing}"
    assert not no_default, f"options whose help does not state the default: {no_default}"


def test_every_and_map_are_the_same_everywhere() -> None:
    leaves = dict(_leaves(build_parser()))
    every = {
        command: tuple(action.choices)
        for command, parser in leaves.items()
        for action in _options(parser)
        if action.dest == "every"
    }
    assert {"setup", "backfill", "data snapshots", "bench quality"} <= set(every)
    assert set(every.values()) == {EVERY}, every
    maps = {
        command: action.type
        for command, parser in leaves.items()
        for action in _options(parser)
        if "--map" in action.option_strings
    }
    assert {"setup", "data validate"} <= set(maps) and len(set(maps.values())) == 1
    setup = leaves["setup"].parse_args(["--map", "user=uid,item=sku"])
    assert setup.mapping == {"user": "uid", "item": "sku"}


def test_json_line_is_one_snake_case_object() -> None:
    assert json_line({"gc_bytes": 3, "day": Path("x")}) == '{"gc_bytes": 3, "day": "x"}'
    with pytest.raises(AssertionError, match="one object, not list"):
        json_line([{"a": 1}])  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match=r"snake_case: \['UPDATE', 'bankVersion'\]"):
        json_line({"UPDATE": 1, "bankVersion": 2, "ok": 3})


def _json_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    capsys.readouterr()
    assert main(argv) == 0, argv
    out = capsys.readouterr().out
    assert out.count("\n") == 1, f"{argv}: not one line: {out!r}"
    obj = json.loads(out)
    assert isinstance(obj, dict) and obj, argv
    bad = [key for key in obj if not FIELD_NAME.match(key)]
    assert not bad, f"{argv}: keys not snake_case: {bad}"
    return obj


def test_every_json_command_prints_one_snake_case_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = ["--home", str(tmp_path / "home")]
    table = tmp_path / "table.csv"
    table.write_text("uid,sku,ts,stars\n1,10,1000,4\n2,11,2000,5\n1,11,3000,3\n")
    snapshots = ["--dataset", "table", "--path", str(table), "--out", str(tmp_path / "snaps")]
    runs = {
        "data describe": ["data", "describe", "--dataset", "ml-100k"],
        "data replay": [
            *("data", "replay", "--dataset", "table", "--path", str(table)),
            *("--map", "user=uid,item=sku,timestamp=ts,rating=stars", "--every", "1d"),
            *("--since", "1970-01-01", "--until", "1970-01-02"),
            *("--into", str(tmp_path / "landing")),
        ],
        "data validate": [
            "data",
            "validate",
            str(table),
            "--map",
            "user=uid,item=sku,timestamp=ts,rating=stars",
        ],
        "data snapshots": [
            "data",
            "snapshots",
            *snapshots,
            "--map",
            "user=uid,item=sku,timestamp=ts,rating=stars",
        ],
        "data drift": [
            "data",
            "drift",
            "--out",
            str(tmp_path / "drift"),
            "--genre",
            "Comedy",
            "--share",
            "0.1",
            "--onset",
            "1998-01-01",
        ],
        "bench data": [
            "bench",
            "data",
            "--synthetic-rows",
            "2000",
            "--synthetic-users",
            "50",
            "--synthetic-items",
            "40",
        ],
        "bench docs": None,  # needs a report.json: tests/flows/test_bench_docs.py
    }
    seen = {}
    for command, argv in runs.items():
        if argv is not None:
            seen[command] = _json_of(capsys, [*argv, "--json", *home])
    assert seen["data validate"]["ratings"] == 3
    assert seen["data snapshots"]["snapshots"] >= 1

    # `raie ui` against a tracking server only announces it (no child, no browser)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    ui = _json_of(capsys, ["ui", "--no-browser", "--json", *home])
    assert ui == {"url": "http://127.0.0.1:9", "pid": None}

    # the demo is a walkthrough: --json is bad usage, in one sentence
    assert main(["demo", "--json", *home]) == 2
    assert "has no --json" in capsys.readouterr().err

    with_json = {
        command
        for command, parser in _leaves(build_parser())
        if any("--json" in a.option_strings for a in _options(parser))
    }
    ran = set(seen) | {"ui", "demo", "bench docs"}
    assert with_json == ran | set(COVERED_ELSEWHERE), with_json ^ (ran | set(COVERED_ELSEWHERE))


def test_bench_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["bench", "regions", "--n", "2000", "--regions", "4", "--dim", "8", "--threads", "1"]
    out = _json_of(capsys, [*argv, "--json", "--home", str(tmp_path)])
    assert out["n"] == 2000 and set(out["actions"]) == {"update", "expand", "add"}


def _child(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`raie ARGV` in a real child process with ``env`` (this checkout on PYTHONPATH)."""
    code = "import sys; from flows.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=300,
    )


def test_unreachable_tracking_server_is_one_sentence(tmp_path: Path) -> None:
    """A real child process: no traceback, one line on stderr, exit 1, nothing created."""
    home = tmp_path / "home"
    env = {**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    done = _child(["update", "--dataset", "table", "--home", str(home)], env)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "raie: error: the MLflow tracking server http://127.0.0.1:9 (MLFLOW_TRACKING_URI) "
        "cannot be reached ([Errno 111] Connection refused); start it, or unset "
        "MLFLOW_TRACKING_URI to use the home's own store"
    ]
    assert not (home / "state").exists()


def test_a_prefect_server_that_does_not_start_is_one_sentence(tmp_path: Path) -> None:
    """A real child process whose local Prefect server cannot answer in time (a zero startup
    timeout): one line on stderr, exit 1, no flow ran, no file written under the state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    home = tmp_path / "home"
    done = _child(
        ["setup", "--dataset", "ml-100k", "--until", "1997-10-15", "--home", str(home)], env
    )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("raie: error: the local Prefect server (PREFECT_HOME=")
    assert "STARTUP_TIMEOUT_SECONDS=0 s, so no flow ran and nothing changed" in line
    assert not [p for p in (home / "state").rglob("*") if p.is_file()]


def test_a_flow_checks_the_tracking_server_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows import env
    from raie_core.errors import RaieStateError

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    with pytest.raises(RaieStateError, match="cannot be reached"):
        env.configure_stores(None)  # the first call of every flow


def test_progress_goes_to_stderr_on_a_terminal_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.progress import TRAINING_LOGGER, progress_enabled, training_bar

    assert not progress_enabled()  # pytest's captured stderr is not a terminal
    assert not progress_enabled(json=True)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat the captured stream as a terminal
    with training_bar(3):
        for epoch in range(3):
            logging.getLogger(TRAINING_LOGGER).debug("epoch %d", epoch)
    out = capsys.readouterr()
    assert out.out == ""
    assert "setup training (ETA: at most)" in out.err and "3/3" in out.err
