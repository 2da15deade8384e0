"""human-reply: a human answered the customer (from the inbox, or from another client of the
channel), so the AI must not answer too: it pauses, or stays paused, by itself."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.edge.identity import transition_arguments
from functions.shared.models import MessageId, PauseState
from functions.shared.models import Request as Body


class HumanReplyRequest(Body):
    conversation_id: UUID
    message_id: MessageId | None = Field(
        None,
        description="The channel's id of the human's message: the same one again gets the "
        "same answer and changes nothing.",
    )
    triggered_by: UUID | None = Field(None, description="Service only: the attendant who replied.")


class HumanReplyAnswer(PauseState):
    changed: bool = Field(description="Whether this reply paused or extended (wrote event_id).")


def human_reply(call: Call[HumanReplyRequest]) -> HumanReplyAnswer:
    arguments = transition_arguments(call.caller, call.input)
    return HumanReplyAnswer.model_validate(database().call("human_reply", arguments, call.options))


FUNCTION = Function(
    "human-reply",
    Route(
        "POST",
        human_reply,
        "A human replied to the customer: pause the AI by itself",
        deduped_by="message_id",
    ),
)
