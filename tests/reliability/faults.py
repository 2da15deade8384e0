"""Database faults while the soak runs: every connection killed, or the server stopped and
started again, spread over the run. Each fault is a window: from its start until the
function process answers /health with 200 again (its recovery, without a restart)."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.reliability.client import Client
from tests.reliability.postgres import EmbeddedPostgres
from tests.reliability.replay import Violation

if TYPE_CHECKING:
    from tests.reliability.soak import Settings

RECOVERY_LIMIT_SECONDS = 30.0


@dataclass(frozen=True)
class FaultWindow:
    kind: str  # "kill backends" or "restart server"
    started: float  # time.monotonic()
    back: float  # the database answers again
    recovered: float  # the functions answer /health with 200 again
    killed: int  # connections terminated (kill) or 0

    @property
    def recovery_seconds(self) -> float:
        return self.recovered - self.back


def plan(settings: Settings) -> list[tuple[float, str]]:
    """(seconds after the start, kind) of each fault, spread evenly, restarts among kills."""
    count = settings.kills + settings.restarts
    if count == 0:
        return []
    restarts = {
        int((index + 1) * count / (settings.restarts + 1)) for index in range(settings.restarts)
    }
    kinds = ["restart server" if index in restarts else "kill backends" for index in range(count)]
    return [
        (settings.seconds * (index + 1) / (count + 1), kind) for index, kind in enumerate(kinds)
    ]


class FaultInjector(threading.Thread):
    def __init__(
        self,
        postgres: EmbeddedPostgres,
        url: str,
        port: int,
        settings: Settings,
        started: float,
    ) -> None:
        super().__init__(name="faults", daemon=True)
        self.postgres = postgres
        self.url = url
        self.client = Client(port, timeout=10)
        self.settings = settings
        self.started = started
        self.windows: list[FaultWindow] = []
        self.violations: list[Violation] = []

    def run(self) -> None:
        try:
            for offset, kind in plan(self.settings):
                time.sleep(max(0.0, self.started + offset - time.monotonic()))
                if time.monotonic() >= self.started + self.settings.seconds:
                    break
                self._inject(kind)
        finally:
            self.client.close()

    def _inject(self, kind: str) -> None:
        began = time.monotonic()
        killed = 0
        try:
            if kind == "kill backends":
                killed = self.postgres.terminate_backends(self.url)
            else:
                self.postgres.stop()
                time.sleep(self.settings.outage_seconds)
                self.postgres.start()
        except Exception as error:
            self.violations.append(Violation("fault injection failed", f"{kind}: {error!r}"))
            self.postgres.ensure_up()
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
