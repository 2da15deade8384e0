"""webhook-endpoints: a workspace's admins subscribe HTTP endpoints to takeover events."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, RootModel, StringConstraints, model_validator

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.shared.models import Answer, UtcDatetime
from functions.shared.models import Request as Body
from functions.webhooks.events import EventType, once_each
from functions.webhooks.signing import new_secret
from functions.webhooks.url_policy import MAX_URL_LENGTH, validate_url

# Checked again (resolving the host) at every delivery.
Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH + 1),
    AfterValidator(validate_url),
]
EventTypes = Annotated[
    list[EventType] | None,
    Field(
        min_length=1,
        description="The event types to send, each stored once; null: all of them.",
    ),
    AfterValidator(once_each),
]
_WHO = "workspace admin, service"


class EndpointQuery(Body):
    workspace_id: UUID | None = Field(None, description="List the workspace's endpoints.")
    id: UUID | None = Field(None, description="One endpoint, with its recent deliveries.")

    @model_validator(mode="after")
    def _one_of(self) -> EndpointQuery:
        if (self.workspace_id is None) == (self.id is None):
            raise ValueError("give either workspace_id or id")
        return self


class NewEndpoint(Body):
    workspace_id: UUID
    url: Url
    event_types: EventTypes = None


class EndpointChange(Body):
    id: UUID
    url: Url | None = None
    event_types: EventTypes = None
    enabled: bool | None = None
    rotate_secret: bool = False


class EndpointId(Body):
    id: UUID


class Endpoint(Answer):
    id: UUID
    workspace_id: UUID
    url: str
    event_types: list[EventType] | None
    enabled: bool
    created_at: UtcDatetime


class EndpointWithSecret(Endpoint):
    secret: str | None = Field(
        None,
        description="whsec_...: only when created or rotated; keep it, it is not shown again.",
        exclude_if=lambda secret: secret is None,
    )


class Delivery(Answer):
    webhook_id: str
    type: EventType
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    next_attempt_at: UtcDatetime | None


class EndpointDetail(Endpoint):
    recent_deliveries: list[Delivery] = Field(description="The last 50, newest first.")


class EndpointList(Answer):
    endpoints: list[Endpoint]


class EndpointsAnswer(RootModel[EndpointList | EndpointDetail]):
    """A list (?workspace_id) or one endpoint (?id)."""


class Deleted(Answer):
    id: UUID
    deleted: Literal[True]


def read(call: Call[EndpointQuery]) -> EndpointsAnswer:
    query, caller = call.input, call.caller.attendant_id
    if query.id is not None:
        one = database().call("webhook_endpoint", {"caller": caller, "id": query.id}, call.options)
        return EndpointsAnswer(EndpointDetail.model_validate(one))
    listed = database().call(
        "webhook_endpoints",
        {"caller": caller, "workspace_id": query.workspace_id},
        call.options,
    )
    return EndpointsAnswer(EndpointList.model_validate(listed))


def create(call: Call[NewEndpoint]) -> EndpointWithSecret:
    arguments = call.input.model_dump() | {
        "caller": call.caller.attendant_id,
        "secret": new_secret(),
    }
    return EndpointWithSecret.model_validate(
        database().call("create_webhook_endpoint", arguments, call.options)
    )


def change(call: Call[EndpointChange]) -> EndpointWithSecret:
    body = call.input
    arguments = body.model_dump(exclude={"rotate_secret"}) | {
        "caller": call.caller.attendant_id,
        # Absent keeps the types; null subscribes to all of them.
        "change_event_types": "event_types" in body.model_fields_set,
        "secret": new_secret() if body.rotate_secret else None,
    }
    return EndpointWithSecret.model_validate(
        database().call("update_webhook_endpoint", arguments, call.options)
    )


def delete(call: Call[EndpointId]) -> Deleted:
    arguments = call.input.model_dump() | {"caller": call.caller.attendant_id}
    return Deleted.model_validate(
        database().call("delete_webhook_endpoint", arguments, call.options)
    )


FUNCTION = Function(
    "webhook-endpoints",
    Route("GET", read, "A workspace's webhook endpoints, or one", who=_WHO, source="query"),
    Route("POST", create, "Subscribe an endpoint (its secret is shown once)", who=_WHO),
    Route("PUT", change, "Change an endpoint, or rotate its secret", who=_WHO),
    Route("DELETE", delete, "Unsubscribe an endpoint", who=_WHO),
)
