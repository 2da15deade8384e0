"""Row level security and grants, read the way Supabase's PostgREST reads them.

PostgREST runs each request in a transaction as the JWT's role (`set local role`) with the
claims in the `request.jwt.claims` setting; these tests do the same on the test database.
The inbox UI reads its own workspaces' rows; nobody (the owner included) rewrites the log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql

from functions.local import demo
from tests.support import Api, conversation, log_rows

ACME = demo.WORKSPACE_ID
GLOBEX = demo.OTHER_WORKSPACE_ID
GLOBEX_TEAM_ID = UUID("7a1c0000-0000-4000-8000-0000000000a9")


def member_claims(user_id: UUID) -> dict[str, Any]:
    return {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}


# Each API role with the claims its JWT would carry.
ROLES = {
    "authenticated": member_claims(demo.ATTENDANT_ID),
    "anon": {"role": "anon"},
    "service_role": {"role": "service_role"},
}


@contextmanager
def acting_as(
    db: psycopg.Connection[Any], role: str, claims: dict[str, Any] | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """A PostgREST request: one transaction, as `role`, with the JWT's claims."""
    with db.transaction():
        db.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        db.execute(
            "select set_config('request.jwt.claims', %s, true)",
            (json.dumps(claims if claims is not None else {"role": role}),),
        )
        yield db


@dataclass(frozen=True)
class Table:
    name: str
    key: str  # a row's identity, as text
    workspace: str  # the workspace the row belongs to

    def keys(self, db: psycopg.Connection[Any], workspace_id: UUID | None = None) -> set[str]:
        """The rows the current role sees (all of them, for the owner), or of one workspace."""
        query = sql.SQL("select {key} from public.{table}").format(
            key=sql.SQL(self.key), table=sql.Identifier(self.name)
        )
        if workspace_id is not None:
            query = sql.SQL("{} where {} = {}").format(
                query, sql.SQL(self.workspace), sql.Literal(workspace_id)
            )
        return {row[0] for row in db.execute(query)}


TABLES = [
    Table("workspaces", "id::text", "id"),
    Table("teams", "id::text", "workspace_id"),
    Table("workspace_members", "workspace_id || '/' || user_id", "workspace_id"),
    Table("conversations", "id::text", "workspace_id"),
    Table(
        "ai_pause_logs",
        "id::text",
        "(select c.workspace_id from public.conversations c where c.id = conversation_id)",
    ),
]
by_name = pytest.mark.parametrize("table", TABLES, ids=[table.name for table in TABLES])


@pytest.fixture
def scene(api: Api, db: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """Both workspaces with rows in every table, the log written by the service's calls."""
    db.execute(
        "insert into teams (id, workspace_id, name) values (%s, %s, 'Globex Tier 1')",
        (GLOBEX_TEAM_ID, GLOBEX),
    )
    calls = [
        ("pause-activate", {"conversation_id": demo.FIRST_CONVERSATION_ID}),
        ("interaction-gate", {"conversation_id": demo.FIRST_CONVERSATION_ID, "message_id": "a1"}),
        ("pause-activate", {"conversation_id": demo.SALES_CONVERSATION_ID}),
        ("pause-resume", {"conversation_id": demo.SALES_CONVERSATION_ID}),
        ("pause-activate", {"conversation_id": demo.OTHER_CONVERSATION_ID}),
        ("interaction-gate", {"conversation_id": demo.OTHER_CONVERSATION_ID, "message_id": "g1"}),
    ]
    for function, body in calls:
        answer = api.post(function, body, token=api.service)
        assert answer.status_code == 200, answer.get_json()
    assert len(log_rows(db)) == 6
    return db


# ---------------------------------------------------------------------------
# Who reads what
# ---------------------------------------------------------------------------


@by_name
def test_a_member_sees_exactly_their_workspaces_rows(
    scene: psycopg.Connection[Any], table: Table
) -> None:
    acme_rows = table.keys(scene, ACME)
    assert acme_rows  # the scene has rows to see

    with acting_as(scene, "authenticated", member_claims(demo.ATTENDANT_ID)) as member:
        visible = table.keys(member)

    assert visible == acme_rows


@by_name
def test_another_workspaces_admin_sees_only_theirs(
    scene: psycopg.Connection[Any], table: Table
) -> None:
    globex_rows = table.keys(scene, GLOBEX)
    assert globex_rows
    assert globex_rows.isdisjoint(table.keys(scene, ACME))

    with acting_as(scene, "authenticated", member_claims(demo.OTHER_ADMIN_ID)) as admin:
        visible = table.keys(admin)

    assert visible == globex_rows


@by_name
@pytest.mark.parametrize(
    "claims",
    [
        member_claims(uuid4()),
        {"role": "authenticated", "aud": "authenticated"},  # signed in, but no sub
    ],
    ids=["stranger", "no-sub"],
)
def test_a_signed_in_non_member_sees_nothing(
    scene: psycopg.Connection[Any], table: Table, claims: dict[str, Any]
) -> None:
    assert table.keys(scene)

    with acting_as(scene, "authenticated", claims) as stranger:
        assert table.keys(stranger) == set()


@by_name
def test_anon_is_refused_every_table(scene: psycopg.Connection[Any], table: Table) -> None:
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"),
        acting_as(scene, "anon") as anon,
    ):
        table.keys(anon)


@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_idempotency_keys_are_closed_to_the_api_roles(
    scene: psycopg.Connection[Any], api: Api, role: str
) -> None:
    """Stored answers of other callers' requests: not for the inbox UI to read."""
    api.post(
        "pause-resume",
        {"conversation_id": str(demo.FIRST_CONVERSATION_ID)},
        token=api.attendant,
        headers={"Idempotency-Key": "k-1"},
    )
    assert scene.execute("select count(*) from public.idempotency_keys").fetchone() == (1,)

    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="idempotency_keys"),
        acting_as(scene, role, ROLES[role]) as caller,
    ):
        caller.execute("select * from public.idempotency_keys")


@by_name
def test_service_role_reads_every_row(scene: psycopg.Connection[Any], table: Table) -> None:
    every_row = table.keys(scene)
    assert table.keys(scene, ACME) < every_row
    assert table.keys(scene, GLOBEX) < every_row

    with acting_as(scene, "service_role") as service:
        assert table.keys(service) == every_row


# ---------------------------------------------------------------------------
# The log is append-only
# ---------------------------------------------------------------------------

LOG_CHANGES = {
    "update": "update public.ai_pause_logs set reason = 'rewritten', triggered_by = 'nobody'",
    "delete": "delete from public.ai_pause_logs",
    "truncate": "truncate public.ai_pause_logs",
}


def whole_log(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute("select * from public.ai_pause_logs order by id").fetchall()


@pytest.mark.parametrize("change", LOG_CHANGES)
@pytest.mark.parametrize("role", ROLES)
def test_no_api_role_rewrites_the_log(
    scene: psycopg.Connection[Any], role: str, change: str
) -> None:
    before = whole_log(scene)

    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        acting_as(scene, role, ROLES[role]) as caller,
    ):
        caller.execute(LOG_CHANGES[change])

    assert whole_log(scene) == before


@pytest.mark.parametrize("change", LOG_CHANGES)
def test_not_even_the_owner_rewrites_the_log(scene: psycopg.Connection[Any], change: str) -> None:
    before = whole_log(scene)
    owner = scene.execute(
        "select pg_get_userbyid(relowner) = current_user from pg_class"
        " where oid = 'public.ai_pause_logs'::regclass"
    ).fetchone()
    assert owner == (True,)

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        scene.execute(LOG_CHANGES[change])

    assert whole_log(scene) == before


def change_log_after_a_mistaken_grant(db: psycopg.Connection[Any], change: str) -> None:
    with db.transaction():
        db.execute("grant update, delete, truncate on public.ai_pause_logs to service_role")
        db.execute("set local role service_role")
        db.execute(LOG_CHANGES[change])


@pytest.mark.parametrize("change", LOG_CHANGES)
def test_a_grant_by_mistake_still_does_not_let_the_log_change(
    scene: psycopg.Connection[Any], change: str
) -> None:
    """The trigger holds even when someone grants the service role more than it should have."""
    before = whole_log(scene)

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        change_log_after_a_mistaken_grant(scene, change)

    assert whole_log(scene) == before
    grants = scene.execute(
        "select privilege_type from information_schema.role_table_grants"
        " where table_name = 'ai_pause_logs' and grantee = 'service_role' order by 1"
    ).fetchall()
    assert grants == [("INSERT",), ("SELECT",)]  # the grant went with the transaction


def test_authenticated_cannot_write_a_log_row(scene: psycopg.Connection[Any]) -> None:
    before = whole_log(scene)

    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="ai_pause_logs"),
        acting_as(scene, "authenticated", member_claims(demo.ATTENDANT_ID)) as member,
    ):
        member.execute(
            "insert into public.ai_pause_logs (conversation_id, action, triggered_by,"
            " previous_ai_mode, new_ai_mode)"
            " values (%s, 'force_resume', %s, 'paused', 'active')",
            (demo.FIRST_CONVERSATION_ID, str(demo.ATTENDANT_ID)),
        )

    assert whole_log(scene) == before


def test_authenticated_cannot_change_a_conversation(scene: psycopg.Connection[Any]) -> None:
    before = conversation(scene, demo.FIRST_CONVERSATION_ID)
    assert before["ai_mode"] == "paused"

    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="conversations"),
        acting_as(scene, "authenticated", member_claims(demo.ATTENDANT_ID)) as member,
    ):
        member.execute(
            "update public.conversations set ai_mode = 'active', paused_at = null,"
            " paused_until = null, paused_by = null, pause_duration_minutes = null"
            " where id = %s",
            (demo.FIRST_CONVERSATION_ID,),
        )

    assert conversation(scene, demo.FIRST_CONVERSATION_ID) == before
    assert [row["action"] for row in log_rows(scene, demo.FIRST_CONVERSATION_ID)] == [
        "pause_activated",
        "interaction_blocked",
    ]


# ---------------------------------------------------------------------------
# The lifecycle functions are the service's
# ---------------------------------------------------------------------------


def lifecycle_functions(db: psycopg.Connection[Any]) -> list[str]:
    return [
        row[0]
        for row in db.execute(
            "select p.oid::regprocedure::text from pg_proc p"
            " where p.pronamespace = 'public'::regnamespace and p.proname like 'takeover\\_%'"
            " order by 1"
        )
    ]


def test_the_lifecycle_functions_exist(db: psycopg.Connection[Any]) -> None:
    names = {signature.partition("(")[0] for signature in lifecycle_functions(db)}

    assert {
        "takeover_activate",
        "takeover_extend",
        "takeover_resume",
        "takeover_gate",
        "takeover_log_blocked",
        "takeover_sweep",
        "takeover_status",
        "takeover_events",
        "takeover_settings",
        "takeover_update_settings",
    } <= names


@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_api_roles_may_execute_no_lifecycle_function(
    db: psycopg.Connection[Any], role: str
) -> None:
    executable = [
        signature
        for signature in lifecycle_functions(db)
        if db.execute(
            "select has_function_privilege(%s, %s::regprocedure, 'execute')", (role, signature)
        ).fetchone()
        != (False,)
    ]

    assert executable == []


SERVICE_CALLS = {
    "takeover_gate": "select public.takeover_gate(%(id)s, 'm-1', 'ai_agent')",
    "takeover_activate": "select public.takeover_activate(%(id)s, null, 15, false, null, null)",
    "takeover_resume": "select public.takeover_resume(%(id)s, null, null, null)",
    "takeover_status": "select public.takeover_status(%(id)s, null)",
    "takeover_sweep": "select public.takeover_sweep(100)",
}


@pytest.mark.parametrize("function", SERVICE_CALLS)
@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_api_roles_calling_a_lifecycle_function_get_permission_denied(
    db: psycopg.Connection[Any], role: str, function: str
) -> None:
    before = whole_log(db)

    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"function {function}"),
        acting_as(db, role, ROLES[role]) as caller,
    ):
        caller.execute(SERVICE_CALLS[function], {"id": demo.FIRST_CONVERSATION_ID})

    assert whole_log(db) == before


def test_service_role_may_execute_every_lifecycle_function(db: psycopg.Connection[Any]) -> None:
    refused = [
        signature
        for signature in lifecycle_functions(db)
        if db.execute(
            "select has_function_privilege('service_role', %s::regprocedure, 'execute')",
            (signature,),
        ).fetchone()
        != (True,)
    ]

    assert refused == []


def test_service_role_runs_the_lifecycle_through_rpc(db: psycopg.Connection[Any]) -> None:
    """What PostgREST does for the Supabase adapter: each call as service_role."""
    answers: dict[str, Any] = {}
    for function in ("takeover_activate", "takeover_gate", "takeover_resume", "takeover_status"):
        with acting_as(db, "service_role") as service:
            row = service.execute(
                SERVICE_CALLS[function], {"id": demo.FIRST_CONVERSATION_ID}
            ).fetchone()
        assert row is not None
        answers[function] = row[0]

    assert answers["takeover_activate"]["ai_mode"] == "paused"
    assert answers["takeover_gate"]["allowed"] is False
    assert answers["takeover_resume"]["ai_mode"] == "active"
    assert answers["takeover_status"]["ai_mode"] == "active"
    assert [(row["action"], row["triggered_by"]) for row in log_rows(db)] == [
        ("pause_activated", "service"),
        ("interaction_blocked", "ai_agent"),
        ("force_resume", "service"),
    ]
