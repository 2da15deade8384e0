"""The migrations apply once each (the runner records them; running it again changes nothing),
and they give the very catalog that the declarative schema files (supabase/schemas/) describe."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from functions import migrations
from functions.local import demo, embedded
from tests.databases import fresh_database
from tests.schema import (
    CATALOG,
    SCHEMA_FILES,
    Snapshot,
    catalog,
    catalog_without_versions,
    run_raw,
    schema_catalog,
)
from tests.support import lock_waiters, wait_until


def fetch(url: str, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return connection.execute(query, params).fetchall()


def data(url: str) -> Snapshot:
    with psycopg.connect(url) as connection:
        return {
            table: connection.execute(
                sql.SQL("select * from public.{} order by 1, 2").format(sql.Identifier(table))
            ).fetchall()
            for table in (
                "workspaces",
                "teams",
                "workspace_members",
                "conversations",
                "ai_pause_logs",
            )
        }


def migration_versions() -> list[str]:
    return [path.stem.partition("_")[0] for path in sorted(migrations.MIGRATIONS.glob("*.sql"))]


@pytest.fixture
def empty_url(new_database: Callable[[], str]) -> str:
    return new_database()


@pytest.fixture
def migrated_url(empty_url: str) -> str:
    """A new database with every migration applied."""
    migrations.apply(empty_url)
    return empty_url


def test_apply_on_an_empty_database_applies_every_migration_then_none(empty_url: str) -> None:
    first = migrations.apply(empty_url)
    second = migrations.apply(empty_url)

    assert first == migration_versions()
    assert first  # there is a migration to apply
    assert second == []
    assert [row[0] for row in catalog(empty_url)["versions"]] == first


def test_apply_twice_changes_no_catalog_entry(migrated_url: str) -> None:
    before = catalog(migrated_url)

    migrations.apply(migrated_url)

    assert catalog(migrated_url) == before


def test_a_database_from_before_a_squash_is_refused_with_what_to_do(empty_url: str) -> None:
    """A development database that recorded the migrations a squash replaced: the runner
    names them and says to recreate it, instead of skipping the squash (its first version is
    recorded, under another name) or failing half-way on "already exists"."""
    migrations.apply(empty_url)
    squash = migration_versions()[1]
    with psycopg.connect(empty_url, autocommit=True) as connection:
        connection.execute(
            "update supabase_migrations.schema_migrations set name = 'private_helpers'"
            " where version = %s",
            (squash,),
        )
        connection.execute(
            "insert into supabase_migrations.schema_migrations (version, name)"
            " values ('20261201130000', 'log_workspace')"
        )
    before = catalog(empty_url)

    with pytest.raises(migrations.UnknownMigrations, match="recreate it") as refused:
        migrations.apply(empty_url)

    assert sorted(refused.value.recorded) == [
        f"{squash}_private_helpers",
        "20261201130000_log_workspace",
    ]
    assert catalog(empty_url) == before


def test_the_core_migrations_log_rows_get_their_workspace_and_are_exported(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production has the core migration and its rows: the later migrations give each its
    workspace, and the audit export's first run takes them all."""
    core = sorted(migrations.MIGRATIONS.glob("*.sql"))[0]
    (tmp_path / core.name).write_text(core.read_text())
    monkeypatch.setattr(migrations, "MIGRATIONS", tmp_path)
    assert migrations.apply(empty_url) == migration_versions()[:1]
    demo.seed_if_empty(empty_url)
    with psycopg.connect(empty_url, autocommit=True) as connection:
        connection.execute(
            "select public.takeover_activate(id, null, 30, false, 'before', null)"
            " from public.conversations"
        )
        connection.execute(
            "select public.takeover_resume(id, null, 'before', null)"
            " from public.conversations where team_id is not null"
        )
    monkeypatch.undo()

    assert migrations.apply(empty_url) == migration_versions()[1:]

    rows = fetch(
        empty_url,
        "select l.workspace_id = c.workspace_id, l.txid::text from public.ai_pause_logs l"
        " join public.conversations c on c.id = l.conversation_id",
    )
    assert len(rows) == 6 + 4
    assert set(rows) == {(True, "0")}
    [(batch,)] = fetch(empty_url, "select public.takeover_audit_export_reserve(100, 60)")
    assert sum(exported["rows"] for exported in batch["objects"]) == len(rows)


def test_running_the_runner_again_keeps_every_row(migrated_url: str) -> None:
    """Each migration is applied once (no re-run guards): a second run of the runner, as
    `make run` does at every start, applies none and changes no row."""
    demo.seed_if_empty(migrated_url)
    with psycopg.connect(migrated_url, autocommit=True) as connection:
        # Changed settings, a paused conversation and its log row: the re-run keeps them.
        connection.execute("update public.workspaces set default_duration_minutes = null")
        connection.execute(
            "update public.teams set inherits_default = false, default_duration_minutes = 15"
        )
        connection.execute(
            "select public.takeover_activate(id, null, 60, false, 'before re-run', null)"
            " from public.conversations order by id limit 1"
        )
    schema_before, rows_before = catalog(migrated_url), data(migrated_url)
    assert rows_before["ai_pause_logs"]

    assert migrations.apply(migrated_url) == []

    assert catalog(migrated_url) == schema_before
    assert data(migrated_url) == rows_before


def test_a_migration_run_raw_a_second_time_fails_loudly(migrated_url: str) -> None:
    """Without re-run guards, applying a migration by hand twice is refused, not half-done."""
    before = catalog(migrated_url)

    with pytest.raises(psycopg.errors.DuplicateObject):
        run_raw(migrated_url, sorted(migrations.MIGRATIONS.glob("*.sql"))[0])

    assert catalog(migrated_url) == before


def test_the_catalog_snapshot_sees_a_changed_definition(migrated_url: str) -> None:
    """The comparison above would notice a re-run that redefines something."""
    before = catalog(migrated_url)

    with psycopg.connect(migrated_url, autocommit=True) as connection:
        connection.execute(
            "create or replace function takeover_private.error("
            " p_code text, p_message text, p_details jsonb default null)"
            " returns jsonb language sql immutable set search_path = ''"
            " as $$ select null::jsonb $$"
        )

    changed = catalog(migrated_url)
    assert changed["functions"] != before["functions"]
    assert {key for key in CATALOG if changed[key] != before[key]} == {"functions"}


def test_the_shim_leaves_an_existing_auth_schema_alone(empty_url: str) -> None:
    """On a Supabase project `auth` is Supabase's own: the shim must not replace it."""
    supabase_uid = (
        "create function auth.uid() returns uuid language sql stable as $$"
        " select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),"
        " (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $$"
    )
    with psycopg.connect(empty_url, autocommit=True) as connection:
        connection.execute("create schema auth")
        connection.execute(supabase_uid)
        own_uid = connection.execute(
            "select md5(pg_get_functiondef('auth.uid()'::regprocedure))"
        ).fetchone()

    run_raw(empty_url, migrations.SHIM)

    with psycopg.connect(empty_url) as connection:
        assert (
            connection.execute(
                "select md5(pg_get_functiondef('auth.uid()'::regprocedure))"
            ).fetchone()
            == own_uid
        )
        # The missing pieces were added beside it.
        assert connection.execute("select to_regprocedure('auth.jwt()') is not null").fetchone()
        connection.execute("select set_config('request.jwt.claims', '{\"role\": \"anon\"}', false)")
        assert connection.execute("select auth.role()").fetchone() == ("anon",)


def test_the_shim_a_second_time_is_a_no_op(empty_url: str) -> None:
    run_raw(empty_url, migrations.SHIM)
    before = catalog_without_versions(empty_url)

    run_raw(empty_url, migrations.SHIM)

    assert catalog_without_versions(empty_url) == before
    assert [row[0] for row in before["roles"]] == ["anon", "authenticated", "service_role"]
    assert dict((row[0], row[3]) for row in before["roles"]) == {
        "anon": False,
        "authenticated": False,
        "service_role": True,  # bypasses RLS, as on Supabase
    }


def test_conversations_join_an_existing_realtime_publication(empty_url: str) -> None:
    with psycopg.connect(empty_url, autocommit=True) as connection:
        connection.execute("create publication supabase_realtime")

    migrations.apply(empty_url)

    assert catalog(empty_url)["publication"] == [("supabase_realtime", "public", "conversations")]


def test_a_publication_for_all_tables_is_left_as_it_is(empty_url: str) -> None:
    with psycopg.connect(empty_url, autocommit=True) as connection:
        connection.execute("create publication supabase_realtime for all tables")

    migrations.apply(empty_url)  # must not fail on "already member"

    published = {row[2] for row in catalog(empty_url)["publication"]}
    assert "conversations" in published
    assert "ai_pause_logs" in published


def test_no_publication_is_created_where_there_is_none(migrated_url: str) -> None:
    assert catalog(migrated_url)["publication"] == []


def test_the_migrations_give_the_schema_the_schema_files_describe(
    new_database: Callable[[], str],
) -> None:
    """procrastinate's test_migration: supabase/schemas/ (the state) and
    supabase/migrations/ (how to get there) agree, entry for entry."""
    migrated, declared = new_database(), new_database()
    migrations.apply(migrated)
    run_raw(declared, migrations.SHIM)
    for path in SCHEMA_FILES:
        run_raw(declared, path)

    assert [path.name for path in SCHEMA_FILES][:3] == [
        "10_types_and_tables.sql",
        "20_lifecycle.sql",
        "30_policies_and_grants.sql",
    ]
    assert schema_catalog(declared) == schema_catalog(migrated)


def test_the_schema_files_and_the_migrations_agree_on_a_realtime_project(
    new_database: Callable[[], str],
) -> None:
    migrated, declared = new_database(), new_database()
    for url in (migrated, declared):
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("create publication supabase_realtime")
    migrations.apply(migrated)
    run_raw(declared, migrations.SHIM)
    for path in SCHEMA_FILES:
        run_raw(declared, path)

    assert schema_catalog(declared)["publication"] == [
        ("supabase_realtime", "public", "conversations")
    ]
    assert schema_catalog(declared) == schema_catalog(migrated)


API_ROLES = ("anon", "authenticated", "service_role")


def test_no_api_role_may_use_the_private_schema_or_its_functions(migrated_url: str) -> None:
    with psycopg.connect(migrated_url) as connection:
        usage = connection.execute(
            "select r from unnest(%s::text[]) r"
            " where has_schema_privilege(r, 'takeover_private', 'usage')",
            (list(API_ROLES),),
        ).fetchall()
        executable = connection.execute(
            "select p.oid::regprocedure::text, r from pg_proc p, unnest(%s::text[]) r"
            " where p.pronamespace = 'takeover_private'::regnamespace"
            "   and has_function_privilege(r, p.oid, 'execute')",
            (list(API_ROLES),),
        ).fetchall()
        helpers = connection.execute(
            "select count(*) from pg_proc where pronamespace = 'takeover_private'::regnamespace"
        ).fetchone()
    assert usage == []
    assert executable == []
    assert helpers is not None
    assert helpers[0] >= 15

    for role in API_ROLES:
        with psycopg.connect(migrated_url) as connection:
            connection.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
            with pytest.raises(
                psycopg.errors.InsufficientPrivilege,
                match="permission denied for schema takeover_private",
            ):
                connection.execute("select takeover_private.error('x', 'y')")


def test_the_api_runs_as_its_owner_and_keeps_its_grants(migrated_url: str) -> None:
    """service_role calls the API; the API calls the helpers as the migrating user."""
    api = fetch(
        migrated_url,
        "select p.proname, p.prosecdef,"
        " array(select r from unnest(%s::text[]) r"
        "       where has_function_privilege(r, p.oid, 'execute'))"
        " from pg_proc p where p.pronamespace = 'public'::regnamespace order by 1",
        (list(API_ROLES),),
    )

    assert api == [
        ("is_workspace_member", True, ["authenticated", "service_role"]),
        *(
            # The event types read nothing but the action enum: no need to run as the owner
            # (the service's direct writes to webhook_endpoints call it in their check).
            (f"takeover_{name}", name != "webhook_event_types", ["service_role"])
            for name in sorted(
                [
                    "activate",
                    "audit_export_commit",
                    "audit_export_release",
                    "audit_export_reserve",
                    "audit_export_rows",
                    "events",
                    "extend",
                    "gate",
                    "human_reply",
                    "log_blocked",
                    "report",
                    "resume",
                    "settings",
                    "status",
                    "sweep",
                    "update_settings",
                    "webhook_endpoints",
                    "webhook_endpoint",
                    "create_webhook_endpoint",
                    "update_webhook_endpoint",
                    "delete_webhook_endpoint",
                    "webhook_lease",
                    "webhook_record",
                    "webhook_pending",
                    "webhook_event_types",
                ]
            )
        ),
    ]


def test_every_function_has_a_fixed_search_path(migrated_url: str) -> None:
    """Supabase's Security Advisor lint 0011 (function_search_path_mutable)."""
    mutable = fetch(
        migrated_url,
        "select p.oid::regprocedure::text from pg_proc p"
        " where p.pronamespace in ('public'::regnamespace, 'takeover_private'::regnamespace)"
        "   and not coalesce(p.proconfig, '{}') @> array['search_path=\"\"']"
        " order by 1",
    )

    assert mutable == []


def test_two_processes_applying_at_once_apply_each_migration_once(empty_url: str) -> None:
    """`make run` beside `make test`: the advisory lock makes one wait for the other."""
    barrier = threading.Barrier(2, timeout=30)

    def apply() -> list[str]:
        barrier.wait()
        return migrations.apply(empty_url)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sorted(pool.map(lambda _: apply(), range(2)))

    assert results == [[], migration_versions()]
    assert [row[0] for row in catalog(empty_url)["versions"]] == migration_versions()


# What a Supabase project grants on everything created in `public` (its default privileges).
SUPABASE_DEFAULT_PRIVILEGES = [
    f"alter default privileges in schema public grant all on {kind} to anon, authenticated,"
    " service_role"
    for kind in ("tables", "sequences", "functions")
]


def test_the_grants_hold_against_supabases_default_privileges(empty_url: str) -> None:
    with psycopg.connect(empty_url, autocommit=True) as connection:
        run_raw(empty_url, migrations.SHIM)  # the roles, before granting them defaults
        for statement in SUPABASE_DEFAULT_PRIVILEGES:
            connection.execute(statement)
    migrations.apply(empty_url)

    with psycopg.connect(empty_url) as connection:
        table_privileges = connection.execute(
            "select c.relname, r.rolname, p.privilege"
            " from pg_class c"
            " cross join (values ('anon'), ('authenticated')) r(rolname)"
            " cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'])"
            "   p(privilege)"
            " where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'"
            "   and has_table_privilege(r.rolname, c.oid, p.privilege)"
            " order by 1, 2, 3"
        ).fetchall()
        lifecycle_executable = connection.execute(
            "select p.proname, r.rolname from pg_proc p"
            " cross join (values ('anon'), ('authenticated')) r(rolname)"
            " where p.pronamespace = 'public'::regnamespace and p.proname like 'takeover\\_%'"
            "   and has_function_privilege(r.rolname, p.oid, 'execute')"
        ).fetchall()

    ui_tables = [
        "ai_pause_logs",
        "blocked_drafts",
        "conversations",
        "teams",
        "workspace_members",
        "workspaces",
    ]
    assert table_privileges == [(table, "authenticated", "SELECT") for table in ui_tables]
    assert lifecycle_executable == []


_API_ROLES = ["anon", "authenticated", "service_role"]


def _without_api_roles(server: str) -> None:
    """A server as fresh as CI's: no database of ours, none of the API roles."""
    with psycopg.connect(server, autocommit=True) as admin:
        for (name,) in admin.execute(
            "select datname from pg_database where datname like 'takeover_empty_%'"
        ).fetchall():
            admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
        for role in _API_ROLES:
            admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def _roles(server: str) -> set[str]:
    with psycopg.connect(server) as admin:
        rows = admin.execute("select rolname from pg_roles where rolname = any(%s)", [_API_ROLES])
        return {name for (name,) in rows}


def test_two_databases_set_up_at_once_on_a_fresh_server_both_get_the_roles() -> None:
    """Roles belong to the server, not to a database: two test workers migrating their own
    databases at once on a fresh server both find the roles missing. The first holds its
    `create role` uncommitted while the second tries the same; the second must still
    finish (a `create role` that loses the race means the role exists)."""
    server = embedded.start("fresh-server")  # its own cluster: the roles can be dropped
    _without_api_roles(server)
    try:
        with (
            fresh_database(server, "takeover_empty") as first,
            fresh_database(server, "takeover_empty") as second,
        ):
            with psycopg.connect(first) as holding, ThreadPoolExecutor(1) as pool:
                holding.execute(migrations.SHIM.read_text())  # roles made, not committed
                racing = pool.submit(migrations.apply, second)
                with psycopg.connect(server, autocommit=True) as admin:
                    wait_until(
                        lambda: lock_waiters(admin, any_database=True),
                        10,
                        "the second setup never waited for the first one's roles",
                    )
                holding.commit()
                assert racing.result(timeout=60) != []
            assert _roles(server) == set(_API_ROLES)
            assert migrations.apply(first) != []  # and the first one finishes as well
    finally:
        _without_api_roles(server)
