"""Issue 19 finding 2: periods are checked before anything is published.

On a set-up home (the first 100 users of ML-100K, setup cut 1997-12-15, weekly): a period
before the cut, off the week boundary or not yet ended is refused in one sentence (exit 1,
nothing changed); a period without windows, or no ``--period`` on static data, is a visible
no-op that publishes nothing and leaves the period open; ``--force`` replaces a period's
version, edited from the version before it, with lineage naming the replaced one.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from flows.cli import main
from tests.flows.conftest import prefect_backend  # noqa: F401 - a fixture
from tests.reliability.publish_homes import (
    DATASET,
    PERIOD,
    assert_complete,
    copy_home,
    set_up,
)

# flows in this process and in the CLI children run on the session's Prefect server
pytestmark = pytest.mark.usefixtures("prefect_backend")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return set_up(tmp_path_factory.mktemp("publish-periods"))


@pytest.fixture
def home(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = copy_home(template, tmp_path / "home")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.setenv("RAIE_HOME", str(home))  # the CLI sets it; restored after the test
    return home


def _update(home: Path, capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    capsys.readouterr()
    code = main(["update", "--home", str(home), "--dataset", DATASET, *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _tree(home: Path) -> dict[str, int]:
    state = home / "state" / DATASET
    return {str(p.relative_to(state)): p.stat().st_size for p in sorted(state.rglob("*"))}


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("period", "sentence"),
    [
        ("1997-12-08", "period=1997-12-08 is before the setup cut 1997-12-15 of table"),
        ("1997-12-17", "period=1997-12-17 should start a 1w period (a Monday)"),
        ("2999-01-07", "period=2999-01-07 has not ended yet (it ends 2999-01-14"),
    ],
)
def test_a_refused_period_is_one_sentence_and_changes_nothing(
    home: Path, capsys, period: str, sentence: str
) -> None:  # noqa: ANN001
    before = _tree(home)
    code, out, err = _update(home, capsys, "--period", period)
    assert code == 1 and out == ""
    assert err.startswith(f"raie: error: {sentence}") and err.count("\n") == 1, err
    assert _tree(home) == before


@pytest.mark.reliability
def test_a_period_without_windows_is_a_visible_noop_that_stays_open(home: Path, capsys) -> None:  # noqa: ANN001
    from tasks.store import Store

    store = Store(home, DATASET)
    for argv in (["--period", "1998-06-01"], ["--period", "1998-06-01"], []):
        code, out, _ = _update(home, capsys, *argv, "--json")
        report = json.loads(out)
        assert code == 0 and report["windows"] == 0 and report["published"] is False
        assert "nothing published, the period stays open" in report["reason"]
        assert "skipped" not in report  # not marked done: a re-run looks at the data again
    assert report["period"] != "1998-06-01"  # no --period: the last complete period
    assert store.versions() == [1] and store.current_version() == 1


@pytest.mark.reliability
def test_force_replaces_the_period_from_the_version_before_it(home: Path) -> None:
    from flows.nightly_update import nightly_update
    from tasks.lineage import tracker
    from tasks.store import Store

    store = Store(home, DATASET)
    period = date.fromisoformat(PERIOD)
    first = nightly_update(period=period, dataset=DATASET, home=str(home))
    assert first["version"] == 2 and store.current_version() == 2
    forced = nightly_update(period=period, dataset=DATASET, home=str(home), force=True)
    assert forced["version"] == 3 and forced["champion"] == 3
    v3 = store.read_manifest(3)
    assert v3.parent_version == 1 and v3.period == PERIOD  # edited from v1, not on top of v2
    assert [m.version for m in store.history()] == [1, 3]
    state = assert_complete(home, [1, 2, 3])
    assert [name for name, _, _ in state.runs if name.startswith("update-")] == [
        f"update-{PERIOD}",
        f"update-{PERIOD}",
    ]
    t = tracker(store)
    run = t.find_run(f"raie-{DATASET}", {"raie.kind": "update", "raie.bank_version": 3})
    assert t.run_tags(run)["raie.replaces"] == "2"
    bank = t.bank_lineage(DATASET)
    assert [row["tags"].get("replaces") for row in bank] == [None, "none", "2"]
    again = nightly_update(period=period, dataset=DATASET, home=str(home))
    assert again == {"period": PERIOD, "skipped": True} and store.versions() == [1, 2, 3]
