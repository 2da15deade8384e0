# Generated from takeover_client/_async/client.py by unasync (make client): do not edit.
"""Takeover's client: every function, for the AI agent (the gate, which fails closed) and for
the product backend, the cron and the workspace admins' tools."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from takeover_client._agent import checked, decision, keepable_draft, probe, refusal
from takeover_client._answers import (
    Action,
    Decision,
    Deleted,
    DispatchAnswer,
    EndpointDetail,
    EndpointList,
    EndpointWithSecret,
    Event,
    EventsPage,
    ExportAnswer,
    GateAnswer,
    HumanReplyAnswer,
    LoggedEvent,
    PauseState,
    Report,
    Settings,
    Status,
    SweepAnswer,
)
from takeover_client._decoding import Answer, decode
from takeover_client._errors import TakeoverError, UnreadableAnswer
from takeover_client._requests import (
    AUTO_RESUME,
    CHANGE_SETTINGS,
    CHANGE_WEBHOOK_ENDPOINT,
    CREATE_WEBHOOK_ENDPOINT,
    DELETE_WEBHOOK_ENDPOINT,
    DISPATCH_WEBHOOKS,
    EVENTS,
    EXPORT_AUDIT_LOG,
    EXTEND,
    GATE,
    HUMAN_REPLY,
    PAUSE,
    RECORD_BLOCKED,
    REPORT,
    RESUME,
    SETTINGS,
    STATUS,
    UNSET,
    WEBHOOK_ENDPOINTS,
    Id,
    Operation,
    Urls,
    auth_headers,
    nullable,
    present,
    request_headers,
)
from takeover_client._sync.transport import DeadlineTransport
from takeover_client._tries import (
    MAX_ANSWER_BYTES,
    Reply,
    RetryPolicy,
    Tries,
    declared_size,
    too_large,
)
from takeover_client.webhooks import EventType


class TakeoverClient:
    """Takeover's functions. Each call has one deadline, `timeout` seconds, for all it does
    (its tries, the waits between them, reading the answers), and reads at most
    `max_answer_bytes` of an answer. Refusals raise TakeoverError (`.status`, `.code`,
    `.details`); no answer in time, TakeoverUnavailable; an answer it cannot read,
    UnreadableAnswer. All but gate(), which answers all of these with "do not send"."""

    def __init__(
        self,
        url: str | Mapping[str, str],
        service_key: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        """`url`: the project's base URL (`https://<ref>.supabase.co`, `make run`'s
        `http://127.0.0.1:54321`); or, where each function has its own URL, a template
        with `{name}` or `{target}` (`https://REGION-PROJECT.cloudfunctions.net/{name}`)
        or a mapping from function name (`interaction-gate`) to URL. `service_key`: the
        project's service-role JWT or one of its `sb_secret_...` keys."""
        self._urls = Urls(url)
        self._auth = auth_headers(service_key)
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._max_answer_bytes = max_answer_bytes
        # identity: the size cap is on what the answer is, not on what it unpacks to.
        self._http = httpx.Client(
            transport=DeadlineTransport(), headers={"Accept-Encoding": "identity"}
        )

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

    def check(self, agent_id: str = "ai_agent") -> None:
        """Call at start. Raises TakeoverError saying what is wrong unless the gate would
        answer this agent: a bad key (401), an attendant's token instead of the service
        key (403), a deployment that cannot verify keys (500 server_misconfigured), a URL
        that is not Takeover's gate (404 from another server), an agent_id it refuses
        (422); TakeoverUnavailable when nothing answers in time. It asks the gate about a
        conversation that cannot exist: Takeover answers 404 and writes nothing."""
        error: TakeoverError | None = None
        try:
            self._call(GATE, GateAnswer, body=probe(agent_id))
        except TakeoverError as refused:
            error = refused
        checked(error, self._urls.describe(GATE.function))

    def gate(
        self,
        conversation_id: Id,
        message_id: str,
        agent_id: str = "ai_agent",
        *,
        draft: str | None = None,
    ) -> Decision:
        """May the agent send this message? Fails closed and never raises on what Takeover
        answers or fails to answer: anything but its own `allowed: true`, read in full within
        the deadline, is "do not send" (see Decision.reason), logged as a WARNING unless the
        reason is a pause. A refused message stays refused: compose a new one with a new
        message_id. `draft`: the message about to be sent, kept for the attendant when
        refused (status().blocked_drafts): its first 8,000 characters (a WARNING says when
        it is cut), without what Postgres cannot store; an empty one is left out."""
        body = present(
            conversation_id=conversation_id,
            message_id=message_id,
            agent_id=agent_id,
            draft=keepable_draft(draft),
        )
        try:
            return decision(self._call(GATE, GateAnswer, body=body))
        except Exception as error:  # fail closed, whatever went wrong
            return refusal(error, conversation_id, self._urls.describe(GATE.function))

    def record_blocked(
        self,
        conversation_id: Id,
        message_id: str | None = None,
        agent_id: str = "ai_agent",
        reason: str | None = None,
    ) -> int:
        """Record a send the agent refused by itself; the log row's id. Retried only with a
        message_id (which makes a retry write no second row)."""
        body = {"action": "interaction_blocked"} | present(
            conversation_id=conversation_id, message_id=message_id, agent_id=agent_id, reason=reason
        )
        logged = self._call(RECORD_BLOCKED, LoggedEvent, body=body)
        return logged.event_id

    # Pauses: attendants' (the backend's triggered_by) and the AI's handoff (agent_id) ---

    def pause(
        self,
        conversation_id: Id,
        duration_minutes: int | None = UNSET,
        *,
        reason: str | None = None,
        triggered_by: Id | None = None,
        agent_id: str | None = None,
    ) -> PauseState:
        """Pause the AI; `duration_minutes` absent: the effective default, None: indefinite.
        `triggered_by`: the attendant the backend acts for. `agent_id`: the AI agent hands the
        conversation to a human, e.g. with reason "customer_asked_for_human"; the log row's
        triggered_by is the agent's id, and the pause_activated webhook tells the inbox to
        alert an attendant. Not both: ValueError."""
        if triggered_by is not None and agent_id is not None:
            raise ValueError(
                "pause() takes triggered_by (an attendant) or agent_id (an AI agent), not both"
            )
        body = present(
            conversation_id=conversation_id,
            reason=reason,
            triggered_by=triggered_by,
            agent_id=agent_id,
        ) | nullable(duration_minutes=duration_minutes)
        return self._call(PAUSE, PauseState, body=body)

    def extend(
        self,
        conversation_id: Id,
        duration_minutes: int | None,
        *,
        reason: str | None = None,
        triggered_by: Id | None = None,
    ) -> PauseState:
        """Add `duration_minutes` to the pause; None makes it indefinite."""
        body = present(
            conversation_id=conversation_id, reason=reason, triggered_by=triggered_by
        ) | nullable(duration_minutes=duration_minutes)
        return self._call(EXTEND, PauseState, body=body)

    def resume(
        self, conversation_id: Id, *, reason: str | None = None, triggered_by: Id | None = None
    ) -> PauseState:
        """Hand the conversation back to the AI."""
        body = present(conversation_id=conversation_id, reason=reason, triggered_by=triggered_by)
        return self._call(RESUME, PauseState, body=body)

    def status(self, conversation_id: Id) -> Status:
        """The pause state, with the AI's refused drafts kept for reuse (the 10 newest)."""
        return self._call(STATUS, Status, query=present(conversation_id=conversation_id))

    # A human's reply (the inbox) --------------------------------------------------------

    def human_reply(
        self, conversation_id: Id, message_id: str | None = None, *, triggered_by: Id | None = None
    ) -> HumanReplyAnswer:
        """A human sent the customer a message: call for every one, echoes of messages sent
        from another client of the channel (a phone on the same WhatsApp number) included,
        never for the AI's own (docs/inbox-integration.md). With the conversation's
        pause_on_human_reply on, the AI pauses for the effective default, or stays paused at
        least that long from now; `changed`: whether this call did. `message_id`: the
        channel's id of the message; the same one again changes nothing, so the call is
        retried only with one. `triggered_by`: the attendant who replied, if known."""
        body = present(
            conversation_id=conversation_id, message_id=message_id, triggered_by=triggered_by
        )
        return self._call(HUMAN_REPLY, HumanReplyAnswer, body=body)

    # The audit trail --------------------------------------------------------------------

    def events(
        self,
        *,
        conversation_id: Id | None = None,
        action: Action | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> EventsPage:
        """One page of the log (`limit` rows, 100 by default), oldest first; its
        `next_cursor` is the next page's `cursor`. `since` included, `until` not."""
        query = present(
            conversation_id=conversation_id,
            action=action,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
        return self._call(EVENTS, EventsPage, query=query)

    def iter_events(
        self,
        *,
        conversation_id: Id | None = None,
        action: Action | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int | None = None,
    ) -> Iterator[Event]:
        """Every row of the log that matches, oldest first, read a page at a time."""
        query = present(
            conversation_id=conversation_id,
            action=action,
            since=since,
            until=until,
            limit=page_size,
        )
        while True:
            page = self._call(EVENTS, EventsPage, query=query)
            for event in page.events:
                yield event
            if page.next_cursor is None:
                return
            query = query | {"cursor": page.next_cursor}

    # Settings and figures ---------------------------------------------------------------

    def settings(self, workspace_id: Id) -> Settings:
        """The workspace's settings (default pause duration, pause_on_human_reply,
        keep_blocked_drafts) and its teams' (default duration, pause_on_human_reply)."""
        return self._call(SETTINGS, Settings, query=present(workspace_id=workspace_id))

    def change_settings(
        self,
        *,
        workspace_id: Id | None = None,
        team_id: Id | None = None,
        default_duration_minutes: int | None = UNSET,
        inherit: bool = False,
        pause_on_human_reply: bool | None = UNSET,
        keep_blocked_drafts: bool | None = None,
    ) -> Settings:
        """Change the workspace's settings (`workspace_id`) or a team's (`team_id`); what is
        not given stays. `default_duration_minutes`: None, indefinite; `inherit=True`: the
        team takes the workspace's default again. `pause_on_human_reply`: whether a human's
        reply (human_reply()) pauses the AI; a team's None inherits the workspace's.
        `keep_blocked_drafts` (the workspace's): False deletes its kept drafts at once and
        keeps no more. A workspace admin, or the service."""
        body = present(
            workspace_id=workspace_id,
            team_id=team_id,
            inherit=inherit or None,
            keep_blocked_drafts=keep_blocked_drafts,
        ) | nullable(
            default_duration_minutes=default_duration_minutes,
            pause_on_human_reply=pause_on_human_reply,
        )
        return self._call(CHANGE_SETTINGS, Settings, body=body)

    def report(
        self,
        workspace_id: Id,
        *,
        team_id: Id | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Report:
        """Takeover figures over [since, until): the last 30 days by default, 366 at most."""
        query = present(workspace_id=workspace_id, team_id=team_id, since=since, until=until)
        return self._call(REPORT, Report, query=query)

    # Webhook endpoints (a workspace's admins, or the service) ---------------------------

    def webhook_endpoints(self, workspace_id: Id) -> EndpointList:
        query = present(workspace_id=workspace_id)
        return self._call(WEBHOOK_ENDPOINTS, EndpointList, query=query)

    def webhook_endpoint(self, endpoint_id: Id) -> EndpointDetail:
        """One endpoint, with its recent deliveries."""
        return self._call(WEBHOOK_ENDPOINTS, EndpointDetail, query=present(id=endpoint_id))

    def create_webhook_endpoint(
        self, workspace_id: Id, url: str, event_types: Sequence[EventType] | None = None
    ) -> EndpointWithSecret:
        """Subscribe `url` to `event_types` (None: all). Keep the answer's `secret`: it is
        not shown again. Not retried: a retry could subscribe the URL twice."""
        body = present(workspace_id=workspace_id, url=url, event_types=event_types)
        return self._call(CREATE_WEBHOOK_ENDPOINT, EndpointWithSecret, body=body)

    def change_webhook_endpoint(
        self,
        endpoint_id: Id,
        *,
        url: str | None = None,
        event_types: Sequence[EventType] | None = UNSET,
        enabled: bool | None = None,
        rotate_secret: bool = False,
    ) -> EndpointWithSecret:
        """Change what is given (`event_types` None: all types); `rotate_secret=True`: a new
        secret, in the answer."""
        body = present(
            id=endpoint_id, url=url, enabled=enabled, rotate_secret=rotate_secret or None
        ) | nullable(event_types=event_types)
        return self._call(CHANGE_WEBHOOK_ENDPOINT, EndpointWithSecret, body=body)

    def delete_webhook_endpoint(self, endpoint_id: Id) -> Deleted:
        return self._call(DELETE_WEBHOOK_ENDPOINT, Deleted, body=present(id=endpoint_id))

    # The cron's calls (give their client a timeout as long as each may run) -------------

    def auto_resume(self, limit: int | None = None) -> SweepAnswer:
        """End every pause whose timer ran out; delete the drafts past their retention."""
        return self._call(AUTO_RESUME, SweepAnswer, body=present(limit=limit))

    def dispatch_webhooks(self, limit: int | None = None) -> DispatchAnswer:
        """Send the webhook deliveries that are due."""
        return self._call(DISPATCH_WEBHOOKS, DispatchAnswer, body=present(limit=limit))

    def export_audit_log(self, limit: int | None = None) -> ExportAnswer:
        """Copy the log rows not yet exported to the deployment's object storage."""
        return self._call(EXPORT_AUDIT_LOG, ExportAnswer, body=present(limit=limit))

    # Requests ---------------------------------------------------------------------------

    def _call(
        self,
        operation: Operation,
        answer: type[Answer],
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Answer:
        url = self._urls(operation.function)
        headers = request_headers(self._auth, operation)
        # A write deduped by a field is safe to send again only with that field.
        retry = operation.retry and (
            operation.deduped_by is None or (body or {}).get(operation.deduped_by) is not None
        )
        tries = Tries(self._retry, self._timeout, retry)
        while True:
            with tries.attempt() as left:
                outcome = self._send(operation.method, url, headers, body, query, left)
            if isinstance(outcome, Reply) and outcome.status == 200:
                return decode(answer, outcome.body)
            time.sleep(tries.settle(outcome))

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        query: dict[str, Any] | None,
        timeout: float,
    ) -> Reply | httpx.TransportError:
        try:
            with self._http.stream(
                method, url, json=body, params=query, headers=headers, timeout=timeout
            ) as response:
                return Reply(response.status_code, response.headers, self._read(response))
        except httpx.TransportError as error:
            return error

    def _read(self, response: httpx.Response) -> bytes:
        """The answer's body; over the size cap, refused without reading the rest."""
        limit = self._max_answer_bytes
        if declared_size(response) > limit:
            raise too_large(response, limit)
        chunks: list[bytes] = []
        read = 0
        try:
            for chunk in response.iter_bytes():
                read += len(chunk)
                if read > limit:
                    raise too_large(response, limit)
                chunks.append(chunk)
        except httpx.DecodingError as error:
            raise UnreadableAnswer(response.status_code, "unreadable_answer", str(error)) from error
        return b"".join(chunks)
