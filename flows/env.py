"""Process environment for the `raie` CLI, flows and tests: offline, quiet, per-home state.

Set before prefect or mlflow is imported. Only flows/ and tests read the environment.
"""

import os
from pathlib import Path

DEFAULT_HOME = ".raie"


def raie_home(home: str | os.PathLike | None = None) -> Path:
    """The RAIE home: `--home`, else $RAIE_HOME, else ./.raie (absolute)."""
    return Path(home or os.environ.get("RAIE_HOME") or DEFAULT_HOME).resolve()


def configure(home: str | os.PathLike | None = None) -> Path:
    """Point Prefect and MLflow at the home (unless the user set them) and go offline."""
    root = raie_home(home)
    (root / "prefect").mkdir(parents=True, exist_ok=True)
    os.environ["RAIE_HOME"] = str(root)
    defaults = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "raie_core",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        "GIT_PYTHON_REFRESH": "quiet",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    return root
