-- Takeover adopts the inbox's tables without changing who may do what on them, and protects
-- its own columns on conversations by a trigger instead of by grants (issue 16).
--
-- The core migration (20261125120000) was changed with this one: it now gives row level
-- security, policies and grants only to the tables it creates, and leaves an adopted table's
-- as the inbox had them. So the inbox's own grants may let its users (and service_role)
-- update conversations; this trigger keeps Takeover's pause columns out of their reach: they
-- change through Takeover's functions, which write the ai_pause_logs row in the same
-- transaction, or by the table's owner (operators repairing data), never around the log.
-- On a table Takeover created the API roles could not write these columns but
-- service_role could (its UPDATE grant): the trigger closes that too.
--
-- A database that applied the core migration as first released keeps what it did to the
-- adopted tables (no migration can know what the inbox's grants were):
-- docs/inbox-integration.md says how to restore them.

-- ===========================================================================
-- The pause columns: written through Takeover's functions only
-- ===========================================================================

create function takeover_private.protect_pause_columns() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_column text;
begin
  if tg_op = 'INSERT' then
    v_column := case
      when new.ai_mode <> 'active' then 'ai_mode'
      when new.paused_at is not null then 'paused_at'
      when new.paused_until is not null then 'paused_until'
      when new.paused_by is not null then 'paused_by'
      when new.pause_duration_minutes is not null then 'pause_duration_minutes'
    end;
  else
    -- A statement that sets a column to the value it has (a whole-row upsert) changes nothing.
    v_column := case
      when new.ai_mode is distinct from old.ai_mode then 'ai_mode'
      when new.paused_at is distinct from old.paused_at then 'paused_at'
      when new.paused_until is distinct from old.paused_until then 'paused_until'
      when new.paused_by is distinct from old.paused_by then 'paused_by'
      when new.pause_duration_minutes is distinct from old.pause_duration_minutes
        then 'pause_duration_minutes'
    end;
  end if;
  if v_column is null then
    return new;
  end if;
  -- Allowed: Takeover's functions (security definer: they run as their owner, the role that
  -- migrated, which owns takeover_private too: the one privilege check that needs no
  -- query), and whoever has the table owner's rights (the owner, a role that inherits it, a
  -- superuser: operators repairing data). Never the API roles, whatever the inbox granted
  -- them; nor any other role, an inbox's own backend included: a change made around the
  -- functions would have no log row.
  if current_user not in ('anon', 'authenticated', 'service_role')
     and (pg_catalog.has_schema_privilege(current_user, 'takeover_private', 'create')
       or pg_catalog.pg_has_role(current_user, (
            select c.relowner from pg_catalog.pg_class c where c.oid = tg_relid),
          'usage'))
  then
    return new;
  end if;
  if tg_op = 'INSERT' then
    raise exception 'permission denied to insert a conversation with conversations.% set: a '
      'conversation starts with the AI active; pause it through pause-activate '
      '(public.takeover_activate)', v_column
      using errcode = 'insufficient_privilege';
  end if;
  raise exception 'permission denied to change conversations.% directly: use Takeover''s '
    'functions pause-activate, pause-extend, pause-resume (public.takeover_activate, '
    'takeover_extend, takeover_resume), which write its ai_pause_logs row with it', v_column
    using errcode = 'insufficient_privilege';
end
$$;
comment on function takeover_private.protect_pause_columns() is
  'Refuses a change of a conversation''s pause columns (or an insert already paused) by any '
  'role but Takeover''s functions, the table''s owner and superusers.';

create trigger conversations_pause_columns_protected
  before insert or update of ai_mode, paused_at, paused_until, paused_by, pause_duration_minutes
  on public.conversations
  for each row execute function takeover_private.protect_pause_columns();
revoke all on function takeover_private.protect_pause_columns()
  from public, anon, authenticated, service_role;
