"""`raie --help` stays fast (issues 18, 19): building the parser imports none of the heavy
libraries; bench sub-commands load their module only when they are parsed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.reliability.cli_run import ROOT, child_env, raie

pytestmark = pytest.mark.reliability

HEAVY = ("torch", "transformers", "peft", "prefect", "mlflow", "polars", "numpy", "pydantic")

PROBE = (
    "import json, sys\n"
    "from flows.cli import build_parser\n"
    "build_parser()\n"
    f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
)


def test_building_the_parser_imports_no_heavy_library() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == []


def test_help_lists_every_command_and_a_bench_still_has_its_options() -> None:
    top = raie("--help")
    assert top.returncode == 0
    for command in ("setup", "update", "backfill", "recommend", "promote", "rollback", "bench"):
        assert command in top.stdout
    bench = raie("bench", "quality", "--help")
    assert bench.returncode == 0 and "--preset" in bench.stdout and "--seeds" in bench.stdout
    assert raie("bench", "quality", "--preset", "nope").returncode == 2
