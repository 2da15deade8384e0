-- Who may execute what, for every function of Takeover's at once (the schema files before
-- this one create them; no function grants are made anywhere else). Only Takeover's: the
-- inbox's own functions in public keep their grants (docs/inbox-integration.md).
-- - the API (public.takeover_*): service_role alone (the functions, the cron);
-- - public.is_workspace_member: also authenticated, whose policies call it;
-- - the helpers in takeover_private: nobody; the API functions call them as their owner.
-- docs/isolation.md is this rule, cell by cell, each cell a test.

do $$
declare
  v_function regprocedure;
begin
  for v_function in
    select p.oid::regprocedure from pg_catalog.pg_proc p
    where p.pronamespace = 'public'::regnamespace
      and (p.proname like 'takeover\_%' or p.proname = 'is_workspace_member')
  loop
    execute format('revoke all on function %s from public, anon, authenticated', v_function);
    execute format('grant execute on function %s to service_role', v_function);
  end loop;
end
$$;
grant execute on function public.is_workspace_member(uuid) to authenticated;

revoke all on schema takeover_private from public, anon, authenticated, service_role;
revoke all on all functions in schema takeover_private
  from public, anon, authenticated, service_role;
