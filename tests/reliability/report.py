"""The tables of figures `make reliability` prints (one per leg: direct, through
PgBouncer, noisy neighbours), and its one summary line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tests.reliability.faults import KILL, RESTART_POOLER, RESTART_SERVER
from tests.reliability.soak import EXPECTED_STATUS, SoakReport


@dataclass(frozen=True)
class SuiteResult:
    """A pytest run of one of the other suites (fuzzing, isolation)."""

    name: str
    counts: Counter[str]  # passed, failed, xfailed, ...
    seconds: float
    returncode: int

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.counts["failed"] and not self.counts["error"]

    def summary(self) -> str:
        parts = [f"{count} {outcome}" for outcome, count in sorted(self.counts.items()) if count]
        verdict = "ok" if self.ok else "FAILED"
        return f"{verdict}: {', '.join(parts) or 'nothing ran'} ({self.seconds:.0f} s)"


def _n(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def ms(seconds: float) -> str:
    """`850 ms`, or `12.3 s` from 10 s on."""
    return f"{seconds * 1000:,.0f} ms".replace(",", " ") if seconds < 10 else f"{seconds:.1f} s"


_LEGS = {
    "direct": "direct (the production pool on Postgres)",
    "pooler": "through PgBouncer (transaction mode)",
    "neighbours": "noisy neighbours: another tenant's storm beside these workers, no faults",
}


def render(reports: Sequence[SoakReport], suites: list[SuiteResult]) -> str:
    lines: list[str] = []
    for report in reports:
        lines += _table(report)
    if suites:
        width = max(len(suite.name) for suite in suites) + 2
        lines += [f"{suite.name.ljust(width)}{suite.summary()}" for suite in suites]
    lines.append(summary(reports, suites))
    return "\n".join(lines)


def _table(report: SoakReport) -> list[str]:
    s = report.settings
    statuses = report.status_counts()
    functions = report.by_function()
    requests = sum(statuses.values())
    kills = [window for window in report.faults if window.kind == KILL]
    restarts = [window for window in report.faults if window.kind == RESTART_SERVER]
    poolers = [window for window in report.faults if window.kind == RESTART_POOLER]
    fault_503 = statuses[503]
    rows: list[tuple[str, str]] = [
        ("leg", _LEGS[s.leg]),
        (
            "duration",
            f"{report.elapsed_seconds:.1f} s soak, {s.workers} workers, "
            f"{s.conversations} conversations, seed {s.seed}",
        ),
        (
            "operations (HTTP requests)",
            f"{_n(requests)}  ({requests / max(report.elapsed_seconds, 1):.0f}/s)",
        ),
    ]
    rows += [(f"  {name}", _n(functions[name])) for name in EXPECTED_STATUS]
    rows.append(
        (
            "answers by status",
            "  ".join(f"{code or 'none'}: {_n(count)}" for code, count in sorted(statuses.items())),
        )
    )
    rows.append(
        (
            "faults injected",
            f"{len(report.faults)}: kill all backends x{len(kills)} "
            f"({sum(w.killed for w in kills)} connections), "
            f"stop/start Postgres x{len(restarts)} ({s.outage_seconds:g} s down each)"
            + (f", stop/start PgBouncer x{len(poolers)}" if s.pooler else ""),
        )
    )
    if report.faults:
        worst = max(report.faults, key=lambda w: w.recovery_seconds)
        rows.append(
            (
                "recovery after a fault (max)",
                f"{ms(worst.recovery_seconds)} after {worst.kind}; function process "
                + ("kept its pid" if report.server_pid_kept else "DID NOT survive"),
            )
        )
    rows.append(
        (
            "503 answers (restarts only)",
            f"{_n(fault_503)}; {_n(report.unexplained_503)} outside a restart window (from "
            f"kills or no fault: must be 0); {report.late_503_count} sent after /health "
            f"had recovered (latest {ms(report.late_503)} after)",
        )
    )
    retries = report.retries()
    rows.append(
        (
            "503'd transitions retried",
            f"{_n(sum(retries.values()))} with the same Idempotency-Key; last answers: "
            + ("  ".join(f"{status}: {count}" for status, count in sorted(retries.items())) or "-"),
        )
    )
    rows.append(
        (
            "latency p50 / p99 / max",
            f"{ms(report.latency(0.5))} / {ms(report.latency(0.99))} / {ms(report.latency(1))}"
            f"  (bound {s.latency_bound_seconds:g} s)",
        )
    )
    rows.append(("latency max during faults", ms(report.latency(1, during_faults=True))))
    rows.append(
        (
            "pauses expired during the run",
            f"{_n(report.expired_pauses)} auto_resume rows "
            f"({_n(report.results.clock_shifts)} clock shifts)",
        )
    )
    audit = report.audit_rows
    rows.append(
        (
            "audit rows written",
            f"{_n(sum(audit.values()))}  ("
            + ", ".join(f"{action} {_n(count)}" for action, count in sorted(audit.items()))
            + ")",
        )
    )
    log = report.request_log
    rows.append(
        (
            "request log lines",
            "none on stdout"
            if not log.get("lines")
            else f"{_n(log['lines'])}  (lost {log['lost']}, duplicated {log['duplicated']}, "
            f"wrong status {log['wrong_status']})",
        )
    )
    rows += report.figures
    rows.append(("lost audit rows", _n(report.lost_rows)))
    rows.append(("duplicated audit rows", _n(report.duplicated_rows)))
    rows.append(("invariant violations", _n(sum(report.violations.values()))))
    rows += [(f"  {kind}", _n(count)) for kind, count in report.violations.most_common()]
    if report.known:
        rows.append(
            (
                "known core bugs (not failing)",
                "; ".join(f"{kind}: {_n(count)}" for kind, count in report.known.most_common()),
            )
        )

    width = max(len(label) for label, _ in rows) + 2
    rule = "-" * (width + 60)
    lines = [f"Takeover reliability, {s.leg} leg", rule]
    lines += [f"{label.ljust(width)}{value}" for label, value in rows]
    lines.append(rule)
    for example in report.examples[:10]:
        lines.append(f"! {example.kind}: {example.detail[:300]}")
    return lines


def leg_summary(report: SoakReport) -> str:
    """One leg's figures, as the summary line gives them."""
    statuses = report.status_counts()
    return (
        f"{report.settings.leg}: {len(report.results.attempts)} requests, "
        f"{len(report.faults)} faults, {sum(report.violations.values())} violations, "
        f"{report.lost_rows} lost, {report.duplicated_rows} duplicated, "
        f"{statuses[503]} 503s ({report.unexplained_503} outside restarts), "
        f"max latency {report.latency(1):.2f} s"
        + (f", {report.headline}" if report.headline else "")
    )


def summary(reports: Sequence[SoakReport], suites: list[SuiteResult]) -> str:
    ok = all(report.ok for report in reports) and all(suite.ok for suite in suites)
    parts = [leg_summary(report) for report in reports]
    parts += [f"{suite.name} {'ok' if suite.ok else 'FAILED'}" for suite in suites]
    return f"RELIABILITY {'PASS' if ok else 'FAIL'}: " + "; ".join(parts)
