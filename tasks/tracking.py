"""MLflow tracking and adapter lineage: the only module of raie that imports mlflow.

Runs are addressed by explicit run ids through `MlflowClient` (MLflow's active run is
thread-local and Prefect runs tasks on threads). The tracking URI is the caller's
(`MLFLOW_TRACKING_URI`, set by flows/env.configure, when `tracking_uri` is None). With a
local store every experiment gets an explicit artifact location under `artifact_root`, so
artifacts never land in the process's working directory; with a tracking server
(`http(s)://`, shared by a team and by Dask workers) the server's artifact store decides,
and artifacts are uploaded through it (deployments/README.md).

Registry layout (DESIGN §7): one registered model per region, `raie-<dataset>-region-<id>`,
one version per trained adapter (created from `runs:/<run_id>/<path>`, since MLflow 3's
`register_model` refuses plain folders), tagged with its lineage; the bank is
`raie-<dataset>-bank` and its alias `champion` names the serving version.
"""

import functools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.types.schema import Array, ColSpec, DataType, ParamSchema, ParamSpec, Schema

from raie_core.errors import RaieStateError
from tasks.registry_names import (
    bank_model_name,
    flatten,
    metric_key,
    region_model_name,
)
from tasks.registry_reads import RegistryReads

# Table creation and migrations log at INFO on every new store; keep the CLI quiet.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)

CHAMPION = "champion"
REMOTE_SCHEMES = ("http://", "https://")
"""Tracking URIs of an MLflow tracking server."""
PARENT_RUN_TAG = "mlflow.parentRunId"


class RunOutcome(StrEnum):
    """How a run ended (MLflow run statuses)."""

    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


def _local(uri: str) -> Path:
    """A local artifact location (a path or a file: URI) as an absolute path."""
    return Path(uri.removeprefix("file://")).resolve()


def _relink_artifacts(saved: Path, artifacts: Mapping[str, Any]) -> None:
    """Replace the copies `save_model` made of a pyfunc model's local artifacts (``artifacts``:
    the MLmodel's name -> {path, uri}) by hard links to the home's files, so `link_artifacts`
    stores them once (a file that differs in size, or another file system, stays a copy)."""
    for entry in artifacts.values():
        source, copied = Path(entry["uri"]), saved / entry["path"]
        files = [p for p in source.rglob("*") if p.is_file()] if source.is_dir() else [source]
        for path in files:
            dest = copied / path.relative_to(source) if source.is_dir() else copied
            if dest.is_file() and dest.stat().st_size == path.stat().st_size:
                _link_or_copy(path, dest)


def _link_or_copy(source: Path, dest: Path) -> None:
    """Replace ``dest`` by a hard link to ``source`` (a copy across file systems)."""
    dest.unlink(missing_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def pyfunc_signature(
    inputs: Mapping[str, str], outputs: Mapping[str, str], params: Mapping[str, tuple[str, Any]]
) -> ModelSignature:
    """A declared pyfunc signature: columns by name -> MLflow type name ("long", "double"; a
    trailing "[]" for a list column), params by name -> (type name, default)."""

    def columns(spec: Mapping[str, str]) -> Schema:
        return Schema(
            [
                ColSpec(Array(DataType[kind[:-2]]) if kind.endswith("[]") else DataType[kind], name)
                for name, kind in spec.items()
            ]
        )

    return ModelSignature(
        inputs=columns(inputs),
        outputs=columns(outputs),
        params=ParamSchema(
            [ParamSpec(name, DataType[kind], default) for name, (kind, default) in params.items()]
        ),
    )


@functools.lru_cache(maxsize=8)
def _client(uri: str) -> MlflowClient:
    """One client per tracking URI and process: building one scans the installed entry
    points for store plugins (about 20 ms), and a nightly update asked for ~170."""
    return MlflowClient(tracking_uri=uri)


def _is(error: MlflowException, code: int) -> bool:
    return error.error_code == ErrorCode.Name(code)


@dataclass(frozen=True)
class Tracker(RegistryReads):
    """MLflow access for one RAIE home (picklable: two plain values).

    artifact_root: absolute folder under which each experiment gets `<experiment name>/`.
    tracking_uri: None = MLflow's resolution (`MLFLOW_TRACKING_URI`).
    """

    artifact_root: Path
    tracking_uri: str | None = None

    @property
    def client(self) -> MlflowClient:
        return _client(self.tracking_uri or mlflow.get_tracking_uri())

    @property
    def server(self) -> bool:
        """Whether the store is a tracking server (its artifact store, not the home's)."""
        return self.client.tracking_uri.startswith(REMOTE_SCHEMES)

    # ---- runs ----------------------------------------------------------------------------
    def experiment_id(self, name: str) -> str:
        """The id of experiment `name`, created with an explicit artifact location if new; one
        located outside `artifact_root` (the home moved, was copied or restored) is renamed
        `<name>@<id>`, keeping its runs, and a new one made so no run writes there. On a
        tracking server the server's artifact store holds every experiment's artifacts."""
        client = self.client
        experiment = client.get_experiment_by_name(name)
        location = None if self.server else str(Path(self.artifact_root).resolve() / name)
        if (
            experiment is not None
            and location is not None
            and _local(experiment.artifact_location) != Path(location)
        ):
            client.rename_experiment(experiment.experiment_id, f"{name}@{experiment.experiment_id}")
            experiment = None
        if experiment is None:
            try:
                return client.create_experiment(name, artifact_location=location)
            except MlflowException as error:
                if not _is(error, RESOURCE_ALREADY_EXISTS):
                    raise
                experiment = client.get_experiment_by_name(name)
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

    def start_run(
        self,
        experiment: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        """Create a run (nested under `parent_run_id` if given) and log its params; return its id."""
        all_tags = flatten(tags or {})
        if parent_run_id is not None:
            all_tags[PARENT_RUN_TAG] = parent_run_id
        run = self.client.create_run(self.experiment_id(experiment), run_name=name, tags=all_tags)
        if params:
            self.log_params(run.info.run_id, params)
        return run.info.run_id

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Log (nested) params; values are flattened to strings."""
        items = [Param(k, v[:6000]) for k, v in flatten(params).items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[start : start + 100])

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in flatten(tags).items()])

    def log_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int | None = None
    ) -> None:
        """Log numeric metrics at `step` (0 if None); keys are made MLflow-safe (`metric_key`)."""
        now = int(time.time() * 1000)
        items = [Metric(metric_key(k), float(v), now, int(step or 0)) for k, v in metrics.items()]
        for start in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[start : start + 1000])

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str | None = None) -> str:
        """Copy a folder into the run's artifacts; return its `runs:/` URI."""
        self.client.log_artifacts(run_id, str(local_dir), artifact_path)
        return f"runs:/{run_id}/{artifact_path or ''}".rstrip("/")

    def link_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> str:
        """`log_artifacts` of files the home already stores (adapters, bank versions), hard-
        linked into a local artifact store, not copied (copied across file systems)."""
        uri = self.client.get_run(run_id).info.artifact_uri
        if urlparse(uri).scheme not in ("", "file"):  # a server's store: mlflow-artifacts:/…
            return self.log_artifacts(run_id, local_dir, artifact_path)
        target = _local(uri) / artifact_path
        for path in sorted(p for p in Path(local_dir).rglob("*") if p.is_file()):
            dest = target / path.relative_to(local_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(path, dest)
        return f"runs:/{run_id}/{artifact_path}"

    def log_pyfunc(self, run_id: str, artifact_path: str, **model: Any) -> str:
        """Save a pyfunc model (``model``: `mlflow.pyfunc.save_model`'s keywords) and log it
        under the run at ``artifact_path``; return its `runs:/` URI. A model saved without a
        signature (MLflow only warns when it cannot infer one) is an error here."""
        with tempfile.TemporaryDirectory(prefix="raie-pyfunc-") as tmp:
            saved = Path(tmp) / "model"
            mlflow.pyfunc.save_model(path=str(saved), **model)
            spec = mlflow.models.Model.load(str(saved))
            if spec.signature is None:
                raise RaieStateError(
                    f"pyfunc model {artifact_path} of run {run_id} was saved without a signature"
                )
            _relink_artifacts(saved, spec.flavors["python_function"].get("artifacts", {}))
            return self.link_artifacts(run_id, saved, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_dict(self, run_id: str, dictionary: Mapping[str, Any], artifact_file: str) -> None:
        self.client.log_dict(run_id, dict(dictionary), artifact_file)

    def end_run(self, run_id: str, status: RunOutcome = RunOutcome.FINISHED) -> None:
        self.client.set_terminated(run_id, status=RunOutcome(status).value)

    def find_run(self, experiment: str, tags: Mapping[str, Any]) -> str | None:
        """The id of the oldest run of ``experiment`` carrying every one of ``tags`` (a resumed
        publication finds the run an interrupted one made); None when there is none."""
        clauses = " and ".join(f"tags.`{k}` = '{v}'" for k, v in flatten(tags).items())
        runs = self.client.search_runs(
            [self.experiment_id(experiment)], clauses, order_by=["attributes.start_time ASC"]
        )
        return runs[0].info.run_id if runs else None

    def run_status(self, run_id: str) -> str:
        """The run's MLflow status (RUNNING, FINISHED, FAILED, KILLED)."""
        return self.client.get_run(run_id).info.status

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.tags)

    def has_metrics(self, run_id: str) -> bool:
        return bool(self.client.get_run(run_id).data.metrics)

    def run_info(self, run_id: str) -> dict[str, Any]:
        """Status, name, parent, params, metrics and tags of a run (plain dicts)."""
        run = self.client.get_run(run_id)
        return {
            "run_id": run_id,
            "name": run.info.run_name,
            "status": run.info.status,
            "parent_run_id": run.data.tags.get(PARENT_RUN_TAG),
            "artifact_uri": run.info.artifact_uri,
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        }

    # ---- registry ------------------------------------------------------------------------
    def _ensure_model(self, name: str, description: str) -> None:
        client = self.client
        try:
            client.get_registered_model(name)
        except MlflowException as error:
            if not _is(error, RESOURCE_DOES_NOT_EXIST):
                raise
            try:
                client.create_registered_model(name, description=description)
            except MlflowException as again:
                if not _is(again, RESOURCE_ALREADY_EXISTS):
                    raise

    def _versions(self, name: str) -> list[Any]:
        versions = []
        token = None
        while True:
            page = self.client.search_model_versions(f"name = '{name}'", page_token=token)
            versions.extend(page)
            token = page.token
            if not token:
                return sorted(versions, key=lambda v: int(v.version))

    def _register(
        self, name: str, description: str, run_id: str, artifact_path: str, tags: Mapping[str, Any]
    ) -> int:
        self._ensure_model(name, description)
        flat = flatten(tags)
        if "parent_version" not in flat:
            existing = self._versions(name)
            flat["parent_version"] = existing[-1].version if existing else "none"
        version = self.client.create_model_version(
            name, source=f"runs:/{run_id}/{artifact_path}", run_id=run_id, tags=flat
        )
        return int(version.version)

    def register_region_adapter(
        self, dataset: str, region_id: int, run_id: str, artifact_path: str, tags: Mapping[str, Any]
    ) -> int:
        """Register the region's pyfunc model logged at `runs:/<run_id>/<artifact_path>` (the
        base, the shared step's result and the region's adapter) as a new version.

        tags: lineage (period, action, bank_version, data_digest, decisions, sample counts,
        base_model_digest, ...). `parent_version` defaults to the region's latest version.
        Returns the new version number of `raie-<dataset>-region-<id>`.
        """
        name = region_model_name(dataset, region_id)
        description = f"RAIE model of region {region_id} on {dataset}; one version per edit."
        return self._register(
            name, description, run_id, artifact_path, {"region_id": region_id, **tags}
        )

    def register_bank(
        self, dataset: str, run_id: str, artifact_path: str, tags: Mapping[str, Any]
    ) -> int:
        """Register a bank version (regions + adapter map) as `raie-<dataset>-bank`."""
        description = f"RAIE region bank of {dataset}; alias @{CHAMPION} is the serving version."
        return self._register(bank_model_name(dataset), description, run_id, artifact_path, tags)

    def set_champion(self, dataset: str, version: int) -> None:
        """Move the `champion` alias of the bank to `version` (after a passed quality gate)."""
        self.client.set_registered_model_alias(
            bank_model_name(dataset), CHAMPION, str(int(version))
        )

    def champion_version(self, dataset: str) -> int | None:
        """The bank version the `champion` alias points at; None when there is none yet."""
        try:
            version = self.client.get_model_version_by_alias(bank_model_name(dataset), CHAMPION)
        except MlflowException as error:
            if _is(error, RESOURCE_DOES_NOT_EXIST) or _is(error, INVALID_PARAMETER_VALUE):
                return None
            raise
        return int(version.version)

    def _versions_or_none(self, name: str) -> list[Any]:
        return [] if self._registered_model(name) is None else self._versions(name)

    def _registered_model(self, name: str) -> Any:
        """The registered model ``name``, None when it does not exist."""
        try:
            return self.client.get_registered_model(name)
        except MlflowException as error:
            if _is(error, RESOURCE_DOES_NOT_EXIST):
                return None
            raise
