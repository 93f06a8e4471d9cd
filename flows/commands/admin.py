"""`raie ui` (the MLflow UI on 127.0.0.1) and `raie lineage` (a region's chain of versions).

`raie ui` runs `mlflow server` as a child process against the home's tracking store with job
execution off and one worker (ready in seconds instead of ~20 s and 7 extra processes,
research/ecosystem.md §2.1), waits for `/health`, opens a browser unless `--no-browser`, and
stops the child's whole process group on Ctrl-C or SIGTERM.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path
from types import FrameType
from typing import Any

from flows import env, reaper
from flows.commands.output import print_json
from raie_core.errors import RaieStateError

HOST = "127.0.0.1"
DEFAULT_PORT = 5000
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `raie ui` and `raie lineage` to the `raie` parser."""
    ui = sub.add_parser("ui", parents=[common], help="open the MLflow UI on 127.0.0.1")
    ui.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    ui.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    ui.set_defaults(handler=run_ui, watched=True)  # starts `mlflow server`
    lineage = sub.add_parser("lineage", parents=[common], help="print adapter lineage")
    lineage.add_argument("--region", type=int, default=None, help="one region id (default all)")
    lineage.add_argument("--dataset", default="ml-100k", help="dataset name (default ml-100k)")
    lineage.set_defaults(handler=run_lineage)


# ---- raie ui -----------------------------------------------------------------------------
def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class UiServer:
    """An `mlflow server` child in its own process group (stop() ends the whole group)."""

    def __init__(self, tracking_uri: str, artifacts_dir: Path, port: int, log_path: Path) -> None:
        if not port_is_free(port):
            raise RaieStateError(f"port {port} on {HOST} is in use; pass --port with a free one")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.url = f"http://{HOST}:{port}"
        self.log_path = log_path
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            tracking_uri,
            "--artifacts-destination",
            str(artifacts_dir),
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        child_env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Poll `/health` until it answers; a dead child or a timeout raises RaieStateError."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-600:]
                raise RaieStateError(
                    f"the MLflow server exited with {self.process.returncode}: {tail}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        self.stop()
        raise RaieStateError(
            f"the MLflow server did not answer on {self.url} within {timeout_s:.0f} s"
        )

    def stop(self) -> int:
        """SIGINT the process group, then SIGTERM/SIGKILL if it lingers; return the exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                continue
        try:
            os.killpg(self.pid, signal.SIGKILL)  # stragglers of the group (uvicorn children)
        except ProcessLookupError:
            pass
        return self.process.wait()

    def __enter__(self) -> "UiServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_ui(home: Path, port: int) -> UiServer:
    """Start the MLflow UI for `home` and return once it answers (the `raie ui` code path)."""
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    server = UiServer(tracking_uri, home / "mlartifacts", port, home / "logs" / "mlflow-ui.log")
    server.wait_ready()
    return server


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_ui(args: argparse.Namespace) -> int:
    home = env.raie_home(args.home)
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if tracking_uri.startswith(("http://", "https://")):
        _announce(args, {"url": tracking_uri, "pid": None}, "MLflow tracking server")
        if not args.no_browser:
            with reaper.unmarked():  # the browser outlives the command
                webbrowser.open(tracking_uri)
        return 0
    # Ctrl-C and SIGTERM both stop the child group (SIGINT may arrive ignored from `&` shells).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    server = start_ui(home, args.port)
    try:
        _announce(
            args, {"url": server.url, "pid": server.pid, "log": str(server.log_path)}, "MLflow UI"
        )
        if not args.no_browser:
            with reaper.unmarked():
                webbrowser.open(server.url)
        code = server.process.wait()
        raise RaieStateError(
            f"the MLflow server stopped with exit code {code}; see {server.log_path}"
        )
    except KeyboardInterrupt:
        server.stop()
        print("raie: MLflow UI stopped", file=sys.stderr)
        return 0


def _announce(args: argparse.Namespace, info: dict[str, Any], what: str) -> None:
    if args.json:
        print_json(info)
    else:
        print(f"{what} at {info['url']}  (Ctrl-C to stop)", flush=True)


# ---- raie lineage ------------------------------------------------------------------------
LEADING_TAGS = (
    "period",
    "action",
    "parent_version",
    "bank_version",
    "champion.action",
    "champion.by",
)


def _format_row(row: dict[str, Any]) -> str:
    tags = dict(row["tags"])
    lead = [f"{key}={tags.pop(key)}" for key in LEADING_TAGS if key in tags]
    tags.pop("region_id", None)
    rest = [f"{key}={value}" for key, value in tags.items()]
    alias = f"  @{','.join(row['aliases'])}" if row["aliases"] else ""
    return (
        f"  v{row['version']:<3} {row['created_utc']}  run {row['run_id'][:8]}  "
        + "  ".join(lead + rest)
        + alias
    )


def run_lineage(args: argparse.Namespace) -> int:
    from tasks.store import Store
    from tasks.tracking import Tracker

    home = env.raie_home(args.home)
    env.check_tracking()
    tracker = Tracker(artifact_root=Store(home, args.dataset).mlflow_artifacts_dir)
    regions = tracker.lineage(args.dataset, region_id=args.region)
    if not regions:
        raise RaieStateError(
            f"no registered adapters for dataset {args.dataset} in {home}; run `raie setup` first"
        )
    bank: list[dict[str, Any]] = []
    if args.region is None:
        try:
            bank = tracker.bank_lineage(args.dataset)
        except RaieStateError:
            bank = []
    if args.json:
        print_json({"dataset": args.dataset, "regions": regions, "bank": bank})
        return 0
    model = None
    for row in regions:
        if row["model"] != model:
            model = row["model"]
            print(f"region {row['region_id']}  ({model})")
        print(_format_row(row))
    if bank:
        print(f"bank  ({bank[0]['model']})")
        for row in bank:
            print(_format_row(row))
    return 0
