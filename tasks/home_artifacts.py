"""A RAIE home's MLflow artifacts stay in that home.

MLflow's SQL stores keep absolute artifact locations (an experiment's, each run's, each
model version's storage location): a relative location is resolved against the process's
working directory when the experiment is created (MLflow 3.17), so they cannot be made
relative to the home. A home copied or moved with its `mlflow.db` therefore still names the
old home's `mlartifacts/`; new runs would write there and `models:/` URIs would read there.
`check_home_artifacts` refuses that case in one sentence instead.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from raie_core.errors import RaieStateError

SQLITE_PREFIX = "sqlite:///"


def check_home_artifacts(
    experiment: str, location: str, tracking_uri: str, artifact_root: Path
) -> None:
    """Raise RaieStateError when ``tracking_uri`` is the SQLite store beside ``artifact_root``
    (the home's own, `<home>/mlflow.db` next to `<home>/mlartifacts`) and ``location``, the
    artifact location of its experiment ``experiment``, lies outside ``artifact_root``.
    Other stores (a tracking server, a shared database) are the user's to place."""
    if not tracking_uri.startswith(SQLITE_PREFIX):
        return
    root = Path(artifact_root).resolve()
    database = Path(tracking_uri.removeprefix(SQLITE_PREFIX)).resolve()
    if database.parent != root.parent:
        return
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return
    folder = Path(unquote(parsed.path)).resolve()
    if folder != root and root not in folder.parents:
        raise RaieStateError(
            f"MLflow experiment {experiment} in {database} keeps its artifacts in {folder}, "
            f"outside this home's {root}: the home was copied or moved and MLflow stores "
            f"absolute artifact locations; run from the original home, or move {database.name} "
            "aside to start this home's MLflow history afresh"
        )
