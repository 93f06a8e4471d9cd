"""`raie data describe|snapshots|validate|drift`: look at, cut, check and drift interaction data.

Data errors print one sentence and exit 1 (flows/cli.py); bad flags exit 2 (argparse).
"""

import argparse
import datetime

# Handlers import tasks.ingest when they run, so building the parser does not import polars.
from flows.choices import EVERY, FORMATS, MODES
from flows.commands import replay
from flows.commands.output import print_json

DATASET_HELP = "data source format"
MODE_HELP = "bad rows: fail (strict) or set aside in quarantine.parquet"
MAP_HELP = "table columns, e.g. user=uid,item=sku,timestamp=ts,rating=stars"


def parse_mapping(text: str) -> dict[str, str]:
    """'user=uid,item=sku' -> {'user': 'uid', 'item': 'sku'} (argparse type; bad syntax exits 2)."""
    mapping = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise argparse.ArgumentTypeError(f"{pair!r} is not KEY=COLUMN")
        mapping[key.strip()] = value.strip()
    return mapping


def parse_onset(text: str) -> datetime.datetime:
    """'1997-12-20' (midnight UTC) or '1997-12-19T21:30:58' (UTC unless an offset is given)."""
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date like 1997-12-20 or a time like 1997-12-19T21:30:58"
        ) from None


def _add_source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--path", default=None, help="data folder or file (ml-100k, ml-1m: their wheels)"
    )
    parser.add_argument("--mode", choices=MODES, default="strict", help=MODE_HELP)
    parser.add_argument("--map", dest="mapping", type=parse_mapping, default=None, help=MAP_HELP)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `raie data ...` sub-commands to the `raie` parser."""
    data = sub.add_parser("data", parents=[common], help="describe, snapshot and validate data")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    describe = data_sub.add_parser("describe", parents=[common], help="summary numbers")
    describe.add_argument("--dataset", choices=FORMATS, default="ml-100k", help=DATASET_HELP)
    _add_source_flags(describe)
    describe.set_defaults(handler=run_describe)

    snapshots = data_sub.add_parser("snapshots", parents=[common], help="cut into periods")
    snapshots.add_argument("--dataset", choices=FORMATS, default="ml-100k", help=DATASET_HELP)
    snapshots.add_argument("--every", choices=EVERY, default="1w", help="period length")
    snapshots.add_argument("--out", required=True, help="folder for period=YYYY-MM-DD/ parts")
    _add_source_flags(snapshots)
    snapshots.set_defaults(handler=run_snapshots)

    validate = data_sub.add_parser("validate", parents=[common], help="check a data source")
    validate.add_argument("data_path", metavar="PATH", help="data folder or file")
    validate.add_argument(
        "--format", dest="fmt", choices=FORMATS, default=None, help="default: detected"
    )
    validate.add_argument("--mode", choices=MODES, default="strict", help=MODE_HELP)
    validate.add_argument("--map", dest="mapping", type=parse_mapping, default=None, help=MAP_HELP)
    validate.set_defaults(handler=run_validate)

    drift = data_sub.add_parser(
        "drift", parents=[common], help="give a seeded cohort a new taste (what-if data)"
    )
    drift.add_argument("--dataset", choices=FORMATS, default="ml-100k", help=DATASET_HELP)
    drift.add_argument("--out", required=True, help="folder for interactions.parquet, cohort.txt")
    drift.add_argument("--genre", required=True, help="catalog genre the cohort turns to")
    drift.add_argument(
        "--share", type=float, required=True, help="share of the users active after the onset"
    )
    drift.add_argument(
        "--onset", type=parse_onset, required=True, help="UTC date or time the drift starts"
    )
    drift.add_argument("--seed", type=int, default=0, help="the only randomness (default 0)")
    _add_source_flags(drift)
    drift.set_defaults(handler=run_drift)
    replay.register(data_sub, common)


def run_describe(args: argparse.Namespace) -> int:
    from tasks import ingest

    summary = ingest.describe_dataset(args.dataset, args.path, mode=args.mode, mapping=args.mapping)
    if args.json:
        print_json(summary)
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
        print_json(
            {
                "out": args.out,
                "snapshots": len(paths),
                "first": snapshots[0][0].label,
                "last": snapshots[-1][0].label,
                "paths": [str(p) for p in paths],
            }
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
        print_json(report)
        return 0
    print(
        f"OK: {report['path']} ({report['format']}): {report['ratings']} interactions, "
        f"{report['users']} users, {report['items']} items, {report['first']} .. {report['last']}, "
        f"{report['quarantined']} rows quarantined"
    )
    return 0


def run_drift(args: argparse.Namespace) -> int:
    from tasks import drift

    record = drift.write_drift(
        args.dataset,
        args.out,
        genre=args.genre,
        share=args.share,
        onset=args.onset,
        seed=args.seed,
        path=args.path,
        mode=args.mode,
        mapping=args.mapping,
    )
    if args.json:
        print_json(record)
        return 0
    genre = record["genre"]
    print(f"drift: {args.dataset} -> {record['table']}")
    print(
        f"  onset    {record['onset']}; {genre}: {record['genre_films']} films in the catalog, "
        f"{record['drawable_films']} ever rated (drawn popularity-weighted)"
    )
    print(
        f"  cohort   {record['cohort_users']} of {record['active_users']} users with a positive "
        f"after the onset (share {record['share']:g}, seed {record['seed']}) -> "
        f"{record['cohort_file']}"
    )
    reused = (
        f"; {record['reused']} draws reuse a film for a user with more positives after the "
        f"onset than unseen {genre} films"
        if record["reused"]
        else ""
    )
    print(
        f"  moved    {record['moved']} positives after the onset to {genre} films the user never "
        f"rated ({record['distinct_films']} distinct films{reused})"
    )
    print(
        f"  use      raie bench quality --dataset table --path {record['table']} "
        f"--cohort {record['cohort_file']}"
    )
    return 0
