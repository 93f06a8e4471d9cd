"""Process environment for the `raie` CLI, flows and tests: offline, quiet, per-home state.

Set before prefect or mlflow is imported. Only flows/ and tests read the environment.
"""

import os
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from raie_core.errors import RaieStateError

DEFAULT_HOME = ".raie"
FAULT_ENV = "RAIE_FAULT"
"""Test-only: a `tasks.faults` point at which the process SIGKILLs itself (reliability suite)."""
DEFAULT_DATASET = "ml-100k"
"""The dataset a command, flow or config uses when none is named (here, not in flows/params.py,
so that building the CLI parser imports no torch or pydantic)."""


def raie_home(home: str | os.PathLike | None = None) -> Path:
    """The RAIE home: `--home`, else $RAIE_HOME, else ./.raie (absolute)."""
    return Path(home or os.environ.get("RAIE_HOME") or DEFAULT_HOME).resolve()


def configure(home: str | os.PathLike | None = None) -> Path:
    """Point Prefect and MLflow at the home (unless the user set them) and go offline.

    Nothing is created: a command that is refused leaves the home as it was. A command about
    to start a Prefect server calls `prefect_home` once its own checks have passed."""
    root = raie_home(home)
    if root.exists() and not root.is_dir():
        raise RaieStateError(f"home {root} is a file, not a folder; pass --home with a folder")
    blocking = next((p for p in root.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise RaieStateError(f"home {root} cannot be used: {blocking} is a file, not a folder")
    _point_stores(root)
    os.environ["RAIE_HOME"] = str(root)
    _set_default("PREFECT_HOME", str(root / "prefect"))
    defaults = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "raie_core",
        "GIT_PYTHON_REFRESH": "quiet",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    # Importing prefect tries to create PREFECT_HOME and warns when the home does not exist
    # yet; a command that runs flows creates it first (`prefect_home`), the others need none.
    warnings.filterwarnings("ignore", message="Failed to create the Prefect home directory")
    if os.environ.get(FAULT_ENV):
        from tasks import faults

        faults.arm(os.environ[FAULT_ENV])
    return root


def prefect_home(home: str | os.PathLike | None = None) -> Path:
    """Create the home's Prefect folder (its API database) before a flow starts a server;
    a home that cannot hold it is one sentence, before Prefect starts. Returns the folder."""
    folder = raie_home(home) / "prefect"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RaieStateError(
            f"home {folder.parent} cannot be used: creating {folder} failed ({error.strerror})"
        ) from None
    return folder


MLFLOW_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
"""MLflow's process settings for raie: offline and quiet (the user's values win)."""
_DEFAULTED: dict[str, str] = {}
"""Per-home values this process set because the user had not: a later home replaces them."""


def configure_stores(home: str | os.PathLike | None = None) -> Path:
    """The RAIE home of a flow run, with MLflow pointed at its store (`<home>/mlflow.db`)
    unless the user chose another (MLFLOW_TRACKING_URI set outside raie, e.g. a tracking
    server). Every flow calls it first, so a run a Prefect worker starts from prefect.yaml
    logs where the same run started by the CLI does; a tracking server that does not answer
    stops the run here, before any work (`check_tracking`). Returns the home (absolute)."""
    root = _point_stores(home)
    check_tracking()
    return root


def _point_stores(home: str | os.PathLike | None) -> Path:
    root = raie_home(home)
    _set_default("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    for key, value in MLFLOW_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return root


TRACKING_PROBE_TIMEOUT_S = 5.0
"""Seconds an HTTP MLflow tracking server has to answer `/health` before a command or flow
stops with one sentence (MLflow's client would retry a refused connection for minutes, after
the period's work is done)."""


def check_tracking() -> None:
    """One sentence (RaieStateError) when MLFLOW_TRACKING_URI names an HTTP tracking server
    that does not answer; a store that is a file (sqlite, the default) is not probed."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=TRACKING_PROBE_TIMEOUT_S):
            pass
    except urllib.error.HTTPError:
        return  # it answered (a proxy without /health): reachable
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise RaieStateError(
            f"the MLflow tracking server {uri} (MLFLOW_TRACKING_URI) cannot be reached "
            f"({reason}); start it, or unset MLFLOW_TRACKING_URI to use the home's own store"
        ) from None


def _set_default(key: str, value: str) -> None:
    """Set ``key`` unless the user set it (a value this process did not put there)."""
    if key not in os.environ or os.environ[key] == _DEFAULTED.get(key):
        os.environ[key] = value
        _DEFAULTED[key] = value


def quiet_console() -> None:
    """Keep Prefect's INFO logs in its API (the UI) but off the terminal; progress bars instead."""
    for handler in ("CONSOLE", "CONSOLE_FLOW_RUNS", "CONSOLE_TASK_RUNS"):
        os.environ.setdefault(f"PREFECT_LOGGING_HANDLERS_{handler}_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # "Inferring model signature"


DASK_WORKERS = 2
"""Worker processes (one thread each) of the loopback LocalCluster that RAIE_TASK_RUNNER=dask
starts when RAIE_DASK_ADDRESS names no cluster (`raie bench pipeline --workers` varies it)."""


def region_task_runner(runner: str | None = None, workers: int = DASK_WORKERS):  # noqa: ANN201
    """How region adapters train (a Prefect TaskRunner): one after another in-process
    (default), or fanned out on a Dask cluster when ``runner`` (default $RAIE_TASK_RUNNER) is
    "dask" (RAIE_DASK_ADDRESS, empty = a loopback LocalCluster of ``workers`` processes)."""
    dask = dask_regions() if runner is None else runner.lower() == "dask"
    if dask:
        from prefect_dask import DaskTaskRunner

        address = os.environ.get("RAIE_DASK_ADDRESS") or None
        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "host": "127.0.0.1"}
        )
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=1)


def dask_regions() -> bool:
    """Whether region adapters fan out on Dask ($RAIE_TASK_RUNNER, `region_task_runner`)."""
    return os.environ.get("RAIE_TASK_RUNNER", "").lower() == "dask"


@contextmanager
def environ_set(name: str, value: str) -> Iterator[str]:
    """Set environment variable ``name`` to ``value`` for the block (restored afterwards)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield value
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def workers_report_here():  # noqa: ANN201 - a context manager
    """Point the Dask workers started inside the block at this process's Prefect API: an
    ephemeral server has no URL in the environment, so each worker process would start a
    server of its own and report its task runs there. Starts the ephemeral server now (the
    one the flow then uses) when PREFECT_API_URL names none. Yields the URL."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        url = str(client.api_url).rstrip("/")
    return environ_set("PREFECT_API_URL", url)


def torch_threads() -> int:
    """Set torch's intra-op threads from RAIE_TORCH_THREADS (default 1): the small backbones
    run as fast on one thread and then do not fight Prefect and MLflow for the cores."""
    import torch

    threads = int(os.environ.get("RAIE_TORCH_THREADS", "1"))
    torch.set_num_threads(threads)
    return threads
