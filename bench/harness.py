"""Timing on a shared, noisy machine: warm up, then alternate the subject and its baseline
in short rounds, so that a burst of someone else's work hits both alike; every loop is
bounded in calls and in seconds."""

from __future__ import annotations

import os
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Sample:
    """One subject's calls over all rounds: the rate of each round and every latency."""

    name: str
    rates: list[float] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)
    calls: int = 0
    seconds: float = 0.0
    # CPU seconds the database backend spent on these calls, when a probe can tell.
    backend_cpu: float | None = None

    @property
    def backend_cpu_us_per_call(self) -> float | None:
        if self.backend_cpu is None or not self.calls:
            return None
        return self.backend_cpu / self.calls * 1e6

    @property
    def rate(self) -> float:
        """Calls per second: the median of the rounds (robust to one disturbed round)."""
        return statistics.median(self.rates) if self.rates else 0.0

    def percentile_ms(self, q: float) -> float:
        return percentile(self.latencies_ns, q) / 1e6


def percentile(values: Sequence[int], q: float) -> float:
    """The q-th percentile (0..100), nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return float(ordered[rank])


def run_calls(
    call: Callable[[], object], sample: Sample, *, max_calls: int, max_seconds: float
) -> None:
    """Call `call` until `max_calls` calls or `max_seconds` have passed; record them."""
    clock = time.perf_counter_ns
    latencies = sample.latencies_ns
    deadline = clock() + int(max_seconds * 1e9)
    started = clock()
    calls = 0
    while calls < max_calls:
        before = clock()
        call()
        after = clock()
        latencies.append(after - before)
        calls += 1
        if after >= deadline:
            break
    elapsed = (clock() - started) / 1e9
    sample.rates.append(calls / elapsed)
    sample.calls += calls
    sample.seconds += elapsed


def warm_up(call: Callable[[], object], *, calls: int = 300, seconds: float = 1.0) -> None:
    run_calls(call, Sample("warm-up"), max_calls=calls, max_seconds=seconds)


class BackendCpu:
    """CPU seconds (user + system) a local Postgres backend has used, from /proc; None
    when the backend is not on this machine (or /proc does not show it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._stat = Path(f"/proc/{pid}/stat")
        self._tick = os.sysconf("SC_CLK_TCK")

    def __call__(self) -> float | None:
        try:
            fields = self._stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / self._tick


class ProcessesCpu:
    """CPU seconds (user + system) used by a set of local processes, from /proc; the ones
    that have gone are left out."""

    def __init__(self, pids: list[int]) -> None:
        self._probes = [BackendCpu(pid) for pid in pids]

    def __call__(self) -> float | None:
        values = [value for value in (probe() for probe in self._probes) if value is not None]
        return sum(values) if values else None


def own_cpu() -> float:
    """CPU seconds of this process, every thread."""
    times = os.times()
    return times.user + times.system


def alternate(
    subjects: Mapping[str, Callable[[], object]],
    *,
    rounds: int,
    calls_per_round: int,
    seconds_per_round: float,
    warm_up_calls: int = 300,
    warm_up_seconds: float = 1.0,
    probes: Mapping[str, Callable[[], float | None]] | None = None,
) -> dict[str, Sample]:
    """Warm every subject up, then run them in turn, `rounds` times each. `probes` tell
    the backend CPU time of a subject's connection, read before and after each round."""
    for call in subjects.values():
        warm_up(call, calls=warm_up_calls, seconds=warm_up_seconds)
    samples = {name: Sample(name) for name in subjects}
    for _ in range(rounds):
        for name, call in subjects.items():
            probe = (probes or {}).get(name)
            before = probe() if probe else None
            run_calls(call, samples[name], max_calls=calls_per_round, max_seconds=seconds_per_round)
            after = probe() if probe else None
            if before is not None and after is not None:
                sample = samples[name]
                sample.backend_cpu = (sample.backend_cpu or 0.0) + after - before
    return samples


@dataclass
class Figure:
    """One line of the table: a figure, its same-run baseline and their ratio (the figure
    over its baseline, unless the measurement defines its ratio otherwise)."""

    key: str
    measurement: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    target: str = ""
    target_on: str = "ratio"  # or "value": the figure itself
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ratio is None and self.baseline is not None:
            self.ratio = self.value / self.baseline

    @property
    def met(self) -> bool | None:
        """Whether the ratio (or the figure) meets the target; None without a target."""
        if not self.target:
            return None
        value = self.ratio if self.target_on == "ratio" else self.value
        return value is not None and check(value, self.target)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "measurement": self.measurement,
            "value": _round(self.value),
            "unit": self.unit,
            "baseline": None if self.baseline is None else _round(self.baseline),
            "baseline_label": self.baseline_label,
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "target": self.target,
            "target_on": self.target_on,
            "met": self.met,
            "note": self.note,
            "details": self.details,
        }


def _round(value: float) -> float:
    if value != value:  # NaN
        return value
    if abs(value) >= 100:
        return round(value, 1)
    return round(value, 4)


def check(value: float, target: str) -> bool:
    """`target` is `>= x` or `<= x` (or `< x`, `> x`)."""
    operator, _, threshold = target.partition(" ")
    limit = float(threshold)
    if operator == ">=":
        return value >= limit
    if operator == "<=":
        return value <= limit
    if operator == "<":
        return value < limit
    if operator == ">":
        return value > limit
    raise ValueError(f"unknown target {target!r}")


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value != value:
        return "n/a"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def table(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table."""
    head = "| # | measurement | figure | baseline (same run) | ratio | target | met |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for figure in figures:
        baseline = (
            f"{fmt(figure.baseline, figure.unit)} ({figure.baseline_label})"
            if figure.baseline is not None
            else figure.baseline_label or "-"
        )
        met = "-" if figure.met is None else ("yes" if figure.met else "**no**")
        target = "-"
        if figure.target:
            operator, _, threshold = figure.target.partition(" ")
            subject = "ratio" if figure.target_on == "ratio" else "figure"
            unit = "" if figure.target_on == "ratio" else f" {figure.unit}"
            target = f"{subject} {operator} {fmt(float(threshold))}{unit}"
        lines.append(
            f"| {figure.key} | {figure.measurement} | {fmt(figure.value, figure.unit)} "
            f"| {baseline} | {fmt(figure.ratio)} | {target} | {met} |"
        )
    return "\n".join(lines)


def line(figure: Figure) -> str:
    """The figure as the line printed the moment it is measured."""
    ratio = "" if figure.ratio is None else f"  ratio {figure.ratio:.2f}"
    baseline = "" if figure.baseline is None else f"  baseline {figure.baseline:,.2f}"
    met = "" if figure.met is None else ("  [met]" if figure.met else "  [MISSED]")
    return (
        f"  {figure.key:4} {figure.measurement}: {figure.value:,.2f} {figure.unit}"
        f"{baseline}{ratio}  target {figure.target or '-'}{met}"
    )


def quick_from_environment() -> bool:
    """BENCH_QUICK=1: shorter rounds, for trying the benchmark itself out."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


class Recorder:
    """What a measurement needs to size its rounds and record its figures; mixed into the
    full run's Bench and into a measurement's standalone stand-in."""

    quick: bool
    figures: list[Figure]

    def rounds(self, normal: int) -> int:
        return max(2, normal // 3) if self.quick else normal

    def seconds(self, normal: float) -> float:
        return normal / 3 if self.quick else normal

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(line(figure), flush=True)
        return figure


def serve_until_stdin_closes(server: socketserver.BaseServer, port: int, port_file: Path) -> None:
    """A benchmark's helper process: publish the port (atomically, the parent polls the
    file), then serve until the parent closes our stdin (to stop us, or by dying)."""
    temporary = port_file.with_suffix(".tmp")
    temporary.write_text(str(port))
    temporary.replace(port_file)
    threading.Thread(target=_stop_on_eof, args=(server,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def _stop_on_eof(server: socketserver.BaseServer) -> None:
    sys.stdin.read()
    server.shutdown()


def published_port(process: subprocess.Popen[Any], port_file: Path, seconds: float) -> int | None:
    """The port a helper process (serve_until_stdin_closes) published in `port_file`; None
    if it exits, or `seconds` pass, first."""
    deadline = time.monotonic() + seconds
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            return None
        time.sleep(0.05)
    return int(port_file.read_text())


def stop_helper(process: subprocess.Popen[Any]) -> None:
    """Stop a helper process the way serve_until_stdin_closes expects: close its stdin; kill
    it if it has not exited 10 s later."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
