"""`raie data describe|snapshots|validate`: look at, cut and check interaction data.

Data errors print one sentence and exit 1 (flows/cli.py); bad flags exit 2 (argparse).
"""

import argparse
import json

# Literal copies of raie_core.data.Source / ValidationMode / Every (a test keeps them equal), so
# that building the parser does not import polars; handlers import tasks.ingest when they run.
FORMATS = ("ml-100k", "ml-1m", "movielens", "yelp", "table")
MODES = ("strict", "quarantine")
EVERY = ("1d", "1w", "1mo")


def parse_mapping(text: str) -> dict[str, str]:
    """'user=uid,item=sku' -> {'user': 'uid', 'item': 'sku'} (argparse type; bad syntax exits 2)."""
    mapping = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise argparse.ArgumentTypeError(f"{pair!r} is not KEY=COLUMN")
        mapping[key.strip()] = value.strip()
    return mapping


def _add_source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--path", default=None, help="data folder or file (ml-100k, ml-1m: their wheels)"
    )
    parser.add_argument(
        "--mode", choices=MODES, default="strict", help="bad rows: fail or set aside"
    )
    parser.add_argument(
        "--map",
        dest="mapping",
        type=parse_mapping,
        default=None,
        help="table columns, e.g. user=uid,item=sku,timestamp=ts,rating=stars",
    )


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `raie data ...` sub-commands to the `raie` parser."""
    data = sub.add_parser("data", parents=[common], help="describe, snapshot and validate data")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    describe = data_sub.add_parser("describe", parents=[common], help="summary numbers")
    describe.add_argument("--dataset", choices=FORMATS, default="ml-100k")
    _add_source_flags(describe)
    describe.set_defaults(handler=run_describe)

    snapshots = data_sub.add_parser("snapshots", parents=[common], help="cut into periods")
    snapshots.add_argument("--dataset", choices=FORMATS, default="ml-100k")
    snapshots.add_argument("--every", choices=EVERY, default="1w")
    snapshots.add_argument("--out", required=True, help="folder for period=YYYY-MM-DD/ parts")
    _add_source_flags(snapshots)
    snapshots.set_defaults(handler=run_snapshots)

    validate = data_sub.add_parser("validate", parents=[common], help="check a data source")
    validate.add_argument("data_path", metavar="PATH")
    validate.add_argument("--format", dest="fmt", choices=FORMATS, default=None)
    validate.add_argument("--mode", choices=MODES, default="strict")
    validate.add_argument("--map", dest="mapping", type=parse_mapping, default=None)
    validate.set_defaults(handler=run_validate)


def run_describe(args: argparse.Namespace) -> int:
    from tasks import ingest

    summary = ingest.describe_dataset(args.dataset, args.path, mode=args.mode, mapping=args.mapping)
    if args.json:
        print(json.dumps(summary))
        return 0
    per_user = summary["interactions_per_user"]
    print(
        f"{summary['name']}: {summary['ratings']} ratings, {summary['users']} users, "
        f"{summary['items']} items ({summary['catalog_items']} in the catalog)"
    )
    print(f"  period     {summary['first']} .. {summary['last']}")
    print(f"  positives  {summary['positives']} (rating >= {summary['positive_threshold']:g})")
    print(f"  sparsity   {summary['sparsity']:.4f}")
    print(
        f"  per user   min {per_user['min']}, median {per_user['median']:g}, max {per_user['max']}"
    )
    print(f"  ratings    {summary['ratings_histogram']}")
    if summary["quarantined"]:
        print(f"  quarantined {summary['quarantined']} bad rows")
    return 0


def run_snapshots(args: argparse.Namespace) -> int:
    from tasks import ingest

    paths = ingest.write_snapshots(
        args.dataset, args.out, args.every, path=args.path, mode=args.mode, mapping=args.mapping
    )
    snapshots = ingest.list_snapshots(args.out, args.every)
    if args.json:
        print(
            json.dumps(
                {
                    "out": args.out,
                    "snapshots": len(paths),
                    "first": snapshots[0][0].label,
                    "last": snapshots[-1][0].label,
                    "paths": [str(p) for p in paths],
                }
            )
        )
        return 0
    print(
        f"wrote {len(paths)} snapshots ({args.every}) to {args.out}: "
        f"{snapshots[0][0].label} .. {snapshots[-1][0].label}"
    )
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from tasks import ingest

    report = ingest.validate_source(args.data_path, args.fmt, mode=args.mode, mapping=args.mapping)
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"OK: {report['path']} ({report['format']}): {report['ratings']} interactions, "
        f"{report['users']} users, {report['items']} items, {report['first']} .. {report['last']}, "
        f"{report['quarantined']} rows quarantined"
    )
    return 0
