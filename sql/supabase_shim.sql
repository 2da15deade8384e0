-- What a plain Postgres lacks of Supabase for the migrations to run unchanged:
-- the three API roles and an `auth` schema whose uid()/jwt()/role() read the claims
-- the way Supabase's do (PostgREST puts them in the `request.jwt.claims` setting).
-- Every statement is guarded, so on a Supabase project (or a second run) this is a no-op.

-- Roles belong to the whole cluster, not to one database: two databases being set up at
-- once (parallel test workers on a fresh server) may both find a role missing, and the
-- second `create role` then fails. Losing that race means the role exists: fine.
do $$
declare
  v_role text;
begin
  foreach v_role in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (select 1 from pg_roles where rolname = v_role) then
      begin
        -- Supabase's service role bypasses RLS; the shim keeps that meaning.
        execute format('create role %I nologin noinherit%s', v_role,
          case when v_role = 'service_role' then ' bypassrls' else '' end);
      exception when duplicate_object or unique_violation then
        null;
      end;
    end if;
  end loop;
end
$$;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

do $$
begin
  if to_regprocedure('auth.jwt()') is null then
    create function auth.jwt() returns jsonb
    language sql stable
    as $fn$
      select coalesce(
        nullif(current_setting('request.jwt.claims', true), ''),
        '{}'
      )::jsonb
    $fn$;
  end if;
  if to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid
    language sql stable
    as $fn$
      select nullif(auth.jwt() ->> 'sub', '')::uuid
    $fn$;
  end if;
  if to_regprocedure('auth.role()') is null then
    create function auth.role() returns text
    language sql stable
    as $fn$
      select nullif(auth.jwt() ->> 'role', '')
    $fn$;
  end if;
end
$$;

grant execute on function auth.jwt(), auth.uid(), auth.role() to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;
