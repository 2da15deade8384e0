-- Who may do what: row level security, policies, grants, and the realtime publication.
-- (The layout of supabase/schemas/ and supabase/migrations/ is explained in
-- 10_types_and_tables.sql.)

-- ===========================================================================
-- Row level security: the inbox UI reads through Supabase with the user's JWT
-- ===========================================================================

-- (The inbox's four tables get theirs where they are created, in 10_types_and_tables.sql,
-- and only then: a table the inbox already had keeps its own.)
alter table public.ai_pause_logs enable row level security;
alter table public.idempotency_keys enable row level security;
alter table public.blocked_drafts enable row level security;
-- The service's alone, through human-reply (no policy, no grant).
alter table takeover_private.human_replies enable row level security;

create policy "Members can read their workspace's pause logs" on public.ai_pause_logs
  for select to authenticated using (public.is_workspace_member(workspace_id));

create policy "Members can read their workspace's blocked drafts" on public.blocked_drafts
  for select to authenticated using (public.is_workspace_member(workspace_id));

-- ===========================================================================
-- Grants: nothing by default; each role gets what it needs
-- ===========================================================================

revoke all on table public.ai_pause_logs from anon, authenticated, service_role;
grant select on table public.ai_pause_logs to authenticated;
-- The log is written only by the lifecycle functions (security definer, as the owner).
grant select on table public.ai_pause_logs to service_role;
-- Supabase's default privileges would let the API roles draw (and waste) log ids.
revoke all on sequence public.ai_pause_logs_id_seq from anon, authenticated;
revoke all on table public.idempotency_keys from anon, authenticated, service_role;
grant select, insert, update, delete on table public.idempotency_keys to service_role;
-- Drafts are kept by the gate only (security definer, as the owner); they may be read like
-- the log, and the service may delete one (a customer's erasure request).
revoke all on table public.blocked_drafts from anon, authenticated, service_role;
grant select on table public.blocked_drafts to authenticated;
grant select, delete on table public.blocked_drafts to service_role;
revoke all on table takeover_private.human_replies from public, anon, authenticated, service_role;


-- ===========================================================================
-- Realtime: the inbox sees a resume (by the timer too) without polling
-- ===========================================================================

-- Guarded: the supabase_realtime publication exists only on Supabase (and may publish all
-- tables already).
do $$
begin
  if exists (select 1 from pg_catalog.pg_publication where pubname = 'supabase_realtime')
     and not exists (
       select 1 from pg_catalog.pg_publication_tables
       where pubname = 'supabase_realtime' and schemaname = 'public'
         and tablename = 'conversations')
  then
    alter publication supabase_realtime add table public.conversations;
  end if;
end
$$;
