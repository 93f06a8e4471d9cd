"""The terminal tables of `raie bench pipeline` (its ``--json`` holds the same numbers)."""

from __future__ import annotations

from typing import Any

SHORTFALL_TOLERANCE = 0.15
"""A scaling row is explained when its speedup is below (1 - this) x its ideal, and a cause is
named when its measure misses the one-worker run's scaled value by more than this share."""


def print_report(r: dict[str, Any]) -> None:
    budget = "full" if r["full_budget"] else "bench"
    print(
        f"raie bench pipeline: {r['data']}, period {r['period']} ({r['every']}), "
        f"K={r['regions_at_setup']}, {r['windows']} update windows, "
        f"{r['setup_windows']} setup windows"
    )
    print(
        f"setup {r['setup_wall_s']:.1f} s, {budget} budget: backbone {r['base_epochs']} of "
        f"{r['backbone_max_epochs']} epochs, setup stride {r['setup_stride']}, adapters "
        f"<= {r['adapter_max_epochs']} epochs; held-out NDCG@10 of the base "
        f"{r['retention_ndcg10']:.4f}"
    )
    for flow, rows in r["stages"].items():
        print_stages(flow, rows)
    print(f"peak RSS {r['peak_rss_mib']:.0f} MiB ({r['rss']})")
    if r["runner"] == "dask":
        print_scaling(r)
    else:
        print_overhead(r)


def print_stages(flow: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{flow + ' stage':<20}{'wall s':>10}{'peak RSS MiB':>14}{'rise MiB':>10}")
    for row in rows:
        print(
            f"{row['stage']:<20}{row['wall_s']:>10.2f}"
            f"{row['peak_rss_mib']:>14.0f}{row['rise_mib']:>10.0f}"
        )
    print(f"{'total':<20}{sum(row['wall_s'] for row in rows):>10.2f}")


def print_overhead(r: dict[str, Any]) -> None:
    print(f"\n{'measure':<34}{'value':>12}{'target':>10}")
    print(f"{'nightly update, flow (s)':<34}{r['flow_wall_s']:>12.2f}")
    print(f"{'nightly update CPU (s)':<34}{r['flow_cpu_s']:>12.1f}")
    print(
        f"{'in-run Prefect / MLflow (s)':<34}{r['prefect_inrun_s']:>6.2f} /{r['mlflow_inrun_s']:>5.2f}"
    )
    print(
        f"{'Prefect + MLflow overhead (in-run)':<34}"
        f"{r['overhead_fraction_inrun']:>12.3f}{'<= ' + str(r['overhead_target']):>10}"
    )
    print(f"{'train affected regions (s)':<34}{r['affected_wall_s']:>12.2f}")
    print(f"{'train all live regions (s)':<34}{r['all_wall_s']:>12.2f}")
    print(
        f"{'incremental ratio':<34}{r['incremental_ratio']:>12.3f}"
        f"{'<= ' + str(r['incremental_target']):>10}"
        f"  ({r['affected']} of {r['live']} regions affected)"
    )
    print(f"excluded from timing: {r['excluded']}")


SCALING_COLUMNS = (
    ("workers", "workers", "{}"),
    ("regions", "regions", "{}"),
    ("region_wall_s", "wall s", "{:.2f}"),
    ("regions_per_s", "regions/s", "{:.3f}"),
    ("speedup", "speedup", "{:.2f}"),
    ("task_sum_s", "task sum s", "{:.2f}"),
    ("longest_task_s", "longest s", "{:.2f}"),
    ("bound_s", "bound s", "{:.2f}"),
    ("outside_s", "outside s", "{:.2f}"),
    ("identical", "identical", "{}"),
)
"""(row key, title, format) of the Dask scaling table (`flows.benches.scaling`)."""


def print_scaling(r: dict[str, Any]) -> None:
    print("\nregion training on a loopback Dask LocalCluster (1 thread per worker)")
    print("".join(f"{title:>12}" for _, title, _ in SCALING_COLUMNS))
    for row in r["scaling"]:
        cells = []
        for key, _, fmt in SCALING_COLUMNS:
            value = "yes" if row[key] is True else "no" if row[key] is False else row[key]
            cells.append(f"{fmt.format(value):>12}")
        print("".join(cells))
    for line in shortfall(r):
        print(line)


def shortfall(r: dict[str, Any]) -> list[str]:
    """One line per reason a row's speedup falls short of its worker count (measured)."""
    base = r["scaling"][0]
    tol = SHORTFALL_TOLERANCE
    lines = []
    for row in r["scaling"][1:]:
        ideal = row["workers"] / base["workers"]
        if row["speedup"] >= (1 - tol) * ideal:
            continue
        why = []
        if row["workers"] > r["cores"]:
            why.append(f"{row['workers']} workers on {r['cores']} cores")
        if row["bound_s"] > base["bound_s"] / ideal * (1 + tol):
            why.append(
                f"balance: the longest region task alone takes {row['longest_task_s']:.2f} s"
            )
        if row["task_sum_s"] > (1 + tol) * base["task_sum_s"]:
            why.append(
                f"contention: the tasks took {row['task_sum_s'] / base['task_sum_s']:.2f}x "
                "their one-worker seconds"
            )
        if row["outside_s"] > tol * row["region_wall_s"]:
            why.append(
                f"{row['outside_s']:.2f} s outside the tasks (a worker's imports "
                f"{r['worker_import_s']:.2f} s, base load {r['base_load_cold_s']:.2f} s cold "
                f"and {r['base_load_warm_s']:.2f} s per task; scheduling, Prefect API)"
            )
        reasons = "; ".join(why) or "no single cause above its threshold"
        lines.append(
            f"{row['workers']} workers: speedup {row['speedup']:.2f} < {ideal:g}: {reasons}"
        )
    return lines
