"""Flow-test fixtures: the Prefect test backend (one harness per session, heartbeats off:
1 s per flow) and small real slices of ML-100K."""

from collections.abc import Callable

import pytest


@pytest.fixture(scope="session")
def prefect_backend():
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture(scope="session")
def ml100k_slice(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], str]:
    """``write(n)``: the first ``n`` users of the real ML-100K as a parquet table file (schema
    column names), written once per ``n``; returns its path."""
    import polars as pl

    from raie_core.data import load_dataset

    written: dict[int, str] = {}

    def write(n_users: int) -> str:
        if n_users not in written:
            frame = load_dataset("ml-100k").interactions.filter(pl.col("user_id") <= n_users)
            path = tmp_path_factory.mktemp(f"slice-{n_users}") / "ml100k-slice.parquet"
            frame.write_parquet(path)
            written[n_users] = str(path)
        return written[n_users]

    return write
