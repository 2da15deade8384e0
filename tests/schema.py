"""The database's schema as the catalog records it, to compare one database with another,
and the schema files run as psql would run them."""

from __future__ import annotations

from typing import Any

import psycopg

from functions import migrations

Snapshot = dict[str, list[tuple[Any, ...]]]

# Everything the migration and the shim define, as the catalog records it.
CATALOG: dict[str, str] = {
    "schemas": """
        select nspname, nspacl::text, obj_description(oid, 'pg_namespace') from pg_namespace
        where nspname in ('public', 'auth', 'takeover_private', 'supabase_migrations')
        order by 1""",
    "tables": """
        select c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
               c.relacl::text, obj_description(c.oid, 'pg_class')
        from pg_class c where c.relnamespace = 'public'::regnamespace order by 1""",
    "columns": """
        select c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, a.attidentity, pg_get_expr(d.adbin, d.adrelid),
               col_description(c.oid, a.attnum), a.attacl::text
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
          and a.attnum > 0 and not a.attisdropped
        order by 1, 2""",
    "constraints": """
        select conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
        from pg_constraint where connamespace = 'public'::regnamespace order by 1, 2, 4""",
    "indexes": """
        select tablename, indexname, indexdef from pg_indexes
        where schemaname = 'public' order by 1, 2""",
    "types": """
        select t.typname, t.typtype, format_type(t.typbasetype, t.typtypmod), t.typacl::text,
               array(select e.enumlabel::text from pg_enum e
                     where e.enumtypid = t.oid order by e.enumsortorder),
               array(select pg_get_constraintdef(k.oid) from pg_constraint k
                     where k.contypid = t.oid order by 1)
        from pg_type t
        where t.typnamespace = 'public'::regnamespace and t.typtype in ('e', 'd')
        order by 1""",
    "functions": """
        select p.pronamespace::regnamespace::text, p.oid::regprocedure::text,
               md5(pg_get_functiondef(p.oid)), p.prosecdef, p.provolatile, p.proconfig,
               p.proacl::text, obj_description(p.oid, 'pg_proc')
        from pg_proc p
        where p.pronamespace::regnamespace::text in ('public', 'auth', 'takeover_private')
        order by 1, 2""",
    "policies": """
        select tablename, policyname, permissive, roles::text, cmd, qual, with_check
        from pg_policies where schemaname = 'public' order by 1, 2""",
    "triggers": """
        select tgrelid::regclass::text, tgname, tgenabled, pg_get_triggerdef(oid)
        from pg_trigger where not tgisinternal order by 1, 2""",
    "grants": """
        select table_name, grantee, privilege_type from information_schema.role_table_grants
        where table_schema = 'public' order by 1, 2, 3""",
    "roles": """
        select rolname, rolcanlogin, rolinherit, rolbypassrls, rolsuper from pg_roles
        where rolname in ('anon', 'authenticated', 'service_role') order by 1""",
    "publication": """
        select pubname, schemaname, tablename from pg_publication_tables order by 1, 2, 3""",
    "versions": """
        select version, name from supabase_migrations.schema_migrations order by 1""",
}


def catalog(url: str) -> Snapshot:
    with psycopg.connect(url) as connection:
        return {name: connection.execute(query).fetchall() for name, query in CATALOG.items()}


def catalog_without_versions(url: str) -> Snapshot:
    """The catalog before migrations.apply created its bookkeeping table."""
    with psycopg.connect(url) as connection:
        return {
            name: connection.execute(query).fetchall()
            for name, query in CATALOG.items()
            if name != "versions"
        }


SCHEMA_FILES = sorted((migrations.ROOT / "supabase" / "schemas").glob("*.sql"))


def schema_catalog(url: str) -> Snapshot:
    """The catalog without the runner's bookkeeping (supabase_migrations)."""
    snapshot = catalog_without_versions(url)
    snapshot["schemas"] = [row for row in snapshot["schemas"] if row[0] != "supabase_migrations"]
    return snapshot


def run_raw(url: str, path: Any) -> None:
    """The whole file as one script, the way psql -f or the SQL editor runs it."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(path.read_text())
