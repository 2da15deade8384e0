"""Takeover installed onto an inbox that already has its tables (docs/inbox-integration.md).

The inbox here is one of our own making, as a real one would have it: its four tables with
columns of its own and data (two workspaces, attendants, conversations assigned to them), a
table of its own (`messages`), policies narrower than Takeover's (an attendant sees only the
conversations assigned to them, and their messages; `teams` has no RLS at all), its own
grants (down to columns) and a backend role of its own. The tables belong to the inbox's
owner role, not to the role that migrates. Given that inbox, when Takeover's migrations run,
then everyone sees and may do exactly what they saw and did before, no inbox row changed,
and the pause columns Takeover added are written through its functions only.

Who acts is set the way PostgREST sets it: one transaction as the JWT's role (`set local
role`), its claims in `request.jwt.claims` (what `auth.uid()` reads); every write is rolled
back.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from functions import migrations
from functions.local import demo
from tests.conftest import functions_on
from tests.databases import database_url, fresh_database
from tests.schema import SCHEMA_FILES, run_raw, schema_catalog
from tests.support import JWT_SECRET, Api, log_rows, set_request_role

ACME = UUID("1b0c0000-0000-4000-8000-000000000001")
GLOBEX = UUID("1b0c0000-0000-4000-8000-000000000002")
ALICE = UUID("1b0c0000-0000-4000-8000-0000000000a1")  # attendant at Acme
BOB = UUID("1b0c0000-0000-4000-8000-0000000000a2")  # attendant at Acme
CAROL = UUID("1b0c0000-0000-4000-8000-0000000000a3")  # admin at Acme
DAVE = UUID("1b0c0000-0000-4000-8000-0000000000a4")  # admin at Globex
ALICES = UUID("1b0c0000-0000-4000-8000-0000000000c1")  # assigned to Alice
BOBS = UUID("1b0c0000-0000-4000-8000-0000000000c2")  # assigned to Bob
UNASSIGNED = UUID("1b0c0000-0000-4000-8000-0000000000c3")
DAVES = UUID("1b0c0000-0000-4000-8000-0000000000c4")  # Globex, assigned to Dave

# Roles belong to the server: created once, kept (other tests' databases may use them).
INBOX_OWNER = "inbox_owner"  # owns the inbox's tables; not a superuser
INBOX_BACKEND = "inbox_backend"  # the inbox's own server, with grants of its own

INBOX_SCHEMA = f"""
create table public.workspaces (
  id uuid primary key,
  name text not null,
  plan text not null default 'free',
  is_public boolean not null default false,
  created_at timestamptz not null default now()
);
comment on table public.workspaces is 'The inbox''s customers.';
create table public.teams (
  id uuid primary key,
  workspace_id uuid not null references public.workspaces (id),
  name text not null,
  color text
);
create table public.workspace_members (
  workspace_id uuid not null references public.workspaces (id),
  user_id uuid not null,
  role text not null check (role in ('attendant', 'admin')),
  display_name text not null,
  primary key (workspace_id, user_id)
);
create table public.conversations (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id),
  team_id uuid references public.teams (id),
  assignee_id uuid,
  subject text not null,
  status text not null default 'open',
  customer_email text,
  created_at timestamptz not null default now()
);
create table public.messages (
  id bigint generated always as identity primary key,
  conversation_id uuid not null references public.conversations (id),
  author text not null,
  body text not null
);
-- The inbox's own function: everyone may execute it (PostgreSQL's default).
create function public.message_count(p_conversation_id uuid) returns bigint
language sql stable
as 'select count(*) from public.messages where conversation_id = p_conversation_id';

insert into public.workspaces (id, name, plan, is_public) values
  ('{ACME}', 'Acme', 'pro', true), ('{GLOBEX}', 'Globex', 'free', false);
insert into public.teams (id, workspace_id, name, color) values
  ('1b0c0000-0000-4000-8000-0000000000b1', '{ACME}', 'Sales', 'red'),
  ('1b0c0000-0000-4000-8000-0000000000b2', '{ACME}', 'Support', null),
  ('1b0c0000-0000-4000-8000-0000000000b3', '{GLOBEX}', 'Ops', 'blue');
insert into public.workspace_members (workspace_id, user_id, role, display_name) values
  ('{ACME}', '{ALICE}', 'attendant', 'Alice'), ('{ACME}', '{BOB}', 'attendant', 'Bob'),
  ('{ACME}', '{CAROL}', 'admin', 'Carol'), ('{GLOBEX}', '{DAVE}', 'admin', 'Dave');
insert into public.conversations
  (id, workspace_id, team_id, assignee_id, subject, status, customer_email) values
  ('{ALICES}', '{ACME}', '1b0c0000-0000-4000-8000-0000000000b1', '{ALICE}', 'Refund',
   'open', 'ann@example.com'),
  ('{BOBS}', '{ACME}', '1b0c0000-0000-4000-8000-0000000000b2', '{BOB}', 'Login', 'pending',
   'ben@example.com'),
  ('{UNASSIGNED}', '{ACME}', null, null, 'Hello?', 'open', null),
  ('{DAVES}', '{GLOBEX}', '1b0c0000-0000-4000-8000-0000000000b3', '{DAVE}', 'Invoice',
   'closed', 'dan@example.com');
insert into public.messages (conversation_id, author, body) values
  ('{ALICES}', 'customer', 'I want my money back'), ('{ALICES}', 'Alice', 'On it'),
  ('{BOBS}', 'customer', 'Cannot log in'), ('{UNASSIGNED}', 'customer', 'Anyone?'),
  ('{DAVES}', 'customer', 'Wrong amount');

-- Row level security on four of the five: every signed-in user sees every team.
alter table public.workspaces enable row level security;
alter table public.workspace_members enable row level security;
alter table public.conversations enable row level security;
alter table public.messages enable row level security;

create policy "Members see their own memberships" on public.workspace_members
  for select to authenticated using (user_id = auth.uid());
create policy "Members see their workspaces" on public.workspaces
  for select to authenticated using (id in (
    select m.workspace_id from public.workspace_members m where m.user_id = auth.uid()));
create policy "Anyone sees a public workspace" on public.workspaces
  for select to anon using (is_public);
create policy "Attendants see their conversations, admins their workspace's"
  on public.conversations for select to authenticated using (
    assignee_id = auth.uid() or exists (
      select 1 from public.workspace_members m
      where m.workspace_id = conversations.workspace_id and m.user_id = auth.uid()
        and m.role = 'admin'));
create policy "Attendants update the conversations they see" on public.conversations
  for update to authenticated
  using (
    assignee_id = auth.uid() or exists (
      select 1 from public.workspace_members m
      where m.workspace_id = conversations.workspace_id and m.user_id = auth.uid()
        and m.role = 'admin'))
  with check (workspace_id in (
    select m.workspace_id from public.workspace_members m where m.user_id = auth.uid()));
create policy "Members open conversations in their workspaces" on public.conversations
  for insert to authenticated with check (workspace_id in (
    select m.workspace_id from public.workspace_members m where m.user_id = auth.uid()));
create policy "Members read the messages of the conversations they see" on public.messages
  for select to authenticated using (
    exists (select 1 from public.conversations c where c.id = conversation_id));
create policy "Members write on the conversations they see" on public.messages
  for insert to authenticated with check (
    exists (select 1 from public.conversations c where c.id = conversation_id));
create policy "The backend works on every conversation" on public.conversations
  for all to {INBOX_BACKEND} using (true) with check (true);

grant select on table public.workspaces to anon, authenticated;
grant select on table public.teams, public.workspace_members to authenticated;
grant select, insert on table public.conversations to authenticated;
grant update (subject, assignee_id, status) on table public.conversations to authenticated;
grant select, insert on table public.messages to authenticated;
grant all on table public.workspaces, public.teams, public.workspace_members,
  public.conversations, public.messages to service_role;
grant select, insert, update on table public.conversations to {INBOX_BACKEND};
"""

INBOX_TABLES = ("workspaces", "teams", "workspace_members", "conversations", "messages")
INBOX_FUNCTIONS = ("message_count",)

# Who looks and acts: the database role and the claims PostgREST would set.
PEOPLE: dict[str, tuple[str, dict[str, Any]]] = {
    "anon": ("anon", {"role": "anon"}),
    **{
        name: ("authenticated", {"sub": str(user), "role": "authenticated"})
        for name, user in (("alice", ALICE), ("bob", BOB), ("carol", CAROL), ("dave", DAVE))
    },
    "stranger": (
        "authenticated",
        {"sub": "1b0c0000-0000-4000-8000-0000000000ff", "role": "authenticated"},
    ),
    "service_role": ("service_role", {"role": "service_role"}),
    "backend": (INBOX_BACKEND, {}),
}

# What each of them does through the inbox's own grants, and what comes of it (the rows it
# changed, or the error's SQLSTATE): before Takeover and after it alike.
WRITES: dict[tuple[str, str], tuple[str, int | str]] = {
    ("alice", "renames her conversation"): (
        f"update public.conversations set subject = 'Refund (urgent)' where id = '{ALICES}'",
        1,
    ),
    ("carol", "reassigns Alice's conversation to Bob"): (
        f"update public.conversations set assignee_id = '{BOB}' where id = '{ALICES}'",
        1,
    ),
    ("alice", "renames Bob's conversation, which she cannot see"): (
        f"update public.conversations set subject = 'Mine now' where id = '{BOBS}'",
        0,
    ),
    ("alice", "opens a conversation"): (
        "insert into public.conversations (workspace_id, assignee_id, subject)"
        f" values ('{ACME}', '{ALICE}', 'New')",
        1,
    ),
    ("alice", "opens a conversation at Globex"): (
        f"insert into public.conversations (workspace_id, subject) values ('{GLOBEX}', 'Spam')",
        "42501",
    ),
    ("alice", "answers on her conversation"): (
        "insert into public.messages (conversation_id, author, body)"
        f" values ('{ALICES}', 'Alice', 'Done')",
        1,
    ),
    ("alice", "changes a conversation's customer"): (
        f"update public.conversations set customer_email = 'x@example.com' where id = '{ALICES}'",
        "42501",
    ),
    ("carol", "closes every conversation of Acme"): (
        f"update public.conversations set status = 'closed' where workspace_id = '{ACME}'",
        3,
    ),
    ("anon", "opens a conversation"): (
        f"insert into public.conversations (workspace_id, subject) values ('{ACME}', 'Hi')",
        "42501",
    ),
    ("service_role", "adds a workspace"): (
        "insert into public.workspaces (id, name) values (gen_random_uuid(), 'Initech')",
        1,
    ),
    ("service_role", "removes a message"): (
        f"delete from public.messages where conversation_id = '{DAVES}'",
        1,
    ),
    ("backend", "opens a conversation"): (
        f"insert into public.conversations (workspace_id, subject) values ('{GLOBEX}', 'Mail')",
        1,
    ),
    ("backend", "reopens Dave's conversation"): (
        f"update public.conversations set status = 'open' where id = '{DAVES}'",
        1,
    ),
}

# What the first release of the core migration did to the four tables when it adopted them
# (it does so no more: the last test here gives such a database its security back).
FIRST_CORE_ON_ADOPTED_TABLES = """
alter table public.workspaces enable row level security;
alter table public.teams enable row level security;
alter table public.workspace_members enable row level security;
alter table public.conversations enable row level security;
create policy "Members can read their workspaces" on public.workspaces
  for select to authenticated using (public.is_workspace_member(id));
create policy "Members can read their workspace's teams" on public.teams
  for select to authenticated using (public.is_workspace_member(workspace_id));
create policy "Members can read their workspace's members" on public.workspace_members
  for select to authenticated using (public.is_workspace_member(workspace_id));
create policy "Members can read their workspace's conversations" on public.conversations
  for select to authenticated using (public.is_workspace_member(workspace_id));
comment on table public.workspaces is 'A support inbox; holds the default pause duration.';
comment on table public.teams is 'A group of attendants; may override the workspace default.';
comment on table public.workspace_members is 'Who may act on a workspace''s conversations.';
comment on table public.conversations is 'A customer conversation and whether the AI answers it.';
revoke all on table public.workspaces, public.teams, public.workspace_members,
  public.conversations from anon, authenticated, service_role;
grant select on table public.workspaces, public.teams, public.workspace_members,
  public.conversations to authenticated;
grant select, insert, update, delete on table public.workspaces, public.teams,
  public.workspace_members, public.conversations to service_role;
"""

PAUSE_COLUMNS = {
    "ai_mode": "'paused'",
    "paused_at": "now()",
    "paused_until": "now() + interval '1 hour'",
    "paused_by": f"'{ALICE}'",
    "pause_duration_minutes": "60",
}
API_ROLES = ("anon", "authenticated", "service_role")
GUIDE = Path(__file__).resolve().parent.parent / "docs" / "inbox-integration.md"


def _create_role(connection: psycopg.Connection[Any], role: str) -> None:
    # Another test worker may create it at the same moment: losing that race is fine.
    if connection.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
        return
    with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        connection.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))


def build_inbox(url: str) -> None:
    """The inbox's database before Takeover: Supabase's roles and `auth` (the shim, as on a
    plain Postgres), then the inbox's schema, created by its owner."""
    run_raw(url, migrations.SHIM)
    with psycopg.connect(url, autocommit=True) as connection:
        for role in (INBOX_OWNER, INBOX_BACKEND):
            _create_role(connection, role)
        owner = sql.Identifier(INBOX_OWNER)
        connection.execute(sql.SQL("grant create, usage on schema public to {}").format(owner))
        connection.execute(sql.SQL("grant usage on schema auth to {}").format(owner))
        with connection.transaction():
            connection.execute(sql.SQL("set local role {}").format(owner))
            connection.execute(INBOX_SCHEMA)


@pytest.fixture
def inbox(server_url: str) -> Iterator[str]:
    """The inbox's database, Takeover not installed yet: its URL."""
    with fresh_database(server_url, "takeover_inbox") as url:
        build_inbox(url)
        yield url


# What the inbox sees and has ---------------------------------------------------------------


def inbox_columns(url: str) -> dict[str, list[str]]:
    """Each inbox table's columns, in order: read before Takeover, the inbox's own."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "select table_name, column_name from information_schema.columns"
            " where table_schema = 'public' and table_name = any(%s)"
            " order by table_name, ordinal_position",
            (list(INBOX_TABLES),),
        ).fetchall()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def _select(table: str, columns: list[str]) -> sql.Composed:
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    return sql.SQL("select {} from public.{} order by 1, 2").format(names, sql.Identifier(table))


def visible_rows(url: str, columns: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Each person's view of each inbox table (its own columns): the rows, or the error."""
    views: dict[str, dict[str, Any]] = {}
    with psycopg.connect(url) as connection:
        for person in PEOPLE:
            for table, names in columns.items():
                try:
                    with connection.transaction(force_rollback=True):
                        set_request_role(connection, *PEOPLE[person])
                        seen: Any = connection.execute(_select(table, names)).fetchall()
                except psycopg.Error as error:
                    seen = error.sqlstate
                views.setdefault(person, {})[table] = seen
    return views


def write_outcomes(url: str) -> dict[tuple[str, str], int | str]:
    """What comes of each of WRITES, each in a transaction rolled back."""
    outcomes: dict[tuple[str, str], int | str] = {}
    with psycopg.connect(url) as connection:
        for (person, what), (statement, _) in WRITES.items():
            try:
                with connection.transaction(force_rollback=True):
                    set_request_role(connection, *PEOPLE[person])
                    outcomes[person, what] = connection.execute(statement).rowcount
            except psycopg.Error as error:
                outcomes[person, what] = str(error.sqlstate)
    return outcomes


def all_rows(url: str, columns: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as connection:
        return {
            table: connection.execute(_select(table, names)).fetchall()
            for table, names in columns.items()
        }


SECURITY: dict[str, str] = {
    "tables": """
        select c.relname, c.relowner::regrole::text, c.relrowsecurity, c.relforcerowsecurity,
               obj_description(c.oid, 'pg_class')
        from pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relname = any(%(tables)s)
        order by 1""",
    # Each privilege apart: the same grants made again may be listed in another order.
    "table grants": """
        select c.relname, a.grantee::regrole::text, a.privilege_type, a.is_grantable,
               a.grantor::regrole::text
        from pg_class c, aclexplode(c.relacl) a
        where c.relnamespace = 'public'::regnamespace and c.relname = any(%(tables)s)
        order by 1, 2, 3""",
    "policies": """
        select tablename, policyname, permissive, roles::text, cmd, qual, with_check
        from pg_policies where schemaname = 'public' and tablename = any(%(tables)s)
        order by 1, 2""",
    "column grants": """
        select c.relname, a.attname, g.grantee::regrole::text, g.privilege_type,
               g.is_grantable, g.grantor::regrole::text
        from pg_attribute a join pg_class c on c.oid = a.attrelid, aclexplode(a.attacl) g
        where c.relnamespace = 'public'::regnamespace and c.relname = any(%(tables)s)
        order by 1, 2, 3, 4""",
    # Grantee 0 is PUBLIC; a null ACL, the default grants, is spelled out.
    "function grants": """
        select p.oid::regprocedure::text, a.grantee::regrole::text, a.privilege_type,
               a.is_grantable, a.grantor::regrole::text
        from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
        where p.pronamespace = 'public'::regnamespace and p.proname = any(%(functions)s)
        order by 1, 2, 3""",
}


def security(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The RLS switch, owner, grants (tables and columns) and policies of the inbox's tables,
    and who may execute its functions."""
    objects = {"tables": list(INBOX_TABLES), "functions": list(INBOX_FUNCTIONS)}
    with psycopg.connect(url) as connection:
        return {
            name: connection.execute(query, objects).fetchall() for name, query in SECURITY.items()
        }


# Given the inbox, when Takeover is installed ----------------------------------------------


def test_every_inbox_user_sees_exactly_the_rows_they_saw(inbox: str) -> None:
    columns = inbox_columns(inbox)
    before = visible_rows(inbox, columns)

    migrations.apply(inbox)

    assert visible_rows(inbox, columns) == before
    # The inbox's rules, as they were: Alice sees only the conversation assigned to her and
    # its messages, Carol (admin) all of Acme's, a stranger nothing, anon public workspaces.
    assert [row[0] for row in before["alice"]["conversations"]] == [ALICES]
    assert len(before["alice"]["messages"]) == 2
    assert len(before["carol"]["conversations"]) == 3
    assert before["stranger"]["conversations"] == []
    assert len(before["stranger"]["teams"]) == 3  # teams has no RLS: every team
    assert [row[1] for row in before["anon"]["workspaces"]] == ["Acme"]
    assert before["anon"]["conversations"] == "42501"
    assert len(before["service_role"]["messages"]) == 5


def test_every_inbox_user_can_still_do_what_they_could(inbox: str) -> None:
    before = write_outcomes(inbox)

    migrations.apply(inbox)

    assert write_outcomes(inbox) == before
    assert before == {key: outcome for key, (_, outcome) in WRITES.items()}


def test_the_inbox_tables_keep_their_rows_rls_switch_policies_and_grants(inbox: str) -> None:
    columns = inbox_columns(inbox)
    rows_before, security_before = all_rows(inbox, columns), security(inbox)

    migrations.apply(inbox)

    assert all_rows(inbox, columns) == rows_before
    assert security(inbox) == security_before
    assert sum(len(rows) for rows in rows_before.values()) == 2 + 3 + 4 + 4 + 5
    [teams] = [row for row in security_before["tables"] if row[0] == "teams"]
    assert teams[1:4] == (INBOX_OWNER, False, False)  # RLS off stays off
    grantees = {row[1] for row in security_before["table grants"]}
    assert grantees == {INBOX_OWNER, INBOX_BACKEND, *API_ROLES}
    assert len(security_before["column grants"]) == 3  # authenticated's update of 3 columns
    assert len(security_before["policies"]) == 9
    executors = {row[1] for row in security_before["function grants"]}
    assert executors == {INBOX_OWNER, "-"}  # its owner and PUBLIC
    # Takeover's columns come after the inbox's, and its rows take their defaults.
    after = inbox_columns(inbox)
    assert {table: names[: len(columns[table])] for table, names in after.items()} == columns
    with psycopg.connect(inbox) as connection:
        assert connection.execute(
            "select count(*) filter (where default_duration_minutes = 30) from public.workspaces"
            " union all select count(*) filter (where inherits_default"
            "   and default_duration_minutes is null) from public.teams"
            " union all select count(*) filter (where ai_mode = 'active' and paused_at is null"
            "   and paused_until is null and paused_by is null"
            "   and pause_duration_minutes is null) from public.conversations"
        ).fetchall() == [(2,), (3,), (4,)]


def test_the_schema_files_adopt_the_inbox_as_the_migrations_do(inbox: str, server_url: str) -> None:
    """supabase/schemas/ describes the state on an inbox's database too: the same catalog
    as the migrations give, the inbox's security untouched."""
    before = security(inbox)
    migrations.apply(inbox)
    with fresh_database(server_url, "takeover_inbox") as declared:
        build_inbox(declared)
        for path in SCHEMA_FILES:
            run_raw(declared, path)

        assert security(declared) == before
        assert schema_catalog(declared) == schema_catalog(inbox)


# The pause columns: Takeover's functions write them, nobody else ---------------------------

PAUSE = "update public.conversations set ai_mode = 'paused', paused_at = now() where id = %s"
PAUSED_INSERT = (
    "insert into public.conversations (workspace_id, subject, ai_mode, paused_at)"
    f" values ('{ACME}', 'Born paused', 'paused', now())"
)
CLAIMS = {"sub": str(ALICE), "role": "authenticated"}
CHANGE_REFUSED = (
    "permission denied to change conversations.{} directly: use Takeover's functions"
    " pause-activate, pause-extend, pause-resume (public.takeover_activate, takeover_extend,"
    " takeover_resume), which write its ai_pause_logs row with it"
)
PAUSE_REFUSED = CHANGE_REFUSED.format("ai_mode")
PAUSED_INSERT_REFUSED = (
    "permission denied to insert a conversation with conversations.ai_mode set: a conversation"
    " starts with the AI active; pause it through pause-activate (public.takeover_activate)"
)


def attempt(url: str, role: str | None, statement: str, *, grant: bool = True) -> int | str:
    """What comes of `statement` run as `role` (None: the connecting superuser), rolled back:
    the rows it changed, or the message of the insufficient_privilege error it raised. With
    `grant`, the role is first given every privilege on conversations and a policy letting
    it at every row, so that only the trigger can stand in its way."""
    with psycopg.connect(url) as connection:
        try:
            with connection.transaction(force_rollback=True):
                if role is not None:
                    name = sql.Identifier(role)
                    if grant:
                        connection.execute(
                            sql.SQL("grant all on table public.conversations to {}").format(name)
                        )
                        connection.execute(
                            sql.SQL(
                                'create policy "Test: the role may do anything"'
                                " on public.conversations to {} using (true) with check (true)"
                            ).format(name)
                        )
                    connection.execute(sql.SQL("set local role {}").format(name))
                    connection.execute(
                        "select set_config('request.jwt.claims', %s, true)", (json.dumps(CLAIMS),)
                    )
                return connection.execute(statement).rowcount
        except psycopg.errors.InsufficientPrivilege as error:
            return str(error.diag.message_primary)


def test_only_the_owner_and_superusers_may_pause_by_hand(inbox: str) -> None:
    migrations.apply(inbox)
    everyone = (*API_ROLES, INBOX_BACKEND, INBOX_OWNER, None)

    pauses = {role: attempt(inbox, role, PAUSE % f"'{ALICES}'") for role in everyone}
    inserts = {role: attempt(inbox, role, PAUSED_INSERT) for role in everyone}

    allowed = {INBOX_OWNER: 1, None: 1}
    assert pauses == {role: allowed.get(role, PAUSE_REFUSED) for role in everyone}
    assert inserts == {role: allowed.get(role, PAUSED_INSERT_REFUSED) for role in everyone}


@pytest.mark.parametrize(
    ("role", "column"),
    [
        pytest.param(role, column, id=f"{role}-{column}")
        for role in (*API_ROLES, INBOX_BACKEND)
        for column in PAUSE_COLUMNS
    ],
)
def test_no_api_role_nor_the_inbox_backend_may_change_a_pause_column(
    inbox: str, role: str, column: str
) -> None:
    migrations.apply(inbox)

    with psycopg.connect(inbox) as connection, connection.transaction(force_rollback=True):
        connection.execute(
            sql.SQL("grant all on table public.conversations to {}").format(sql.Identifier(role))
        )
        connection.execute(
            sql.SQL(
                'create policy "Test: the role may do anything" on public.conversations'
                " to {} using (true) with check (true)"
            ).format(sql.Identifier(role))
        )
        connection.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        connection.execute(
            "select set_config('request.jwt.claims', %s, true)", (json.dumps(CLAIMS),)
        )
        # A whole-row write that leaves the column as it is (a PATCH of every field) is no change.
        unchanged = connection.execute(
            sql.SQL(
                "update public.conversations set subject = 'Refund!', {0} = {0} where id = %s"
            ).format(sql.Identifier(column)),
            (ALICES,),
        ).rowcount
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            connection.execute(
                sql.SQL("update public.conversations set {} = {} where id = %s").format(
                    sql.Identifier(column), sql.SQL(PAUSE_COLUMNS[column])
                ),
                (ALICES,),
            )

    assert unchanged == 1
    assert refused.value.diag.message_primary == CHANGE_REFUSED.format(column)


@pytest.mark.parametrize("role", API_ROLES)
def test_on_a_database_takeover_created_the_api_roles_may_not_pause_either(
    server_url: str, db_name: str, role: str
) -> None:
    url = database_url(server_url, db_name)
    pause = PAUSE % f"'{demo.FIRST_CONVERSATION_ID}'"
    paused_insert = (
        "insert into public.conversations (workspace_id, ai_mode, paused_at)"
        f" values ('{demo.WORKSPACE_ID}', 'paused', now())"
    )

    assert attempt(url, role, pause) == PAUSE_REFUSED
    assert attempt(url, role, paused_insert) == PAUSED_INSERT_REFUSED
    # service_role's own grant there (the product backend's writes), none given here.
    assert attempt(url, "service_role", pause, grant=False) == PAUSE_REFUSED


# Takeover's functions on the inbox's tables ------------------------------------------------


@pytest.fixture
def inbox_api(inbox: str, functions_server_url: str) -> Iterator[Api]:
    """The functions, on the inbox's database once Takeover is installed."""
    migrations.apply(inbox)
    url = database_url(functions_server_url, str(conninfo_to_dict(inbox)["dbname"]))
    with functions_on(url, max_size=4) as functions:
        yield functions


INBOX_CONVERSATION = (
    "select id, workspace_id, team_id, assignee_id, subject, status, customer_email, created_at"
    f" from public.conversations where id = '{ALICES}'"
)


def test_a_takeover_on_an_inbox_conversation_while_the_inbox_keeps_working(
    inbox_api: Api, inbox: str
) -> None:
    alice, dave = (demo.attendant_token(JWT_SECRET, user) for user in (ALICE, DAVE))
    with psycopg.connect(inbox) as connection:
        [before] = connection.execute(INBOX_CONVERSATION).fetchall()

    paused = inbox_api.act(
        "pause-activate", ALICES, token=alice, duration_minutes=60, reason="angry"
    )
    gate = inbox_api.act(
        "interaction-gate", ALICES, token=inbox_api.service, message_id="m-1", agent_id="bot"
    )
    outsider = inbox_api.act("pause-resume", ALICES, token=dave)  # Globex's admin
    # The inbox's own write on the paused conversation, through Alice's grants.
    with psycopg.connect(inbox) as connection, connection.transaction():
        set_request_role(connection, *PEOPLE["alice"])
        renamed = connection.execute(
            f"update public.conversations set subject = 'Refund (paused)' where id = '{ALICES}'"
        ).rowcount
    resumed = inbox_api.act("pause-resume", ALICES, token=alice, reason="solved")

    statuses = [answer.status_code for answer in (paused, gate, outsider, resumed)]
    assert (statuses, renamed) == ([200, 200, 404, 200], 1)
    assert gate.get_json()["allowed"] is False
    assert outsider.get_json()["error"]["code"] == "conversation_not_found"
    with psycopg.connect(inbox) as connection:
        rows = log_rows(connection)
        [after] = connection.execute(INBOX_CONVERSATION).fetchall()
    common = {"conversation_id": str(ALICES), "duration_minutes": 60, "message_id": None}
    assert rows == [
        {
            **common,
            "id": paused.get_json()["event_id"],
            "action": "pause_activated",
            "reason": "angry",
            "triggered_by": str(ALICE),
            "previous_ai_mode": "active",
            "new_ai_mode": "paused",
        },
        {
            **common,
            "id": gate.get_json()["event_id"],
            "action": "interaction_blocked",
            "reason": None,
            "triggered_by": "bot",
            "previous_ai_mode": "paused",
            "new_ai_mode": "paused",
            "message_id": "m-1",
        },
        {
            **common,
            "id": resumed.get_json()["event_id"],
            "action": "force_resume",
            "reason": "solved",
            "triggered_by": str(ALICE),
            "previous_ai_mode": "paused",
            "new_ai_mode": "active",
        },
    ]
    # Of the inbox's columns, only the subject Alice changed.
    assert after == (*before[:4], "Refund (paused)", *before[5:])


# A database that applied the core migration as first released -----------------------------


def guide_block(marker: str) -> str:
    """The SQL block docs/inbox-integration.md gives after `<!-- marker -->`."""
    match = re.search(rf"<!-- {marker} -->\s*```sql\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert match, f"docs/inbox-integration.md has no {marker} block"
    return match.group(1)


def test_the_guide_restores_an_inbox_the_first_core_migration_adopted(inbox: str) -> None:
    """The first release revoked the inbox's grants, added read policies and replaced the
    tables' comments: the guide's steps, with what only the inbox knows (its grants, run
    again, its RLS switches and comments), give the inbox its security back."""
    before = security(inbox)
    inbox_grants = INBOX_SCHEMA[INBOX_SCHEMA.index("grant select on table public.workspaces") :]
    migrations.apply(inbox)
    with psycopg.connect(inbox, autocommit=True) as connection:
        connection.execute(FIRST_CORE_ON_ADOPTED_TABLES)
    assert security(inbox) != before

    with psycopg.connect(inbox) as connection, connection.transaction():
        connection.execute(guide_block("restore"))
        # What only the inbox knows: teams had RLS off, and these comments.
        connection.execute("alter table public.teams disable row level security")
        connection.execute("comment on table public.workspaces is 'The inbox''s customers.'")
        for table in ("teams", "workspace_members", "conversations"):
            connection.execute(
                sql.SQL("comment on table public.{} is null").format(sql.Identifier(table))
            )
        connection.execute(sql.SQL("set local role {}").format(sql.Identifier(INBOX_OWNER)))
        connection.execute(inbox_grants)

    assert security(inbox) == before


def test_the_guide_rolls_takeover_back_off_an_inbox(inbox: str) -> None:
    """The guide's rollback leaves the inbox's catalog as it was before Takeover (but the
    runner's own history schema), its rows included."""
    columns = inbox_columns(inbox)
    catalog_before, rows_before = schema_catalog(inbox), all_rows(inbox, columns)
    migrations.apply(inbox)

    with psycopg.connect(inbox) as connection, connection.transaction():
        connection.execute(guide_block("rollback"))

    assert schema_catalog(inbox) == catalog_before
    assert all_rows(inbox, columns) == rows_before
