"""`raie bench quality`: RAIE against the usual update strategies, same backbone/budget/protocol.

Paper preset: the backbone trains on S (`setup_train`), every method updates once on F and is
scored on the held-out S windows (retention) and on T. Streaming preset: setup before a cut
date (default t^S), then per period (default weekly) each method is scored prequentially on
the period's windows before updating on them; retention is scored on the held-out setup
windows at the end. The backbone is trained once per seed and shared by every method
(seqrec backbones are cached under <home>/bench/backbones). `--backbone llm` sets up the
pretrained LM on a `--max-windows` budget; `--max-update-windows` / `--max-eval-windows` cut
the setup (replay) set and update periods, and the scored blocks, to seeded subsets (the same
rows for every backbone), so an llm run fits a CPU and a seqrec run with the same budgets
scores the same windows.
Methods run in-process through `raie_core` (not through the Prefect update flows). Prints one
table (mean ± std over seeds), writes a markdown report with plots to --out, logs it to
MLflow and leaves it as a Prefect artifact (skip both with --no-track).

One idea a module: `cli` (options, printout), `plans` (data slice, paper / streaming /
validation plans, window budgets), `config` (methods, pipeline and method configs),
`backbones` (per-seed backbone, cache), `runner` (method x seed loop), `bars` (DESIGN §10
bars, headline and paired fields), `cohort` (--cohort: cohort / others split, RAIE's routing
of the cohort), `report_md` (report.md from the JSON report, reproducing command),
`report_json` (report.json: the tables, the command and the options; its reader), `track`
(the whole run, MLflow + Prefect, --json payload). `raie bench docs` (flows/benches/docs.py)
puts the tables of report.json files on one markdown page.
"""

from flows.benches.quality.backbones import backbone_cache, backbone_key, train_backbone
from flows.benches.quality.bars import (
    DATA_BUDGETS,
    REFERENCE_CODE_NDCG,
    REFERENCE_FACTOR,
    RETENTION_TOLERANCE,
    format_bars,
    headline_field,
    paired_fields,
    quality_bars,
)
from flows.benches.quality.cli import add_arguments, run
from flows.benches.quality.cohort import (
    BLOCK_ORDER,
    COHORT_NOTE,
    ROUTING_NOTE,
    cohort_printout,
    cohort_report,
    cohort_section,
)
from flows.benches.quality.config import (
    DEFAULT_METHODS,
    bench_config,
    check_budgets,
    method_config,
    method_names,
)
from flows.benches.quality.plans import (
    BUDGET_SEED,
    DAY,
    OLD_STRIDE,
    VALIDATION_QUANTILE,
    VALIDATION_STRIDE,
    Plan,
    bench_plan,
    budget_plan,
    day_label,
    load,
    paper_plan,
    streaming_plan,
)
from flows.benches.quality.report_json import (
    OPTION_FIELDS,
    PAYLOAD_FIELDS,
    REPORT_FIELDS,
    RUN_FIELDS,
    read_report,
    report_json_path,
    report_record,
    write_report_json,
)
from flows.benches.quality.report_md import (
    BARS_NOTE,
    PAIRED_NOTE,
    RECORDED_OPTIONS,
    REGIONS_NOTE,
    SEQREC_OPTIONS,
    STREAMING_OPTIONS,
    backbone_line,
    command,
    region_table,
    report_markdown,
    result_tables,
    run_line,
    table_fields,
    write_report,
)
from flows.benches.quality.runner import run_bench, run_method
from flows.benches.quality.track import bench, payload, track_report

__all__ = [
    "BARS_NOTE",
    "BLOCK_ORDER",
    "BUDGET_SEED",
    "COHORT_NOTE",
    "DATA_BUDGETS",
    "DAY",
    "DEFAULT_METHODS",
    "OLD_STRIDE",
    "OPTION_FIELDS",
    "PAIRED_NOTE",
    "PAYLOAD_FIELDS",
    "RECORDED_OPTIONS",
    "REFERENCE_CODE_NDCG",
    "REFERENCE_FACTOR",
    "REGIONS_NOTE",
    "REPORT_FIELDS",
    "RETENTION_TOLERANCE",
    "ROUTING_NOTE",
    "RUN_FIELDS",
    "SEQREC_OPTIONS",
    "STREAMING_OPTIONS",
    "VALIDATION_QUANTILE",
    "VALIDATION_STRIDE",
    "Plan",
    "add_arguments",
    "backbone_cache",
    "backbone_key",
    "backbone_line",
    "bench",
    "bench_config",
    "bench_plan",
    "budget_plan",
    "check_budgets",
    "cohort_printout",
    "cohort_report",
    "cohort_section",
    "command",
    "day_label",
    "format_bars",
    "headline_field",
    "load",
    "method_config",
    "method_names",
    "paired_fields",
    "paper_plan",
    "payload",
    "quality_bars",
    "read_report",
    "region_table",
    "report_json_path",
    "report_markdown",
    "report_record",
    "result_tables",
    "run",
    "run_bench",
    "run_line",
    "run_method",
    "streaming_plan",
    "table_fields",
    "track_report",
    "train_backbone",
    "write_report",
    "write_report_json",
]
