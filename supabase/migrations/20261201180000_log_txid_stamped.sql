-- Every log row's txid is the transaction that wrote it, whoever inserts: a txid given by
-- hand (the owner, or service_role, which may insert) could place a row where the audit
-- export has already passed.

create or replace function takeover_private.log_workspace() returns trigger
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
  -- Whoever inserts, the row carries the transaction that really wrote it: the audit
  -- export's exactly-once rule depends on it (a txid given by hand could hide a row).
  new.txid := pg_catalog.pg_current_xact_id();
  return new;
end
$$;
comment on function takeover_private.log_workspace() is
  'Sets ai_pause_logs.workspace_id (from the conversation) and txid (the writing '
  'transaction) on every insert, whoever writes.';
