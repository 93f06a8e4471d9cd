"""`raie verify` (check a whole home against its recorded digests) and `raie gc` (retention:
remove what no kept or champion version needs, `tasks.retention`).

`verify` prints what it checked and every problem, and exits 1 when there is one; it writes
nothing and takes no lock. `gc` runs under the dataset lock and prints what it removed (or,
with --dry-run, would remove) and the bytes freed.
"""

from __future__ import annotations

import argparse

from flows import env
from flows.commands.output import print_json
from flows.env import DEFAULT_DATASET
from raie_core.errors import RaieCorruptError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `raie verify` and `raie gc` to the `raie` parser."""
    p = sub.add_parser("verify", parents=[common], help="check a home against its digests")
    p.set_defaults(handler=_verify)
    p = sub.add_parser("gc", parents=[common], help="remove versions no one needs")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset name (default ml-100k)")
    p.add_argument(
        "--keep", type=int, default=None, help="newest versions kept (default RetentionConfig.keep)"
    )
    p.add_argument("--dry-run", action="store_true", help="print what would go, remove nothing")
    p.set_defaults(handler=_gc)


def _verify(args: argparse.Namespace) -> int:
    from tasks.audit import audit_home, audit_json, audit_text

    home = env.raie_home(args.home)
    audits = audit_home(home)
    if args.json:
        print_json(audit_json(home, audits))
    else:
        print(audit_text(home, audits))
    problems = sum(len(audit.problems) for audit in audits)
    if problems:
        raise RaieCorruptError(f"{problems} problem(s) found in {home} (listed above)")
    return 0


def _gc(args: argparse.Namespace) -> int:
    from tasks.store import Store

    store = Store(env.raie_home(args.home), args.dataset)
    store.require_current()  # refused before retention imports torch and MLflow
    from tasks.retention import RetentionConfig, collect

    keep = RetentionConfig().keep if args.keep is None else args.keep
    with store.lock():
        plan = collect(store, keep, dry_run=args.dry_run)
    if args.json:
        print_json({"dataset": store.dataset, "dry_run": args.dry_run, **plan.to_json()})
        return 0
    verb = "would remove" if args.dry_run else "removed"
    summary = plan.to_json()
    print(f"gc {store.dataset}: kept {', '.join(summary['kept'])}")
    for version in summary["retired"]:
        print(f"  {'would retire' if args.dry_run else 'retired'} {version} (its manifest stays)")
    for kind in ("adapters", "work", "cache", "mlflow_artifacts"):
        for item in summary[kind]:
            print(f"  {verb} {item}")
    print(f"{verb} {plan.bytes} bytes ({plan.bytes / 2**20:.1f} MiB)")
    return 0
