"""The AI agent's side, without I/O: the gate's verdict (fail closed, and never silently),
the draft it may carry, and what check() makes of its probe."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from takeover_client._answers import Decision, GateAnswer
from takeover_client._errors import TakeoverError, TakeoverUnavailable, UnreadableAnswer

log = logging.getLogger("takeover_client")

# The longest draft Takeover keeps, in characters (Unicode code points, as len() counts).
MAX_DRAFT_CHARACTERS = 8000


def decision(answer: GateAnswer) -> Decision:
    return Decision(
        allowed=answer.allowed,
        reason="allowed" if answer.allowed else "paused",
        ai_mode=answer.ai_mode,
        paused_until=answer.paused_until,
        event_id=answer.event_id,
    )


def keepable_draft(draft: str | None) -> str | None:
    """The draft as Takeover keeps it: without NUL characters and unpaired surrogates
    (which Postgres cannot store), at most MAX_DRAFT_CHARACTERS, None when nothing is left.
    Whatever the agent passes, the draft never becomes a 422, which the gate would read as
    "do not send" for a message Takeover allows: it is only the attendant's copy."""
    if draft is None:
        return None
    storable = draft.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if len(storable) > MAX_DRAFT_CHARACTERS:
        log.warning(
            "takeover: a draft of %s characters keeps its first %s for the attendant",
            f"{len(storable):,}",
            f"{MAX_DRAFT_CHARACTERS:,}",
        )
    return storable[:MAX_DRAFT_CHARACTERS] or None


def refusal(error: Exception, conversation_id: Any, url: str) -> Decision:
    """The gate's "do not send" when Takeover could not say "allowed", with a WARNING: an
    agent that never sends because it is misconfigured must not be silent."""
    why: object = error
    if isinstance(error, UnreadableAnswer):
        verdict = Decision(False, "unreadable", error=error.code)
    elif isinstance(error, TakeoverUnavailable):
        verdict = Decision(False, "unavailable", error=error.code)
    elif isinstance(error, TakeoverError):
        verdict = Decision(False, "refused", error=error.code)
        why = diagnosis(error, url)
    else:  # a failure of the client itself: still "do not send"
        verdict = Decision(False, "unavailable", error=type(error).__name__)
    log.warning(
        "gate: do not send (%s) on conversation %s: %s",
        verdict.reason,
        conversation_id,
        why,
        exc_info=not isinstance(error, TakeoverError),
    )
    return verdict


def probe(agent_id: str) -> dict[str, Any]:
    """check()'s gate request: a conversation that cannot exist. A working service key gets
    404 conversation_not_found, and the gate writes nothing for it."""
    return {"conversation_id": str(uuid.uuid4()), "agent_id": agent_id}


def checked(error: TakeoverError | None, url: str) -> None:
    """Nothing when the probe got Takeover's 404 conversation_not_found; else raise what is
    wrong (TakeoverUnavailable when nothing answered in time)."""
    if error is None:
        raise TakeoverError(
            200,
            "not_takeover",
            f"{url} answered 200 for a conversation that cannot exist: "
            "it is not Takeover's interaction-gate.",
        )
    if (error.status, error.code) == (404, "conversation_not_found"):
        return
    kind = TakeoverUnavailable if isinstance(error, TakeoverUnavailable) else TakeoverError
    raise kind(error.status, error.code, diagnosis(error, url), error.details) from error


def diagnosis(error: TakeoverError, url: str) -> str:
    """What a failed call to `url` says about the client's configuration."""
    status, code, said = error.status, error.code, f"{error.status} {error.code}: {error.message}"
    if isinstance(error, TakeoverUnavailable):
        return f"No answer from {url} in time ({said}): is the URL right, and Takeover up?"
    if isinstance(error, UnreadableAnswer):
        return f"{url} does not answer as Takeover does ({said}): check the URL."
    if status == 401:
        return (
            f"Takeover refused the key ({said}): give the client the service key (the "
            "project's service-role JWT or one of its sb_secret_ keys)."
        )
    if status == 403:
        return (
            f"The key is not the service's ({said}): the agent needs the service key, not an "
            "attendant's token."
        )
    if code == "server_misconfigured":
        return f"Takeover's deployment is misconfigured ({said}); its log names the cause."
    if status in (404, 405) and code != "conversation_not_found":
        return f"{url} is not Takeover's interaction-gate ({said}): check the client's URL."
    return f"Takeover refused the call to {url} ({said})."
