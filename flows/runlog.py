"""What a flow run tells its operator in the Prefect UI: a readable run name with the resolved
period (`name_run`), and one line per stage saying what it did and how long it took
(`Stages`, through Prefect's run logger, so the lines sit next to the task runs), and the
nightly update's artifacts (`period_artifacts`). Each stage record also carries its stage name
and seconds as fields (`STAGE_FIELD`, `SECONDS_FIELD`), so a listener in the same process
(`raie bench pipeline`) reads the boundaries without parsing the text."""

from __future__ import annotations

import time

from prefect import get_client, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

STAGE_FIELD = "raie_stage"
"""A stage record's extra field holding the stage's name (e.g. ``"windows"``)."""
SECONDS_FIELD = "raie_stage_s"
"""A stage record's extra field holding the stage's wall seconds (unrounded)."""


def name_run(name: str) -> None:
    """Rename the running flow run to ``name`` (e.g. ``update-ml-100k-1997-12-15``): its
    period is known only once the flow has resolved it from the home."""
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, name=name)


class Stages:
    """``stages.done("windows", "%d windows", n)`` logs ``windows: 412 windows (3.1 s)``,
    the seconds since the previous stage (or since the flow body started)."""

    def __init__(self) -> None:
        self.logger = get_run_logger()
        self.mark = time.perf_counter()

    def done(self, stage: str, message: str, *args: object) -> None:
        now = time.perf_counter()
        seconds = now - self.mark
        fields = {STAGE_FIELD: stage, SECONDS_FIELD: seconds}
        self.logger.info(f"{stage}: {message} (%.1f s)", *args, seconds, extra=fields)
        self.mark = now


def period_artifacts(report: dict) -> None:
    """The nightly update's Prefect artifacts: its report as a table and a short summary."""
    rows = [{"field": k, "value": v} for k, v in report.items()]
    create_table_artifact(key="raie-period-metrics", table=rows, description="period metrics")
    md = [
        f"# RAIE update {report['period']}",
        "",
        "Decisions: " + ", ".join(f"{k} {report.get(k, 0)}" for k in ("update", "expand", "add")),
        f"Live regions: {report['live']}, retrained adapters: {report['retrained']}",
        f"Prequential NDCG@10: champion {report['ndcg10_champion']:.4f}, "
        f"base {report['ndcg10_base']:.4f}; candidate retention NDCG@10 "
        f"{report['retention_ndcg10']:.4f}",
        "",
        f"Gate: **{report['gate']}** — {report['gate_reason']}; champion is "
        f"v{report['champion']} (candidate v{report['version']})",
    ]
    create_markdown_artifact(key="raie-period-summary", markdown="\n".join(md))


def repairs_note(done: list[int]) -> str:
    """The update's check-stage note on the versions whose interrupted publication it
    finished (`tasks.publish.finish_pending`); empty when there were none."""
    versions = ", ".join(f"v{n}" for n in done)
    return f"; finished the interrupted publication of {versions}" if done else ""
