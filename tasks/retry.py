"""The retry rule of raie's Prefect tasks: retry what may pass on a second try (I/O), never
RAIE's own refusals (bad input, corrupted or missing state), which fail the same way again
and would only repeat their error output."""

from __future__ import annotations

from prefect.states import State

from raie_core.errors import RaieError


def retry_io_only(task: object, task_run: object, state: State) -> bool:
    """Prefect ``retry_condition_fn``: retry unless the attempt failed with a RaieError."""
    return not isinstance(state.result(raise_on_failure=False), RaieError)
