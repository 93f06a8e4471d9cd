"""tasks.publish: the tracking task retries I/O failures, not RAIE's own refusals."""

from prefect.states import Failed

from raie_core.errors import RaieStateError
from tasks.publish import TRACKING_RETRIES, finish_publication_task
from tasks.retry import retry_io_only


def test_only_io_failures_are_retried() -> None:
    io = Failed(data=OSError(30, "Read-only file system"))
    refused = Failed(data=RaieStateError("tracking plan x is unreadable"))
    assert retry_io_only(None, None, io) is True
    assert retry_io_only(None, None, refused) is False
    assert finish_publication_task.retries == TRACKING_RETRIES > 0
    assert finish_publication_task.retry_condition_fn is retry_io_only
