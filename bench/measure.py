"""Run commands as child processes; measure wall time and the child's peak memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


class BenchError(Exception):
    """A benchmarked command failed: the figures would mean nothing."""


@dataclass(frozen=True)
class Sample:
    wall_s: float
    peak_rss_bytes: int
    stdout: str


@dataclass(frozen=True)
class Series:
    """The warm-up run and the measured repeats of one command."""

    warmup: Sample
    samples: list[Sample]

    @property
    def wall_s(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def peak_rss_bytes(self) -> int:
        """The highest peak of any measured repeat."""
        return max(s.peak_rss_bytes for s in self.samples)

    @property
    def stdout(self) -> str:
        return self.samples[-1].stdout


def run_once(command: Sequence[str], cwd: Path | None = None) -> Sample:
    """Run `command` to completion; its peak RSS comes from wait4's rusage of that child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped: tell Popen
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited with {process.returncode}\n"
                         f"{stdout[-2000:]}\n{stderr[-2000:]}")
    return Sample(wall, usage.ru_maxrss * 1024, stdout)  # ru_maxrss is in KiB on Linux


def run_series(command: Sequence[str], repeat: int, cwd: Path | None = None,
               before_each: Callable[[], None] | None = None) -> Series:
    """One warm-up run, then `repeat` measured runs; `before_each` runs untimed."""
    samples = []
    for _ in range(repeat + 1):
        if before_each is not None:
            before_each()
        samples.append(run_once(command, cwd))
    return Series(samples[0], samples[1:])


def time_calls(function: Callable[[], object], repeat: int,
               after_each: Callable[[], None] | None = None) -> tuple[float, float]:
    """Time an in-process call: (warm-up seconds, median of `repeat` seconds);
    `after_each` runs untimed after every call."""
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
        if after_each is not None:
            after_each()
    return times[0], statistics.median(times[1:])
