-- Each ai_pause_logs row carries its conversation's workspace, so that what reads the log of
-- one workspace (the report, the audit export, webhooks) costs the rows of that workspace,
-- not the whole table.

create function takeover_private.log_workspace() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- The writer holds the conversation (locked, or read in the same statement): one
  -- primary-key lookup, served from the same buffer.
  if new.workspace_id is null then
    select c.workspace_id into new.workspace_id
    from public.conversations c where c.id = new.conversation_id;
  end if;
  return new;
end
$$;
comment on function takeover_private.log_workspace() is
  'Sets ai_pause_logs.workspace_id from the conversation on every insert, whoever writes.';
revoke all on function takeover_private.log_workspace() from public, anon, authenticated, service_role;

alter table public.ai_pause_logs add column workspace_id uuid;
comment on column public.ai_pause_logs.workspace_id is
  'The conversation''s workspace when the row was written; set on insert by a trigger.';

-- The rows written before this column existed get theirs once; the append-only trigger is
-- lifted for this one statement of the migration, in its transaction.
alter table public.ai_pause_logs disable trigger ai_pause_logs_append_only;
update public.ai_pause_logs l set workspace_id = c.workspace_id
from public.conversations c where c.id = l.conversation_id;
alter table public.ai_pause_logs enable trigger ai_pause_logs_append_only;

alter table public.ai_pause_logs alter column workspace_id set not null;

create trigger ai_pause_logs_workspace
  before insert on public.ai_pause_logs
  for each row execute function takeover_private.log_workspace();

create index ai_pause_logs_workspace_created_at_idx
  on public.ai_pause_logs (workspace_id, created_at);
