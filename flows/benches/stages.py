"""Per-stage wall time and peak memory of the flow runs of this process (`raie bench pipeline`).

Stage boundaries are the flows' own run log: `flows.runlog.Stages` logs one record per stage
carrying its name and seconds as fields, and `recording` listens on Prefect's flow-run logger,
so no stage is timed a second time here. A stage starts where the previous one ended.

Memory is this process's resident set size (RSS), sampled by psutil in a background thread
every ``interval_s`` and once more at every stage boundary. A stage's peak is the highest
sample inside it (the RSS when it started included); its rise is that peak minus the RSS when
it started. What this misses: a spike shorter than the interval; child processes (the
Prefect server; Dask workers, so region training on a cluster is not in these numbers); and
RSS is the whole process's, so a stage's peak includes what earlier stages still hold (the
allocators keep freed memory), which is why the rise is reported too. tracemalloc was not
used: it sees Python and numpy allocations but not torch's tensors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flows.runlog import SECONDS_FIELD, STAGE_FIELD

RSS_INTERVAL_S = 0.05
"""Seconds between two RSS samples (`raie bench pipeline --rss-interval`): shorter catches
briefer spikes and costs the bench's own thread more."""
FLOW_RUN_LOGGER = "prefect.flow_runs"
"""The logger behind Prefect's `get_run_logger()` inside a flow (where `Stages` logs)."""
MIB = 1024 * 1024


@dataclass(frozen=True)
class StageRow:
    """One stage of one flow run: wall seconds, peak RSS and its rise over the stage's start
    (MiB, this process only)."""

    stage: str
    wall_s: float
    peak_rss_mib: float
    rise_mib: float


class StageRecorder(logging.Handler):
    """A log handler that keeps each stage record's (name, start, end) in perf_counter time,
    and the RSS samples its thread takes; `take` turns what was recorded into `StageRow`s."""

    def __init__(self, interval_s: float) -> None:
        import psutil

        super().__init__(level=logging.INFO)
        self.interval_s = interval_s
        self._process = psutil.Process()
        self._samples: list[tuple[float, int]] = []
        self._marks: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()  # the sampler appends while `take` trims
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raie-rss", daemon=True)

    def emit(self, record: logging.LogRecord) -> None:
        stage = getattr(record, STAGE_FIELD, None)
        if stage is None:
            return
        end = self._sample()
        self._marks.append((stage, end - float(getattr(record, SECONDS_FIELD)), end))

    def _sample(self) -> float:
        rss = self._process.memory_info().rss
        now = time.perf_counter()
        with self._lock:
            self._samples.append((now, rss))
        return now

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def start_sampling(self) -> None:
        self._sample()  # a baseline now, however late the thread gets its first turn
        self._thread.start()

    def stop_sampling(self) -> None:
        self._stop.set()
        self._thread.join()

    def take(self) -> list[StageRow]:
        """The stages recorded since the last call, in order (then forgotten)."""
        marks, self._marks = self._marks, []
        with self._lock:
            samples, self._samples = self._samples, self._samples[-1:]
        rows = []
        for stage, start, end in marks:
            before = [rss for t, rss in samples if t <= start]
            inside = [rss for t, rss in samples if start < t <= end]
            baseline = before[-1] if before else (inside[0] if inside else 0)
            peak = max([baseline, *inside])
            rows.append(StageRow(stage, end - start, peak / MIB, (peak - baseline) / MIB))
        return rows  # the last sample stays: the baseline of the next flow's first stage


@contextmanager
def recording(interval_s: float = RSS_INTERVAL_S) -> Iterator[StageRecorder]:
    """Record the stages of every flow run this process makes inside the block."""
    recorder = StageRecorder(interval_s)
    logger = logging.getLogger(FLOW_RUN_LOGGER)
    level = logger.level
    if not logger.isEnabledFor(logging.INFO):  # e.g. PREFECT_LOGGING_LEVEL=WARNING
        logger.setLevel(logging.INFO)
    logger.addHandler(recorder)
    recorder.start_sampling()
    try:
        yield recorder
    finally:
        recorder.stop_sampling()
        logger.removeHandler(recorder)
        logger.setLevel(level)
