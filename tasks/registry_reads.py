"""Reading the MLflow registry back: lineage rows, and the lookups that make tracking
idempotent and champion moves checkable (which registered version holds a bank version, an
adapter digest, a run's adapter). A mixin of `tasks.tracking.Tracker`, which supplies
``client``, ``_versions``, ``_versions_or_none`` and ``_registered_model``; it imports no
mlflow itself."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from raie_core.errors import RaieStateError
from raie_core.sharing import SHARED_KEY
from tasks.registry_names import SHARED_TOKEN, bank_model_name, flatten, region_model_name


class RegistryReads:
    # ---- lineage -------------------------------------------------------------------------
    def region_ids(self, dataset: str) -> list[int]:
        """Region ids that have a registered model, ascending."""
        prefix = f"raie-{dataset}-region-"
        ids = []
        token = None
        while True:
            page = self.client.search_registered_models(f"name LIKE '{prefix}%'", page_token=token)
            tokens = [m.name[len(prefix) :] for m in page]
            ids.extend(int(t) for t in tokens if t.isdigit())
            ids.extend(SHARED_KEY for t in tokens if t == SHARED_TOKEN)
            token = page.token
            if not token:
                return sorted(ids)

    def lineage(self, dataset: str, region_id: int | None = None) -> list[dict[str, Any]]:
        """Registered versions with their tags, by region then version (the chain order).

        Each row: model, region_id, version, run_id, source, created_utc, aliases, tags.
        With `region_id=None`, every region of the dataset.
        """
        ids = self.region_ids(dataset) if region_id is None else [int(region_id)]
        return [row for rid in ids for row in self._rows(region_model_name(dataset, rid), rid)]

    def bank_lineage(self, dataset: str) -> list[dict[str, Any]]:
        """The bank's registered versions (same rows as `lineage`, region_id None)."""
        return list(self._rows(bank_model_name(dataset), None))

    def _rows(self, name: str, region_id: int | None) -> Iterator[dict[str, Any]]:
        model = self._registered_model(name)
        if model is None:
            raise RaieStateError(f"no registered model {name} in the MLflow store")
        aliases = model.aliases
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        for version in self._versions(name):
            yield {
                "model": name,
                "region_id": region_id,
                "version": int(version.version),
                "run_id": version.run_id,
                "source": version.source,
                "created_utc": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(version.creation_timestamp / 1000)
                ),
                "aliases": sorted(by_version.get(str(version.version), [])),
                "tags": dict(sorted(version.tags.items())),
            }

    # ---- champion moves and adapter digests (issue 17) ------------------------------------
    def bank_model_version(self, dataset: str, bank_version: int) -> int | None:
        """The registered bank version whose `bank_version` tag is ``bank_version`` (the
        state store's number); None when that bank version was never registered."""
        name = bank_model_name(dataset)
        found = [
            int(v.version)
            for v in self._versions_or_none(name)
            if v.tags.get("bank_version") == str(int(bank_version))
        ]
        return max(found) if found else None

    def champion_bank_version(self, dataset: str) -> int | None:
        """The state-store bank version (`bank_version` tag) the `champion` alias names."""
        version = self.champion_version(dataset)
        if version is None:
            return None
        tags = self.client.get_model_version(bank_model_name(dataset), str(version)).tags
        return int(tags["bank_version"]) if "bank_version" in tags else None

    def tag_model_version(self, name: str, version: int, tags: Mapping[str, Any]) -> None:
        """Set (flattened) tags on one registered version, e.g. who/when/why of a move."""
        for key, value in flatten(tags).items():
            self.client.set_model_version_tag(name, str(int(version)), key, value)

    def region_version_with_digest(self, dataset: str, region_id: int, digest: str) -> int | None:
        """The registered version of a region whose `adapter_digest` tag is ``digest``."""
        name = region_model_name(dataset, region_id)
        found = [
            int(v.version)
            for v in self._versions_or_none(name)
            if v.tags.get("adapter_digest") == digest
        ]
        return min(found) if found else None

    def registered_from_run(self, name: str, run_id: str) -> int | None:
        """The version of registered model ``name`` created from ``run_id``, if any."""
        found = [int(v.version) for v in self._versions_or_none(name) if v.run_id == run_id]
        return min(found) if found else None

    def region_versions(self, dataset: str, region_id: int) -> list[int]:
        """The registered version numbers of a region, ascending ([] when none)."""
        name = region_model_name(dataset, region_id)
        return [int(v.version) for v in self._versions_or_none(name)]
