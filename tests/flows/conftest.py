"""Prefect test backend for flow tests: one harness per session, heartbeats off (1 s per flow)."""

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
