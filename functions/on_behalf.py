"""Who a transition is written as: the attendant calling, or whom the service acts for."""

from __future__ import annotations

from uuid import UUID

from functions.auth import Caller, CallerKind
from functions.errors import Forbidden


def actor(caller: Caller, triggered_by: UUID | None) -> dict[str, UUID | None]:
    """The lifecycle functions' `caller` (the attendant, whose membership they check) and
    `triggered_by` arguments. An attendant never names someone else."""
    if triggered_by is not None and caller.kind is not CallerKind.SERVICE:
        raise Forbidden(
            "triggered_by_not_allowed", "Only the service may act on an attendant's behalf."
        )
    return {"caller": caller.attendant_id, "triggered_by": triggered_by}
