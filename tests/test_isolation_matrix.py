"""The tenant isolation matrix: who may do what, through every function and directly on
every table and database function, each cell a test. docs/isolation.md is this matrix,
rendered by `python -m tests.test_isolation_matrix` (a test keeps the two equal).

Direct access is tried the way PostgREST does it: one transaction as the JWT's role
(`set local role`) with its claims in `request.jwt.claims`; every write is rolled back.
"Acme" (demo.WORKSPACE_ID) is the workspace the rows belong to: its attendant is the
member, Globex's admin (a member of another workspace only) the non-member.

Beyond the matrix, at the end: what no cell says (the log stays append-only for its owner
and past a mistaken grant; the service role runs the lifecycle through PostgREST's RPC).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
import psycopg
import pytest
from psycopg import sql

from functions.local import demo
from tests.conftest import functions_on
from tests.contract import DATABASE_FUNCTIONS
from tests.databases import fresh_database
from tests.support import JWT_SECRET, Api, expire, log_rows, set_request_role, snapshot

ACME = demo.WORKSPACE_ID
GLOBEX = demo.OTHER_WORKSPACE_ID
ACME_CONVERSATION = demo.FIRST_CONVERSATION_ID
GLOBEX_CONVERSATION = demo.OTHER_CONVERSATION_ID
STRANGER_ID = UUID("7a1c0000-0000-4000-8000-00000000057a")  # signed in, of no workspace
DOC = Path(__file__).resolve().parent.parent / "docs" / "isolation.md"

# Outcomes ------------------------------------------------------------------------------

DENIED = "denied"  # permission denied (42501), nothing read or changed
ALL = "all rows"
OWN = "own workspaces' rows"
NONE = "no rows"
ALLOWED = "allowed"
EXECUTES = "executes"

# Direct access: who ----------------------------------------------------------------------

DB_ROLES: dict[str, tuple[str, dict[str, Any]]] = {
    "anon": ("anon", {"role": "anon"}),
    "member": (
        "authenticated",
        {"sub": str(demo.ATTENDANT_ID), "role": "authenticated", "aud": "authenticated"},
    ),
    "non-member": (
        "authenticated",
        {"sub": str(demo.OTHER_ADMIN_ID), "role": "authenticated", "aud": "authenticated"},
    ),
    "stranger": (
        "authenticated",
        {"sub": str(STRANGER_ID), "role": "authenticated", "aud": "authenticated"},
    ),
    "no-sub": ("authenticated", {"role": "authenticated", "aud": "authenticated"}),
    "service_role": ("service_role", {"role": "service_role"}),
}
MEMBERSHIPS: dict[str, set[UUID]] = {
    "member": {ACME},
    "non-member": {GLOBEX},
    "stranger": set(),
    "no-sub": set(),
}
DB_COLUMNS = {
    "anon": "anon",
    "member": "authenticated, member",
    "non-member": "authenticated, non-member",
    "stranger": "authenticated, no workspace",
    "no-sub": "authenticated, no `sub`",
    "service_role": "service_role",
}

# Direct access: what ---------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    name: str
    key: str  # a row's identity, as text
    workspace: str | None  # the workspace a row belongs to (None: no workspace)
    writes: dict[str, str]  # operation -> statement on a row of Acme's


KEY_ROW = ("7a1c-scope", "7a1c-key")
TABLES = [
    Table(
        "workspaces",
        "id::text",
        "id",
        {
            "insert": "insert into public.workspaces (name) values ('Initech')",
            "update": f"update public.workspaces set name = name where id = '{ACME}'",
            "delete": "delete from public.workspaces where name = 'Victim'",
        },
    ),
    Table(
        "teams",
        "id::text",
        "workspace_id",
        {
            "insert": f"insert into public.teams (workspace_id, name) values ('{ACME}', 'Ops')",
            "update": f"update public.teams set name = name where workspace_id = '{ACME}'",
            "delete": f"delete from public.teams where id = '{demo.SALES_TEAM_ID}'",
        },
    ),
    Table(
        "workspace_members",
        "workspace_id || '/' || user_id",
        "workspace_id",
        {
            "insert": "insert into public.workspace_members (workspace_id, user_id)"
            f" values ('{ACME}', gen_random_uuid())",
            "update": "update public.workspace_members set role = 'admin'"
            f" where user_id = '{demo.ATTENDANT_ID}'",
            "delete": f"delete from public.workspace_members where user_id = '{demo.ATTENDANT_ID}'",
        },
    ),
    Table(
        "conversations",
        "id::text",
        "workspace_id",
        {
            "insert": f"insert into public.conversations (workspace_id) values ('{ACME}')",
            "update": "update public.conversations set team_id = null"
            f" where id = '{demo.NO_TEAM_CONVERSATION_ID}'",
            "delete": "delete from public.conversations where team_id is null"
            f" and workspace_id = '{ACME}' and not exists (select 1 from public.ai_pause_logs l"
            " where l.conversation_id = conversations.id)",
        },
    ),
    Table(
        "ai_pause_logs",
        "id::text",
        "(select c.workspace_id from public.conversations c where c.id = conversation_id)",
        {
            "insert": "insert into public.ai_pause_logs (conversation_id, action, triggered_by,"
            f" previous_ai_mode, new_ai_mode) values ('{demo.SALES_CONVERSATION_ID}',"
            " 'pause_activated', 'forged', 'active', 'paused')",
            "update": "update public.ai_pause_logs set reason = 'rewritten'"
            f" where conversation_id = '{ACME_CONVERSATION}'",
            "delete": "delete from public.ai_pause_logs"
            f" where conversation_id = '{ACME_CONVERSATION}'",
        },
    ),
    Table(
        "blocked_drafts",
        "event_id::text",
        "workspace_id",
        {
            "insert": "insert into public.blocked_drafts (conversation_id, event_id, workspace_id,"
            f" agent_id, draft) values ('{ACME_CONVERSATION}', 1, '{ACME}', 'forged', 'forged')",
            "update": "update public.blocked_drafts set draft = 'rewritten'"
            f" where workspace_id = '{ACME}'",
            "delete": f"delete from public.blocked_drafts where workspace_id = '{ACME}'",
        },
    ),
    Table(
        "idempotency_keys",
        "scope || '/' || key",
        None,
        {
            "insert": "insert into public.idempotency_keys (scope, key, request_hash)"
            " values ('service', 'new-key', 'h')",
            "update": "update public.idempotency_keys set answer = null"
            f" where scope = '{KEY_ROW[0]}'",
            "delete": f"delete from public.idempotency_keys where scope = '{KEY_ROW[0]}'",
        },
    ),
    Table(
        "webhook_endpoints",
        "id::text",
        "workspace_id",
        {
            "insert": "insert into public.webhook_endpoints (workspace_id, url, secret)"
            f" values ('{ACME}', 'https://hooks.example.com/new', 'whsec_eA==')",
            "update": "update public.webhook_endpoints set enabled = false"
            f" where workspace_id = '{ACME}'",
            "delete": f"delete from public.webhook_endpoints where workspace_id = '{ACME}'",
        },
    ),
    Table(
        "webhook_deliveries",
        "id::text",
        "(select e.workspace_id from public.webhook_endpoints e where e.id = endpoint_id)",
        {
            "insert": "insert into public.webhook_deliveries (endpoint_id, webhook_id, type,"
            " payload) select e.id, 'forged', 'takeover.pause_expiring', '{}'"
            f" from public.webhook_endpoints e where e.workspace_id = '{ACME}'",
            "update": "update public.webhook_deliveries set status = 'delivered'",
            "delete": "delete from public.webhook_deliveries",
        },
    ),
    Table(
        "webhook_outbox",
        "log_id::text",
        "(select l.workspace_id from public.ai_pause_logs l where l.id = log_id)",
        {
            "insert": "insert into public.webhook_outbox (log_id) values (1)",
            "update": "update public.webhook_outbox set log_id = log_id",
            "delete": "delete from public.webhook_outbox",
        },
    ),
]
for _table in TABLES:
    _table.writes["truncate"] = f"truncate public.{_table.name} cascade"
OPERATIONS = ["select", "insert", "update", "delete", "truncate"]


PRIVATE_TABLES = {"idempotency_keys", "webhook_endpoints", "webhook_deliveries", "webhook_outbox"}


def _expected_table_cell(table: str, operation: str, role: str) -> str:
    if role == "anon":
        return DENIED
    if role in MEMBERSHIPS:
        # Keys and webhooks (endpoint secrets) are the service's alone.
        if table in PRIVATE_TABLES or operation != "select":
            return DENIED
        return OWN if MEMBERSHIPS[role] else NONE
    if operation == "select":
        return ALL
    if operation == "truncate":
        return DENIED  # no API role holds TRUNCATE
    if table == "ai_pause_logs" and operation != "select":
        # Written only by the lifecycle functions, as the owner; append-only: no grant to
        # update or delete, and a trigger besides.
        return DENIED
    if table == "blocked_drafts" and operation in ("insert", "update"):
        return DENIED  # kept by the gate alone; the service may read and delete them
    return ALLOWED


TABLE_MATRIX: dict[tuple[str, str], dict[str, str]] = {
    (table.name, operation): {
        role: _expected_table_cell(table.name, operation, role) for role in DB_ROLES
    }
    for table in TABLES
    for operation in OPERATIONS
}

# The database functions, by the rule the schema applies: the API (public.takeover_*) is the
# service's; is_workspace_member is for the policies (authenticated) and the service; the
# helpers in takeover_private are nobody's (the API runs them as their owner).
PRIVATE = "takeover_private."


def _expected_function_cell(function: str, role: str) -> str:
    if function.startswith(PRIVATE):
        return DENIED
    if role == "service_role":
        return EXECUTES
    if function == "is_workspace_member" and role in MEMBERSHIPS:
        return EXECUTES
    return DENIED


FUNCTION_MATRIX = {
    function: {role: _expected_function_cell(function, role) for role in DB_ROLES}
    for function in DATABASE_FUNCTIONS
}

# Through the functions ----------------------------------------------------------------

CALLERS = ["no token", "anon key", "member", "admin", "non-member", "service"]
CALLER_COLUMNS = {
    "no token": "no token",
    "anon key": "anon key",
    "member": "attendant, member",
    "admin": "admin, member",
    "non-member": "non-member",
    "service": "service key",
}


def anon_key(secret: str) -> str:
    """Like Supabase's anon key: the role every request without a user has."""
    now = int(time.time())
    claims = {"role": "anon", "iss": "supabase-demo", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, secret, algorithm="HS256")


def _token(api: Api, caller: str) -> str | None:
    return {
        "no token": None,
        "anon key": anon_key(api.secret),
        "member": api.attendant,
        "admin": api.admin,
        "non-member": api.outsider,
        "service": api.service,
    }[caller]


@dataclass(frozen=True)
class Call:
    label: str
    method: str
    function: str
    body: dict[str, Any] | None = None
    query: dict[str, str] | None = None
    paused: bool = False  # pause Acme's conversation first
    service_only: bool = False
    admin_only: bool = False
    on_behalf: bool = False  # carries triggered_by: only the service may


ACME_ID = str(ACME_CONVERSATION)


def on_behalf(function: str) -> Call:
    """`function` on Acme's conversation, naming the attendant as the one who acted."""
    body = {"conversation_id": ACME_ID, "triggered_by": str(demo.ATTENDANT_ID)}
    return Call(f"{function} on someone's behalf", "POST", function, body, on_behalf=True)


CALLS = [
    Call(
        "pause-activate",
        "POST",
        "pause-activate",
        {"conversation_id": ACME_ID, "duration_minutes": 15},
    ),
    on_behalf("pause-activate"),
    Call(
        "pause-extend",
        "POST",
        "pause-extend",
        {"conversation_id": ACME_ID, "duration_minutes": 15},
        paused=True,
    ),
    Call("pause-resume", "POST", "pause-resume", {"conversation_id": ACME_ID}, paused=True),
    Call("human-reply", "POST", "human-reply", {"conversation_id": ACME_ID, "message_id": "h-1"}),
    on_behalf("human-reply"),
    Call(
        "interaction-gate",
        "POST",
        "interaction-gate",
        {"conversation_id": ACME_ID, "message_id": "m-1"},
        paused=True,
        service_only=True,
    ),
    Call(
        "pause-logger POST",
        "POST",
        "pause-logger",
        {"conversation_id": ACME_ID, "action": "interaction_blocked", "message_id": "m-2"},
        paused=True,
        service_only=True,
    ),
    Call("auto-resume", "POST", "auto-resume", {}, paused=True, service_only=True),
    Call("pause-status", "GET", "pause-status", query={"conversation_id": ACME_ID}, paused=True),
    Call(
        "pause-logger GET, one conversation",
        "GET",
        "pause-logger",
        query={"conversation_id": ACME_ID},
        paused=True,
    ),
    Call(
        "pause-logger GET, whole trail",
        "GET",
        "pause-logger",
        query={"limit": "1000"},
        paused=True,
    ),
    Call("pause-settings GET", "GET", "pause-settings", query={"workspace_id": str(ACME)}),
    Call("pause-report", "GET", "pause-report", query={"workspace_id": str(ACME)}),
    Call(
        "pause-settings PUT, workspace",
        "PUT",
        "pause-settings",
        {"workspace_id": str(ACME), "default_duration_minutes": 60},
        admin_only=True,
    ),
    Call(
        "pause-settings PUT, team",
        "PUT",
        "pause-settings",
        {"team_id": str(demo.SALES_TEAM_ID), "inherit": True},
        admin_only=True,
    ),
    Call(
        "webhook-endpoints GET",
        "GET",
        "webhook-endpoints",
        query={"workspace_id": str(ACME)},
        admin_only=True,
    ),
    Call(
        "webhook-endpoints POST",
        "POST",
        "webhook-endpoints",
        # Refused at once when sent to (nothing listens there); loopback is allowed in tests.
        {"workspace_id": str(ACME), "url": "http://127.0.0.1:9/hook"},
        admin_only=True,
    ),
    Call("webhook-dispatch", "POST", "webhook-dispatch", {}, paused=True, service_only=True),
]


def _expected_call_cell(call: Call, caller: str) -> str:
    if caller == "no token":
        return "401"
    if caller == "anon key":
        return "403"  # role_not_allowed
    if caller == "service":
        return "200, all events" if call.label == "pause-logger GET, whole trail" else "200"
    if call.service_only or call.on_behalf:
        return "403"  # service_only / triggered_by_not_allowed
    if call.label == "pause-logger GET, whole trail":
        return "200, own workspaces' events" if caller != "non-member" else "200, none of Acme's"
    if caller == "non-member":
        return "404"  # as if it did not exist
    if call.admin_only and caller != "admin":
        return "403"  # admin_only
    return "200"


CALL_MATRIX = {
    call.label: {caller: _expected_call_cell(call, caller) for caller in CALLERS} for call in CALLS
}


# Fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene(server_url: str, template: str) -> Iterator[psycopg.Connection[Any]]:
    """One database for the direct-access cells (each rolls back what it did): rows of both
    workspaces in every table."""
    with (
        fresh_database(server_url, "takeover_matrix", template) as url,
        psycopg.connect(url, autocommit=True) as db,
    ):
        db.execute("insert into public.workspaces (name) values ('Victim')")
        db.execute(
            "insert into public.teams (workspace_id, name) values (%s, 'Globex Tier 1')", (GLOBEX,)
        )
        for conversation in (ACME_CONVERSATION, GLOBEX_CONVERSATION):
            db.execute(
                "select public.takeover_activate(%s, null, 15, false, null, null)", (conversation,)
            )
            db.execute(
                "select public.takeover_gate(%s, 'm-1', 'ai_agent', 'a draft')", (conversation,)
            )
        db.execute(
            "insert into public.idempotency_keys (scope, key, request_hash) values (%s, %s, 'h')",
            KEY_ROW,
        )
        # An endpoint in each workspace, a delivery of each log row, one row left queued.
        db.execute(
            "insert into public.webhook_endpoints (workspace_id, url, secret)"
            " select id, 'https://hooks.example.com/' || id, 'whsec_eA=='"
            " from public.workspaces where id = any(%s)",
            ([ACME, GLOBEX],),
        )
        db.execute(
            "insert into public.webhook_deliveries (endpoint_id, webhook_id, type, log_id)"
            " select e.id, 'evt_' || l.id, 'takeover.' || l.action, l.id"
            " from public.ai_pause_logs l"
            " join public.webhook_endpoints e on e.workspace_id = l.workspace_id"
        )
        db.execute("insert into public.webhook_outbox (log_id) select max(id) from ai_pause_logs")
        yield db


@pytest.fixture(scope="module")
def calls_database(server_url: str, template: str) -> Iterator[psycopg.Connection[Any]]:
    """One database for the function cells, which the functions use."""
    with (
        fresh_database(server_url, "takeover_matrix", template) as url,
        psycopg.connect(url, autocommit=True) as db,
        functions_on(url),
    ):
        yield db


# The seed's pause state and settings, which each function cell starts from.
RESET = [
    "update public.conversations set ai_mode = 'active', paused_at = null,"
    " paused_until = null, paused_by = null, pause_duration_minutes = null",
    f"update public.workspaces set default_duration_minutes = 30 where id = '{ACME}'",
    f"update public.workspaces set default_duration_minutes = 60 where id = '{GLOBEX}'",
    "update public.teams set inherits_default = false, default_duration_minutes = 120"
    f" where id = '{demo.SALES_TEAM_ID}'",
    "update public.teams set inherits_default = true, default_duration_minutes = null"
    f" where id = '{demo.SUPPORT_TEAM_ID}'",
    "delete from takeover_private.human_replies",
]


@pytest.fixture
def calls_scene(calls_database: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    with calls_database.transaction():
        for statement in RESET:
            calls_database.execute(statement)
    return calls_database


def _keys(
    db: psycopg.Connection[Any], table: Table, workspaces: set[UUID] | None = None
) -> set[str]:
    query = sql.SQL("select {} from public.{}").format(
        sql.SQL(table.key), sql.Identifier(table.name)
    )
    if workspaces is not None:
        assert table.workspace is not None
        query = sql.SQL("{} where {} = any({})").format(
            query, sql.SQL(table.workspace), sql.Literal(list(workspaces))
        )
    return {row[0] for row in db.execute(query)}


def _attempt(
    db: psycopg.Connection[Any], role: str, action: Callable[[], str], refused: str
) -> str:
    """The outcome of `action` as `role`, in a transaction rolled back whatever happens. A
    denial must name `refused`, the table, function or schema the role was refused."""
    try:
        with db.transaction(force_rollback=True):
            set_request_role(db, *DB_ROLES[role])
            return action()
    except psycopg.errors.InsufficientPrivilege as error:
        message = str(error)
    assert "permission denied" in message or "append-only" in message, message
    assert refused in message, message
    return DENIED


# Direct access: the cells ---------------------------------------------------------------

TABLE_CELLS = [
    pytest.param(table, operation, role, id=f"{table.name}-{operation}-{role}")
    for table in TABLES
    for operation in OPERATIONS
    for role in DB_ROLES
]


@pytest.mark.parametrize(("table", "operation", "role"), TABLE_CELLS)
def test_table_cell(
    scene: psycopg.Connection[Any], table: Table, operation: str, role: str
) -> None:
    expected = TABLE_MATRIX[(table.name, operation)][role]
    every_row = _keys(scene, table)
    assert every_row, "the scene has rows in every table"
    before = snapshot(scene)

    def read() -> str:
        visible = _keys(scene, table)
        if visible == every_row:
            return ALL
        workspaces = MEMBERSHIPS[role]
        if not workspaces:
            assert visible == set(), f"{role}, of no workspace, sees {visible}"
            return NONE
        assert table.workspace is not None
        own = _keys(scene, table, workspaces)
        assert own, "the caller's own workspaces have rows"
        assert visible == own, f"{role} sees {visible}, not their own {own}"
        return OWN

    def write() -> str:
        cursor = scene.execute(table.writes[operation])
        assert operation == "truncate" or cursor.rowcount > 0, "the statement hit no row"
        return ALLOWED

    outcome = _attempt(scene, role, read if operation == "select" else write, table.name)

    assert outcome == expected
    assert snapshot(scene) == before  # rolled back, whatever it was


@pytest.mark.parametrize("function", DATABASE_FUNCTIONS)
@pytest.mark.parametrize("role", list(DB_ROLES))
def test_database_function_cell(scene: psycopg.Connection[Any], function: str, role: str) -> None:
    """Called with null arguments: the privilege check comes before anything else, so any
    outcome but `permission denied for function` (or, in takeover_private, `for schema`)
    means the role may execute it."""
    schema, _, name = function.rpartition(".")
    schema = schema or "public"
    before = snapshot(scene)
    row = scene.execute(
        "select array_agg(format_type(t, null) order by i) from pg_proc p,"
        " unnest(p.proargtypes) with ordinality u(t, i)"
        " where p.pronamespace = %s::regnamespace and p.proname = %s",
        (schema, name),
    ).fetchone()
    types: list[str] = row[0] if row and row[0] else []
    call = sql.SQL("select {}({})").format(
        sql.Identifier(schema, name),
        sql.SQL(", ").join(sql.SQL("null::{}").format(sql.SQL(type_)) for type_ in types),
    )

    def execute() -> str:
        try:
            with scene.transaction():
                scene.execute(call)
        except psycopg.errors.InsufficientPrivilege:
            raise
        except psycopg.Error:
            pass  # past the privilege check: a null argument the function refuses
        return EXECUTES

    refused = f"function {name}" if schema == "public" else f"schema {schema}"
    assert _attempt(scene, role, execute, refused) == FUNCTION_MATRIX[function][role]
    assert snapshot(scene) == before  # rolled back, whatever it did


def test_the_matrix_lists_every_database_function(scene: psycopg.Connection[Any]) -> None:
    """The schema files declare every function of public and takeover_private (the matrix's
    rows come from them, each under the rule above)."""
    names = [
        row[0]
        for row in scene.execute(
            "select case p.pronamespace when 'public'::regnamespace then ''"
            " else p.pronamespace::regnamespace::text || '.' end || p.proname"
            " from pg_proc p"
            " where p.pronamespace in ('public'::regnamespace, 'takeover_private'::regnamespace)"
            " order by 1"
        )
    ]
    assert names == sorted(DATABASE_FUNCTIONS)


def test_the_matrix_lists_every_table(scene: psycopg.Connection[Any]) -> None:
    names = [
        row[0]
        for row in scene.execute(
            "select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace"
            " and c.relkind in ('r', 'p', 'v', 'm', 'f') order by 1"
        )
    ]
    assert names == sorted(table.name for table in TABLES)


# Through the functions: the cells --------------------------------------------------------

CALL_CELLS = [
    pytest.param(call, caller, id=f"{call.label.replace(' ', '_')}-{caller.replace(' ', '_')}")
    for call in CALLS
    for caller in CALLERS
]


@pytest.mark.parametrize(("call", "caller"), CALL_CELLS)
def test_function_cell(calls_scene: psycopg.Connection[Any], call: Call, caller: str) -> None:
    db = calls_scene
    api = Api(JWT_SECRET)
    expected = CALL_MATRIX[call.label][caller]
    for conversation in (ACME_CONVERSATION, GLOBEX_CONVERSATION):
        if call.paused:
            body = {"conversation_id": str(conversation), "duration_minutes": 15}
            assert api.post("pause-activate", body, token=api.service).status_code == 200
    if call.label == "auto-resume":
        expire(db, ACME_CONVERSATION)
        expire(db, GLOBEX_CONVERSATION)
    before = snapshot(db)

    answer = api.call(
        call.method,
        call.function,
        token=_token(api, caller),
        body=call.body,
        query=call.query,
    )

    status = str(answer.status_code)
    assert status == expected.partition(",")[0], answer.get_data()
    if status != "200":
        assert snapshot(db) == before, "a refused call changed something"
        return
    if call.label == "pause-logger GET, whole trail":
        events = answer.get_json()["events"]
        conversations = {event["conversation_id"] for event in events}
        if caller == "service":
            assert conversations == {str(ACME_CONVERSATION), str(GLOBEX_CONVERSATION)}
        elif caller == "non-member":
            assert conversations == {str(GLOBEX_CONVERSATION)}
        else:
            assert conversations == {str(ACME_CONVERSATION)}


# Beyond the matrix ----------------------------------------------------------------------
# What no cell says: no cell's role is the log's owner, nor holds a grant by mistake, and a
# cell makes one call, not the lifecycle.

LOG = next(table for table in TABLES if table.name == "ai_pause_logs")
LOG_CHANGES = ["update", "delete", "truncate"]  # the statements the log's cells refuse


@pytest.mark.parametrize("change", LOG_CHANGES)
def test_not_even_the_owner_rewrites_the_log(scene: psycopg.Connection[Any], change: str) -> None:
    before = snapshot(scene)
    owner = scene.execute(
        "select pg_get_userbyid(relowner) = current_user from pg_class"
        " where oid = 'public.ai_pause_logs'::regclass"
    ).fetchone()
    assert owner == (True,)

    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
        scene.transaction(force_rollback=True),
    ):
        scene.execute(LOG.writes[change])

    assert snapshot(scene) == before


def _change_log_after_a_mistaken_grant(db: psycopg.Connection[Any], change: str) -> None:
    with db.transaction(force_rollback=True):
        db.execute("grant update, delete, truncate on public.ai_pause_logs to service_role")
        set_request_role(db, *DB_ROLES["service_role"])
        db.execute(LOG.writes[change])


@pytest.mark.parametrize("change", LOG_CHANGES)
def test_a_grant_by_mistake_still_does_not_let_the_log_change(
    scene: psycopg.Connection[Any], change: str
) -> None:
    """The trigger holds even when someone grants the service role more than it should have."""
    before = snapshot(scene)

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        _change_log_after_a_mistaken_grant(scene, change)

    assert snapshot(scene) == before
    grants = scene.execute(
        "select privilege_type from information_schema.role_table_grants"
        " where table_name = 'ai_pause_logs' and grantee = 'service_role' order by 1"
    ).fetchall()
    assert grants == [("SELECT",)]  # the grant went with the transaction


RPC_CALLS = {
    "takeover_activate": "select public.takeover_activate(%(id)s, null, 15, false, null, null)",
    "takeover_gate": "select public.takeover_gate(%(id)s, 'm-1', 'ai_agent')",
    "takeover_resume": "select public.takeover_resume(%(id)s, null, null, null)",
    "takeover_status": "select public.takeover_status(%(id)s, null)",
}


def test_service_role_runs_the_lifecycle_through_rpc(db: psycopg.Connection[Any]) -> None:
    """What PostgREST does for the Supabase adapter: each call its own transaction, as
    service_role (on a database of its own: these calls commit)."""
    answers: dict[str, Any] = {}
    for function, call in RPC_CALLS.items():
        with db.transaction():
            set_request_role(db, *DB_ROLES["service_role"])
            row = db.execute(call, {"id": ACME_CONVERSATION}).fetchone()
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


# The document ---------------------------------------------------------------------------


def _markdown(columns: dict[str, str], rows: dict[str, dict[str, str]], first: str) -> str:
    header = f"| {first} | " + " | ".join(columns.values()) + " |"
    rule = "|" + "---|" * (len(columns) + 1)
    lines = [header, rule]
    for label, cells in rows.items():
        lines.append(f"| {label} | " + " | ".join(cells[column] for column in columns) + " |")
    return "\n".join(lines)


def _code_first_word(label: str) -> str:
    name, _, rest = label.partition(" ")
    return f"`{name}` {rest}".rstrip()


def render() -> str:
    """The three tables of docs/isolation.md, from the matrices above."""
    tables = {f"`{table}` {operation}": cells for (table, operation), cells in TABLE_MATRIX.items()}
    functions = {f"`{function}`": cells for function, cells in FUNCTION_MATRIX.items()}
    calls = {_code_first_word(label): cells for label, cells in CALL_MATRIX.items()}
    return "\n\n".join(
        [
            "<!-- matrix:functions -->\n" + _markdown(CALLER_COLUMNS, calls, "function"),
            "<!-- matrix:tables -->\n" + _markdown(DB_COLUMNS, tables, "table, operation"),
            "<!-- matrix:database-functions -->\n"
            + _markdown(DB_COLUMNS, functions, "database function"),
        ]
    )


def test_docs_isolation_md_is_this_matrix() -> None:
    for block in render().split("\n\n"):
        assert block in DOC.read_text(), f"docs/isolation.md is out of date: {block[:60]}"


if __name__ == "__main__":
    sys.stdout.write(render() + "\n")
