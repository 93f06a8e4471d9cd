"""`raie promote|rollback|status`: the operator's hold on which bank version serves.

`promote --version N` and `rollback [--to N]` move the champion in the state store (CURRENT)
and the MLflow alias together, under the dataset lock, recording who / when / why
(`tasks.champion`); `status` prints the champion, the newest candidate, the last gate decision
with its intervals, the last period processed and any publication whose MLflow records a
crash left incomplete, with the command that completes it.
"""

from __future__ import annotations

import argparse
import shlex

from flows import env
from flows.commands.output import print_json
from flows.commands.writer import dataset_writer
from raie_core.errors import RaieStateError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `raie promote`, `raie rollback` and `raie status` to the `raie` parser."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--dataset", default=env.DEFAULT_DATASET, help="dataset name (default ml-100k)"
    )
    data.add_argument("--reason", default=None, help="why (recorded with the move)")
    p = sub.add_parser("promote", parents=[common, data], help="make bank version N champion")
    p.add_argument("--version", type=int, required=True, help="bank version to serve")
    p.set_defaults(handler=_promote)
    p = sub.add_parser("rollback", parents=[common, data], help="serve an earlier version")
    p.add_argument("--to", type=int, default=None, help="bank version (default: the parent)")
    p.set_defaults(handler=_rollback)
    p = sub.add_parser("status", parents=[common], help="champion, candidate, last gate")
    p.add_argument("--dataset", default=env.DEFAULT_DATASET, help="dataset name (default ml-100k)")
    p.set_defaults(handler=_status)


def _store(args: argparse.Namespace):  # noqa: ANN202 - tasks.store.Store
    from tasks.store import Store

    return Store(env.raie_home(args.home), args.dataset)


def _promote(args: argparse.Namespace) -> int:
    with dataset_writer(args.home, args.dataset):  # before MLflow is imported
        from tasks.champion import move_champion, recover_champion
        from tasks.publish import finish_pending

        store = _store(args)
        recover_champion(store)
        finish_pending(store)  # a version whose publication a crash cut short comes first
        current = store.require_current()
        if args.version == current:
            raise RaieStateError(f"--version {args.version} is already the champion")
        move = move_champion(store, args.version, "promote", args.reason or "manual promote")
    return _done(args, move)


def _rollback(args: argparse.Namespace) -> int:
    with dataset_writer(args.home, args.dataset):  # before MLflow is imported
        from tasks.champion import move_champion, recover_champion
        from tasks.publish import finish_pending

        store = _store(args)
        recover_champion(store)
        finish_pending(store)  # a version whose publication a crash cut short comes first
        current = store.read_manifest(store.require_current())
        target = current.parent_version if args.to is None else args.to
        if target is None:
            raise RaieStateError(
                f"v{current.version} is the first version; nothing to roll back to"
            )
        if target >= current.version:
            raise RaieStateError(
                f"--to {target} should be older than the champion v{current.version}; "
                "use `raie promote --version` to move forward"
            )
        move = move_champion(store, target, "rollback", args.reason or "manual rollback")
    return _done(args, move)


def _done(args: argparse.Namespace, move) -> int:  # noqa: ANN001 - tasks.champion.ChampionMove
    from dataclasses import asdict

    if args.json:
        print_json(asdict(move))
    else:
        print(
            f"champion of {args.dataset}: v{move.version} (was v{move.previous}), "
            f"{move.action} by {move.who} at {move.when}: {move.why}"
        )
    return 0


def _status(args: argparse.Namespace) -> int:
    env.check_tracking()
    from tasks.champion import champion_status
    from tasks.publish import pending_publications

    store = _store(args)
    status = champion_status(store)
    status["pending_publications"] = [
        {**pending, "repair": _repair(store, pending)} for pending in pending_publications(store)
    ]
    if args.json:
        print_json(status)
        return 0
    for line in status_lines(status):
        print(line)
    return 0


def _repair(store, pending: dict) -> str:  # noqa: ANN001 - tasks.store.Store
    """The command that completes a pending publication: a setup's is finished by running
    setup again, an update's by any update of the dataset (that period's is skipped, so
    nothing new is published)."""
    where = f"--home {shlex.quote(str(store.home))} --dataset {shlex.quote(store.dataset)}"
    if pending["kind"] == "setup":
        return f"raie setup {where}"
    return f"raie update {where} --period {pending['period']}"


def status_lines(status: dict) -> list[str]:
    """The human-readable `raie status`."""
    champ, alias, newest = status["champion"], status["mlflow_champion"], status["newest"]
    lines = [
        f"dataset {status['dataset']}",
        f"champion      v{champ['version']} ({champ['period']}); MLflow @champion -> bank "
        f"v{alias['bank_version']} (model version {alias['model_version']})",
        f"newest        v{newest['version']} ({newest['period']}), gate "
        f"{'passed' if newest['passed'] else 'REJECTED'}",
        f"last period   {status['last_period']}",
    ]
    gate = status["last_gate"]
    if gate:
        verdict = "pass" if gate["passed"] else "fail"
        lines.append(f"last gate     v{gate['version']}: {verdict} — {gate['reason']}")
    rejected = status["rejected_since_champion"]
    if rejected:
        lines.append(
            f"REJECTED      {len(rejected)} candidate(s) since the champion: "
            + ", ".join(f"v{r['version']} ({r['period']})" for r in rejected)
            + f"; the champion has served since {champ['period']}"
        )
    move = status["last_move"]
    if move:
        lines.append(
            f"last move     {move['action']} to v{move['version']} by {move['who']} at "
            f"{move['when']}: {move['why']}"
        )
    for pending in status.get("pending_publications", ()):
        lines.append(
            f"PENDING       v{pending['version']} ({pending['period']}) is published but its "
            f"MLflow records are incomplete; `{pending['repair']}` completes them"
        )
    if status["pending_move"]:
        lines.append(
            f"PENDING       a move to v{status['pending_move']['version']} was interrupted; "
            "the next update, promote or rollback finishes it"
        )
    return lines
