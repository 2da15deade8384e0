"""Database faults while the soak runs: every connection killed, the server stopped and
started again, and on the pooler leg PgBouncer stopped and started again, spread over the
run. Each fault is a window: from its start until the function process answers /health
with 200 again (its recovery, without a restart). Only the restarts may cost a caller a
503: a kill leaves Postgres up, and a call that finds its connection dead is sent again."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.reliability.client import Client
from tests.reliability.pooler import Bouncer
from tests.reliability.postgres import EmbeddedPostgres
from tests.reliability.replay import Violation

if TYPE_CHECKING:
    from tests.reliability.soak import Settings

RECOVERY_LIMIT_SECONDS = 30.0
KILL = "kill backends"
RESTART_SERVER = "restart server"
RESTART_POOLER = "restart pooler"
RESTARTS = frozenset({RESTART_SERVER, RESTART_POOLER})


@dataclass(frozen=True)
class FaultWindow:
    kind: str  # KILL, RESTART_SERVER or RESTART_POOLER
    started: float  # time.monotonic()
    back: float  # the database answers again
    recovered: float  # the functions answer /health with 200 again
    killed: int  # connections terminated (kill) or 0

    @property
    def recovery_seconds(self) -> float:
        return self.recovered - self.back

    @property
    def is_restart(self) -> bool:
        return self.kind in RESTARTS


def plan(settings: Settings) -> list[tuple[float, str]]:
    """(seconds after the start, kind) of each fault, spread evenly, restarts among kills;
    on the pooler leg, PgBouncer's restarts among those."""
    count = settings.kills + settings.restarts
    restarts = {
        int((index + 1) * count / (settings.restarts + 1)) for index in range(settings.restarts)
    }
    kinds = [RESTART_SERVER if index in restarts else KILL for index in range(count)]
    poolers = settings.pooler_restarts if settings.pooler else 0
    for index in range(poolers):
        kinds.insert(int((2 * index + 1) * len(kinds) / (2 * poolers)) + index, RESTART_POOLER)
    total = len(kinds)
    return [
        (settings.seconds * (index + 1) / (total + 1), kind) for index, kind in enumerate(kinds)
    ]


class FaultInjector(threading.Thread):
    def __init__(
        self,
        postgres: EmbeddedPostgres,
        url: str,
        port: int,
        settings: Settings,
        started: float,
        bouncer: Bouncer | None = None,
    ) -> None:
        super().__init__(name="faults", daemon=True)
        self.postgres = postgres
        self.bouncer = bouncer
        self.url = url
        self.client = Client(port, timeout=10)
        self.settings = settings
        self.started = started
        self.windows: list[FaultWindow] = []
        self.violations: list[Violation] = []

    def run(self) -> None:
        try:
            # Every planned fault runs, late if the machine is slow: the soak's load goes on
            # until the last one has recovered.
            for offset, kind in plan(self.settings):
                time.sleep(max(0.0, self.started + offset - time.monotonic()))
                self._inject(kind)
        finally:
            self.client.close()

    def longest_seconds(self) -> float:
        """How long the faults may still take once the soak's time is up: each one its
        outage and its recovery limit."""
        count = len(plan(self.settings))
        return count * (self.settings.outage_seconds + RECOVERY_LIMIT_SECONDS + 5)

    def _inject(self, kind: str) -> None:
        began = time.monotonic()
        killed = 0
        try:
            if kind == KILL:
                killed = self.postgres.terminate_backends(self.url)
            elif kind == RESTART_POOLER:
                assert self.bouncer is not None
                self.bouncer.restart()
            else:
                self.postgres.stop()
                time.sleep(self.settings.outage_seconds)
                self.postgres.start()
        except Exception as error:
            self.violations.append(Violation("fault injection failed", f"{kind}: {error!r}"))
            self.postgres.ensure_up()
            if self.bouncer is not None:
                self.bouncer.ensure_up()
        back = time.monotonic()
        recovered = self._await_health(back)
        self.windows.append(FaultWindow(kind, began, back, recovered, killed))

    def _await_health(self, since: float) -> float:
        """When /health answered 200 again; a violation if it never does."""
        while time.monotonic() - since < RECOVERY_LIMIT_SECONDS:
            try:
                if self.client.request("GET", "/health", token=None).status == 200:
                    return time.monotonic()
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        self.violations.append(
            Violation("no recovery", f"/health not 200 {RECOVERY_LIMIT_SECONDS:g}s after a fault")
        )
        return time.monotonic()
