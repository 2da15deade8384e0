"""Takeover's client: the AI agent's gate (fails closed) and check(), every other function
of Takeover, and webhook verification. Sync (`TakeoverClient`) and async
(`AsyncTakeoverClient`, from which the sync one is generated)."""

from takeover_client._answers import (
    Action,
    AiMode,
    AttendantFigures,
    DayFigures,
    Decision,
    Deleted,
    Delivery,
    DispatchAnswer,
    Endpoint,
    EndpointDetail,
    EndpointList,
    EndpointWithSecret,
    Event,
    EventsPage,
    ExportAnswer,
    GateAnswer,
    LoggedEvent,
    PauseMinutes,
    PauseState,
    Report,
    Resumes,
    Settings,
    SweepAnswer,
    TeamFigures,
    TeamSetting,
)
from takeover_client._async.client import AsyncTakeoverClient
from takeover_client._errors import TakeoverError, TakeoverUnavailable, UnreadableAnswer
from takeover_client._requests import UNSET
from takeover_client._sync.client import TakeoverClient
from takeover_client._tries import RetryPolicy
from takeover_client.webhooks import (
    EventType,
    WebhookEvent,
    WebhookVerificationError,
    verify_webhook,
)

__all__ = [
    "UNSET",
    "Action",
    "AiMode",
    "AsyncTakeoverClient",
    "AttendantFigures",
    "DayFigures",
    "Decision",
    "Deleted",
    "Delivery",
    "DispatchAnswer",
    "Endpoint",
    "EndpointDetail",
    "EndpointList",
    "EndpointWithSecret",
    "Event",
    "EventType",
    "EventsPage",
    "ExportAnswer",
    "GateAnswer",
    "LoggedEvent",
    "PauseMinutes",
    "PauseState",
    "Report",
    "Resumes",
    "RetryPolicy",
    "Settings",
    "SweepAnswer",
    "TakeoverClient",
    "TakeoverError",
    "TakeoverUnavailable",
    "TeamFigures",
    "TeamSetting",
    "UnreadableAnswer",
    "WebhookEvent",
    "WebhookVerificationError",
    "verify_webhook",
]
