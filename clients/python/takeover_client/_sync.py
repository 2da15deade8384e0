"""The blocking client."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import httpx

from takeover_client._common import (
    UNSET,
    ClientBase,
    Decision,
    Id,
    PauseState,
    blocked_body,
    decision,
    gate_body,
    gate_refusal,
    new_idempotency_key,
    pause_body,
    pause_state,
)


class TakeoverClient(ClientBase[httpx.Client]):
    """Takeover's functions for the AI agent (the gate) and the product backend."""

    def _new_http(self, timeout: float) -> httpx.Client:
        return httpx.Client(timeout=timeout)

    def __enter__(self) -> TakeoverClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # The AI agent ---------------------------------------------------------------------

    def gate(self, conversation_id: Id, message_id: str, agent_id: str = "ai_agent") -> Decision:
        """May the agent send this message? Fails closed: anything but Takeover's own
        `allowed: true` (a timeout, a 503, a connection error, after bounded retries) is
        "do not send". Never raises. A refused message stays refused: compose a new one
        with a new message_id instead of retrying it later."""
        body = gate_body(conversation_id, message_id, agent_id)
        try:
            answer = self._call("POST", "interaction-gate", json=body)
        except Exception as error:  # fail closed, whatever went wrong
            return gate_refusal(error)
        return decision(answer)

    def record_blocked(
        self,
        conversation_id: Id,
        message_id: str | None = None,
        agent_id: str = "ai_agent",
        reason: str | None = None,
    ) -> int:
        """Record a send the agent refused by itself; the log row's id. Retried only with a
        message_id (which makes a retry write no second row)."""
        body = blocked_body(conversation_id, message_id, agent_id, reason)
        answer = self._call("POST", "pause-logger", json=body, retry=message_id is not None)
        return int(answer["event_id"])

    # The product backend, acting for attendants ----------------------------------------

    def pause(
        self,
        conversation_id: Id,
        duration_minutes: int | None = UNSET,
        *,
        reason: str | None = None,
        triggered_by: Id | None = None,
    ) -> PauseState:
        """Pause the AI; `duration_minutes` absent: the effective default, None: indefinite."""
        body = pause_body(conversation_id, reason, triggered_by, duration_minutes)
        return pause_state(self._idempotent("pause-activate", body))

    def extend(
        self,
        conversation_id: Id,
        duration_minutes: int | None,
        *,
        reason: str | None = None,
        triggered_by: Id | None = None,
    ) -> PauseState:
        body = pause_body(conversation_id, reason, triggered_by, duration_minutes)
        return pause_state(self._idempotent("pause-extend", body))

    def resume(
        self, conversation_id: Id, *, reason: str | None = None, triggered_by: Id | None = None
    ) -> PauseState:
        body = pause_body(conversation_id, reason, triggered_by, UNSET)
        return pause_state(self._idempotent("pause-resume", body))

    def status(self, conversation_id: Id) -> PauseState:
        params = {"conversation_id": str(conversation_id)}
        return pause_state(self._call("GET", "pause-status", params=params))

    # Requests ----------------------------------------------------------------------------

    def _idempotent(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        # One key for every retry of this call: the server answers a repeat with the first
        # answer instead of acting twice.
        return self._call("POST", name, json=body, idempotency_key=new_idempotency_key())

    def _call(
        self,
        method: str,
        name: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        retry: bool = True,
    ) -> dict[str, Any]:
        url, headers, tries = self._target(name, idempotency_key, retry)
        while True:
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self._http.request(method, url, json=json, params=params, headers=headers)
            except httpx.TransportError as error:
                outcome = error
            answer_or_wait = tries.settle(outcome)
            if isinstance(answer_or_wait, dict):
                return answer_or_wait
            time.sleep(answer_or_wait)
