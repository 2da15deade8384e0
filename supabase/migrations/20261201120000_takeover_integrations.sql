-- Takeover after the core (20261125120000_takeover_core.sql, the first, deployed migration):
-- - takeover_private: the helpers that are not API move out of public into a schema no API
--   role may use; the API functions (public.takeover_*) become `security definer` and call
--   them as their owner, the migrating user; execute on them stays with service_role alone;
-- - a fixed search_path (`set search_path = ''`, Supabase's lint 0011) on every function;
-- - the log written through takeover_private.log_event (the sweep's set-based insert
--   excepted), and no INSERT on it for service_role;
-- - visibility before lock: a transition on a conversation the caller may not see neither
--   waits on its row nor replays a stored Idempotency-Key answer;
-- - each ai_pause_logs row's workspace and writing transaction (workspace_id, txid);
-- - the audit export, the pause report, and webhooks (endpoints, outbox, deliveries).
--
-- It squashes ten steps of one submission into one migration: every object is created once,
-- as it ends up. supabase/schemas/ describes the state, tests/test_migrations.py proves that
-- the two agree, and bench/PERFORMANCE.md has what the fixed search_path costs.

-- ===========================================================================
-- The private schema
-- ===========================================================================

create schema takeover_private;
comment on schema takeover_private is
  'Takeover''s internal helpers: called by the API functions in public, by no API role.';

-- ===========================================================================
-- ai_pause_logs: append-only as before, and each row's workspace and transaction
-- ===========================================================================

-- The append-only trigger's function moves too, and the triggers call it there.
create function takeover_private.refuse_log_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'ai_pause_logs is append-only: % is not allowed', tg_op
    using errcode = 'insufficient_privilege';
end
$$;
comment on function takeover_private.refuse_log_change() is
  'Refuses UPDATE, DELETE and TRUNCATE on ai_pause_logs for every role, the owner included.';

create or replace trigger ai_pause_logs_append_only
  before update or delete on public.ai_pause_logs
  for each row execute function takeover_private.refuse_log_change();
create or replace trigger ai_pause_logs_no_truncate
  before truncate on public.ai_pause_logs
  for each statement execute function takeover_private.refuse_log_change();

-- Each row carries its conversation's workspace, so that what reads one workspace's log (the
-- report, the audit export, webhooks, the inbox UI's policy) costs that workspace's rows,
-- not the whole table; and the transaction that wrote it, which the audit export follows.

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
  -- Whoever inserts, the row carries the transaction that really wrote it: the audit
  -- export's exactly-once rule depends on it (a txid given by hand could hide a row).
  new.txid := pg_catalog.pg_current_xact_id();
  return new;
end
$$;
comment on function takeover_private.log_workspace() is
  'Sets ai_pause_logs.workspace_id (from the conversation) and txid (the writing '
  'transaction) on every insert, whoever writes.';

alter table public.ai_pause_logs add column workspace_id uuid;
comment on column public.ai_pause_logs.workspace_id is
  'The conversation''s workspace when the row was written; set on insert by a trigger.';
-- The rows the core wrote get theirs once; the append-only trigger is lifted for this one
-- statement, in the migration's transaction.
alter table public.ai_pause_logs disable trigger ai_pause_logs_append_only;
update public.ai_pause_logs l set workspace_id = c.workspace_id
from public.conversations c where c.id = l.conversation_id;
alter table public.ai_pause_logs enable trigger ai_pause_logs_append_only;
alter table public.ai_pause_logs alter column workspace_id set not null;

-- The core's rows all read '0' (a constant default is stored once, the table is not
-- rewritten): every snapshot sees them as ended, so the audit export's first run takes them.
-- New rows get their top-level transaction's 64-bit id, which never wraps around.
alter table public.ai_pause_logs add column txid xid8 not null default '0';
alter table public.ai_pause_logs alter column txid set default pg_catalog.pg_current_xact_id();
comment on column public.ai_pause_logs.txid is
  'The transaction that wrote the row (pg_current_xact_id()): the audit export exports the '
  'rows of each transaction once it has ended.';

create trigger ai_pause_logs_workspace
  before insert on public.ai_pause_logs
  for each row execute function takeover_private.log_workspace();

-- The audit export's keyset, in (txid, id) order: a batch is found without reading what
-- is behind the cursor. (The index on (workspace_id, created_at) is the report's, below.)
create index ai_pause_logs_txid_id_idx on public.ai_pause_logs (txid, id);

-- The log is written only by the lifecycle functions (security definer, as the owner): no
-- caller can put an event in the log, and so in the audit export and the webhooks, except
-- through the transitions that cause it (docs/api.md).
revoke insert on table public.ai_pause_logs from service_role;

-- The inbox UI reads a row by its own workspace, not by joining conversations for each row.
alter policy "Members can read their workspace's pause logs" on public.ai_pause_logs
  using (public.is_workspace_member(workspace_id));

-- ===========================================================================
-- The lifecycle in takeover_private: helpers
-- ===========================================================================

-- Every transition is one function that locks the conversation, applies lazy expiry first,
-- refuses what is not allowed, and writes the conversation and its log row (through
-- takeover_private.log_event) in the same transaction.

create function takeover_private.error(p_code text, p_message text, p_details jsonb default null)
returns jsonb
language sql immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'error', jsonb_build_object('code', p_code, 'message', p_message, 'details', p_details)
  )
$$;
comment on function takeover_private.error(text, text, jsonb) is
  'A refusal, as the value a lifecycle function returns; the edge maps code to HTTP status.';

create function takeover_private.utc(p_moment timestamptz)
returns text
language sql stable
set search_path = ''
as $$
  -- One format for every time the functions answer, whatever the session's time zone;
  -- functions/shared/models.py writes the same.
  select to_char(p_moment at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

create function takeover_private.default_duration(p_workspace_id uuid, p_team_id uuid)
returns integer
language sql stable
set search_path = ''
as $$
  select case when t.inherits_default is false then t.default_duration_minutes
              else w.default_duration_minutes end
  from public.workspaces w
  left join public.teams t on t.id = p_team_id
  where w.id = p_workspace_id
$$;
comment on function takeover_private.default_duration(uuid, uuid) is
  'The effective default of a conversation: its team''s override, else its workspace''s.';

create function takeover_private.state(p_conversation public.conversations, p_event_id bigint)
returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object(
    'conversation_id', (p_conversation).id,
    'ai_mode', (p_conversation).ai_mode,
    'paused_at', takeover_private.utc((p_conversation).paused_at),
    'paused_until', takeover_private.utc((p_conversation).paused_until),
    'paused_by', (p_conversation).paused_by,
    'duration_minutes', (p_conversation).pause_duration_minutes,
    'default_duration_minutes',
      takeover_private.default_duration((p_conversation).workspace_id, (p_conversation).team_id),
    'event_id', p_event_id
  )
$$;
comment on function takeover_private.state(public.conversations, bigint) is
  'The pause state answer: the conversation''s pause and the log row the call wrote.';

create function takeover_private.is_member(p_workspace_id uuid, p_user_id uuid)
returns boolean
language sql stable
set search_path = ''
as $$
  select exists (
    select 1 from public.workspace_members m
    where m.workspace_id = p_workspace_id and m.user_id = p_user_id
  )
$$;

create function takeover_private.visible(p_conversation_id uuid, p_caller uuid)
returns boolean
language sql stable
set search_path = ''
as $$
  select p_caller is null or exists (
    select 1 from public.conversations c
    join public.workspace_members m on m.workspace_id = c.workspace_id
    where c.id = p_conversation_id and m.user_id = p_caller
  )
$$;
comment on function takeover_private.visible(uuid, uuid) is
  'Whether the caller (null: the service) may see the conversation; read without a lock.';

create function takeover_private.not_found() returns jsonb
language sql immutable
set search_path = ''
as $$
  select takeover_private.error(
    'conversation_not_found', 'No conversation with this id is visible to the caller.')
$$;

create function takeover_private.log_event(
  p_conversation_id uuid,
  p_action public.ai_pause_action,
  p_reason text,
  p_duration_minutes integer,
  p_triggered_by text,
  p_message_id text default null
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_event_id bigint;
begin
  insert into public.ai_pause_logs
    (conversation_id, action, reason, duration_minutes, triggered_by, previous_ai_mode,
     new_ai_mode, message_id)
  values (p_conversation_id, p_action, p_reason, p_duration_minutes, p_triggered_by,
          case when p_action = 'pause_activated' then 'active' else 'paused' end::public.ai_mode,
          case when p_action in ('auto_resume', 'force_resume') then 'active' else 'paused'
          end::public.ai_mode,
          p_message_id)
  on conflict (conversation_id, message_id) where message_id is not null do nothing
  returning id into v_event_id;
  return v_event_id;
end
$$;
comment on function takeover_private.log_event(uuid, public.ai_pause_action, text, integer, text, text) is
  'Writes one ai_pause_logs row, its previous/new ai_mode derived from the action; the one '
  'writer of the log. Null when the message_id was logged before (nothing is written).';

create function takeover_private.end_pause(
  p_conversation public.conversations,
  p_action public.ai_pause_action,
  p_reason text,
  p_triggered_by text,
  out conversation public.conversations,
  out event_id bigint
)
language plpgsql
set search_path = ''
as $$
begin
  update public.conversations c
  set ai_mode = 'active', paused_at = null, paused_until = null, paused_by = null,
      pause_duration_minutes = null
  where c.id = (p_conversation).id
  returning c.* into conversation;

  event_id := takeover_private.log_event((p_conversation).id, p_action, p_reason,
    (p_conversation).pause_duration_minutes, p_triggered_by);
end
$$;
comment on function takeover_private.end_pause(public.conversations, public.ai_pause_action, text, text) is
  'Ends a pause (auto_resume or force_resume) and writes its log row; the caller holds the lock.';

create function takeover_private.claim(
  p_conversation_id uuid,
  p_caller uuid,
  out conversation public.conversations,
  out expiry_event_id bigint
)
language plpgsql
set search_path = ''
as $$
declare
  v_ended record;
begin
  -- Visibility first, lock second: another tenant neither waits on the row nor learns,
  -- by waiting, that it exists.
  if not takeover_private.visible(p_conversation_id, p_caller) then
    return;
  end if;
  select * into conversation from public.conversations c
  where c.id = p_conversation_id
  for update;

  if conversation.id is null
     or (p_caller is not null and not takeover_private.is_member(conversation.workspace_id, p_caller))
  then
    conversation := null;
    return;
  end if;

  -- Lazy expiry: a pause past its timer is over everywhere at once, whatever the cron's lag.
  if conversation.ai_mode = 'paused' and conversation.paused_until <= now() then
    v_ended := takeover_private.end_pause(conversation, 'auto_resume', 'timer_expired', 'system');
    conversation := v_ended.conversation;
    expiry_event_id := v_ended.event_id;
  end if;
end
$$;
comment on function takeover_private.claim(uuid, uuid) is
  'Locks a conversation the caller may see (null caller: the service), and ends an expired '
  'pause first. Returns a null conversation when it does not exist or is not visible.';

create function takeover_private.block(
  p_conversation_id uuid,
  p_duration_minutes integer,
  p_message_id text,
  p_agent_id text,
  p_reason text
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_event_id bigint;
begin
  v_event_id := takeover_private.log_event(p_conversation_id, 'interaction_blocked', p_reason,
    p_duration_minutes, p_agent_id, p_message_id);
  if v_event_id is null then
    -- The same message was blocked before: answer with its row, write nothing.
    select l.id into v_event_id from public.ai_pause_logs l
    where l.conversation_id = p_conversation_id and l.message_id = p_message_id;
  end if;
  return v_event_id;
end
$$;
comment on function takeover_private.block(uuid, integer, text, text, text) is
  'Records an AI message refused during a pause, once per message_id; the caller holds the lock.';

create function takeover_private.refuse_actor(
  p_conversation public.conversations,
  p_triggered_by uuid
)
returns jsonb
language sql stable
set search_path = ''
as $$
  -- A conversation the caller may not see, or a service acting for a non-member.
  select case
    when (p_conversation).id is null then takeover_private.not_found()
    when p_triggered_by is not null
         and not takeover_private.is_member((p_conversation).workspace_id, p_triggered_by)
      then takeover_private.error('triggered_by_not_member',
        'triggered_by must be a member of the conversation''s workspace.')
  end
$$;
comment on function takeover_private.refuse_actor(public.conversations, uuid) is
  'Why an attendant transition may not go ahead on this claimed conversation, or null.';

-- ===========================================================================
-- The lifecycle: transitions (one per contract function)
-- ===========================================================================

create function takeover_private.activate_transition(
  p_conversation_id uuid,
  p_caller uuid,
  p_duration_minutes integer,
  p_use_default boolean,
  p_reason text,
  p_triggered_by uuid
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_refusal jsonb;
  v_conversation public.conversations;
  v_actor uuid := coalesce(p_caller, p_triggered_by);
  v_duration integer;
  v_event_id bigint;
begin
  v_conversation := (takeover_private.claim(p_conversation_id, p_caller)).conversation;
  v_refusal := takeover_private.refuse_actor(v_conversation, p_triggered_by);
  if v_refusal is not null then
    return v_refusal;
  end if;
  if v_conversation.ai_mode = 'paused' then
    return takeover_private.error('already_paused', 'The conversation is already paused.',
      takeover_private.state(v_conversation, null));
  end if;

  v_duration := case when p_use_default
    then takeover_private.default_duration(v_conversation.workspace_id, v_conversation.team_id)
    else p_duration_minutes::public.pause_duration end;

  update public.conversations c
  set ai_mode = 'paused', paused_at = now(),
      paused_until = now() + make_interval(mins => v_duration),
      paused_by = v_actor, pause_duration_minutes = v_duration
  where c.id = p_conversation_id
  returning c.* into v_conversation;

  v_event_id := takeover_private.log_event(p_conversation_id, 'pause_activated', p_reason,
    v_duration, coalesce(v_actor::text, 'service'));

  return takeover_private.state(v_conversation, v_event_id);
end
$$;
comment on function takeover_private.activate_transition(uuid, uuid, integer, boolean, text, uuid) is
  'pause-activate: active -> paused for a duration (p_use_default: the effective default). '
  'p_caller is the attendant (null: the service); p_triggered_by whom the service acts for.';

create function takeover_private.extend_transition(
  p_conversation_id uuid,
  p_caller uuid,
  p_duration_minutes integer,
  p_reason text,
  p_triggered_by uuid
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_refusal jsonb;
  v_conversation public.conversations;
  v_actor uuid := coalesce(p_caller, p_triggered_by);
  v_added public.pause_duration := p_duration_minutes;
  v_event_id bigint;
begin
  v_conversation := (takeover_private.claim(p_conversation_id, p_caller)).conversation;
  v_refusal := takeover_private.refuse_actor(v_conversation, p_triggered_by);
  if v_refusal is not null then
    return v_refusal;
  end if;
  if v_conversation.ai_mode = 'active' then
    return takeover_private.error('not_paused', 'The conversation is not paused.',
      takeover_private.state(v_conversation, null));
  end if;
  if v_conversation.paused_until is null then
    return takeover_private.error('already_indefinite',
      'The pause is indefinite; there is no timer to extend.',
      takeover_private.state(v_conversation, null));
  end if;

  update public.conversations c
  set paused_until = c.paused_until + make_interval(mins => v_added),
      pause_duration_minutes = c.pause_duration_minutes + v_added
  where c.id = p_conversation_id
  returning c.* into v_conversation;
  -- A null v_added made both null above: the pause is now indefinite.

  v_event_id := takeover_private.log_event(p_conversation_id, 'extend_pause', p_reason,
    v_added, coalesce(v_actor::text, 'service'));

  return takeover_private.state(v_conversation, v_event_id);
end
$$;
comment on function takeover_private.extend_transition(uuid, uuid, integer, text, uuid) is
  'pause-extend: adds minutes to paused_until, or makes the pause indefinite (null).';

create function takeover_private.resume_transition(
  p_conversation_id uuid,
  p_caller uuid,
  p_reason text,
  p_triggered_by uuid
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_refusal jsonb;
  v_conversation public.conversations;
  v_ended record;
  v_event_id bigint;
begin
  v_conversation := (takeover_private.claim(p_conversation_id, p_caller)).conversation;
  v_refusal := takeover_private.refuse_actor(v_conversation, p_triggered_by);
  if v_refusal is not null then
    return v_refusal;
  end if;
  if v_conversation.ai_mode = 'active' then
    return takeover_private.error('not_paused', 'The conversation is not paused.',
      takeover_private.state(v_conversation, null));
  end if;

  v_ended := takeover_private.end_pause(v_conversation, 'force_resume', p_reason,
    coalesce(coalesce(p_caller, p_triggered_by)::text, 'service'));
  v_conversation := v_ended.conversation;
  v_event_id := v_ended.event_id;

  return takeover_private.state(v_conversation, v_event_id);
end
$$;
comment on function takeover_private.resume_transition(uuid, uuid, text, uuid) is
  'pause-resume: the attendant hands the conversation back to the AI before the timer.';

-- ===========================================================================
-- The lifecycle: idempotency keys (a retried click gets the first answer)
-- ===========================================================================

create function takeover_private.recall(
  p_caller uuid,
  p_key text,
  p_request_hash text,
  out scope text,
  out key text,
  out answer jsonb
)
language plpgsql
set search_path = ''
as $$
declare
  v_stored public.idempotency_keys;
begin
  if p_key is null then
    return;
  end if;
  scope := coalesce(p_caller::text, 'service');
  key := p_key;

  -- A concurrent request with the same key waits here until the first one commits, then
  -- reads its answer: two clicks, one pause, two identical answers.
  insert into public.idempotency_keys as k (scope, key, request_hash)
  values (scope, p_key, p_request_hash)
  on conflict on constraint idempotency_keys_pkey do nothing;
  if found then
    -- A new key: forget this caller's keys past their 24 hours while we are here.
    delete from public.idempotency_keys k
    where k.scope = recall.scope and k.created_at < now() - interval '24 hours';
    return;
  end if;

  select * into v_stored from public.idempotency_keys k
  where k.scope = recall.scope and k.key = p_key
  for update;
  if v_stored.created_at < now() - interval '24 hours' then
    update public.idempotency_keys k
    set request_hash = p_request_hash, answer = null, created_at = now()
    where k.scope = recall.scope and k.key = p_key;
  elsif v_stored.request_hash <> p_request_hash then
    answer := takeover_private.error('idempotency_key_reused',
      'This Idempotency-Key was already used with a different request.');
  else
    answer := v_stored.answer;
  end if;
end
$$;
comment on function takeover_private.recall(uuid, text, text) is
  'The answer already given for this caller''s Idempotency-Key (or a refusal when the key '
  'came with another request); a null answer means: go ahead, the key is now taken.';

create function takeover_private.remember(
  p_scope text,
  p_key text,
  p_answer jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
  if p_key is not null then
    update public.idempotency_keys k set answer = p_answer
    where k.scope = p_scope and k.key = p_key and k.answer is null;
  end if;
  return p_answer;
end
$$;
comment on function takeover_private.remember(text, text, jsonb) is
  'Keeps the answer under the key taken by takeover_private.recall, in the same transaction.';

-- ===========================================================================
-- The lifecycle API in public: what the functions call, as service_role
-- ===========================================================================

-- Replaced in place: create or replace keeps the core's grants (execute for service_role
-- alone).

create or replace function public.takeover_activate(
  p_conversation_id uuid,
  p_caller uuid,
  p_duration_minutes integer,
  p_use_default boolean,
  p_reason text,
  p_triggered_by uuid,
  p_idempotency_key text default null,
  p_request_hash text default null
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  -- Visibility before the key: a replay outlives no membership, and a stranger's call
  -- takes no key and waits on no lock.
  select case when not takeover_private.visible(p_conversation_id, p_caller)
    then takeover_private.not_found()
    -- coalesce evaluates the transition only when no answer was recalled.
    else (
    select takeover_private.remember(k.scope, k.key, coalesce(k.answer,
      takeover_private.activate_transition(p_conversation_id, p_caller, p_duration_minutes,
        p_use_default, p_reason, p_triggered_by)))
    from takeover_private.recall(p_caller, p_idempotency_key, p_request_hash) k
    ) end
$$;
comment on function public.takeover_activate(uuid, uuid, integer, boolean, text, uuid, text, text) is
  'pause-activate, idempotent by key.';

create or replace function public.takeover_extend(
  p_conversation_id uuid,
  p_caller uuid,
  p_duration_minutes integer,
  p_reason text,
  p_triggered_by uuid,
  p_idempotency_key text default null,
  p_request_hash text default null
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  -- Visibility before the key: a replay outlives no membership, and a stranger's call
  -- takes no key and waits on no lock.
  select case when not takeover_private.visible(p_conversation_id, p_caller)
    then takeover_private.not_found()
    else (
    select takeover_private.remember(k.scope, k.key, coalesce(k.answer,
      takeover_private.extend_transition(p_conversation_id, p_caller, p_duration_minutes,
        p_reason, p_triggered_by)))
    from takeover_private.recall(p_caller, p_idempotency_key, p_request_hash) k
    ) end
$$;
comment on function public.takeover_extend(uuid, uuid, integer, text, uuid, text, text) is
  'pause-extend, idempotent by key.';

create or replace function public.takeover_resume(
  p_conversation_id uuid,
  p_caller uuid,
  p_reason text,
  p_triggered_by uuid,
  p_idempotency_key text default null,
  p_request_hash text default null
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  -- Visibility before the key: a replay outlives no membership, and a stranger's call
  -- takes no key and waits on no lock.
  select case when not takeover_private.visible(p_conversation_id, p_caller)
    then takeover_private.not_found()
    else (
    select takeover_private.remember(k.scope, k.key, coalesce(k.answer,
      takeover_private.resume_transition(p_conversation_id, p_caller, p_reason, p_triggered_by)))
    from takeover_private.recall(p_caller, p_idempotency_key, p_request_hash) k
    ) end
$$;
comment on function public.takeover_resume(uuid, uuid, text, uuid, text, text) is
  'pause-resume, idempotent by key.';

create or replace function public.takeover_status(p_conversation_id uuid, p_caller uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_conversation public.conversations;
  v_claim record;
  v_event_id bigint;
begin
  select * into v_conversation from public.conversations c where c.id = p_conversation_id;
  if v_conversation.id is null
     or (p_caller is not null and not takeover_private.is_member(v_conversation.workspace_id, p_caller))
  then
    return takeover_private.not_found();
  end if;
  if v_conversation.ai_mode = 'paused' and v_conversation.paused_until <= now() then
    v_claim := takeover_private.claim(p_conversation_id, p_caller);
    v_conversation := v_claim.conversation;
    v_event_id := v_claim.expiry_event_id;
  end if;
  return takeover_private.state(v_conversation, v_event_id);
end
$$;
comment on function public.takeover_status(uuid, uuid) is
  'pause-status: reads without a lock; takes one only to end an expired pause '
  '(event_id is then that auto_resume row).';

create or replace function public.takeover_gate(
  p_conversation_id uuid,
  p_message_id text,
  p_agent_id text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_conversation public.conversations;
  v_ai_mode public.ai_mode;
  v_paused_until timestamptz;
  v_blocked_before bigint;
  v_event_id bigint;
begin
  -- The common case, an active conversation, costs one index lookup and writes nothing.
  select c.ai_mode, c.paused_until, l.id into v_ai_mode, v_paused_until, v_blocked_before
  from public.conversations c
  left join public.ai_pause_logs l
    on l.conversation_id = c.id and l.message_id = p_message_id
  where c.id = p_conversation_id;

  if v_ai_mode is null then
    return takeover_private.not_found();
  end if;
  -- A message refused once stays refused: sending it after the pause would answer the
  -- customer twice. The answer still tells the truth about the pause: one past its timer
  -- is ended first.
  if v_blocked_before is not null then
    if v_ai_mode = 'paused' and v_paused_until <= now() then
      v_conversation := (takeover_private.claim(p_conversation_id, null)).conversation;
      v_ai_mode := v_conversation.ai_mode;
      v_paused_until := v_conversation.paused_until;
    end if;
    return jsonb_build_object('allowed', false, 'ai_mode', v_ai_mode,
      'paused_until', takeover_private.utc(v_paused_until), 'event_id', v_blocked_before);
  end if;

  if v_ai_mode = 'paused' then
    -- Lock, so a resume cannot commit between this check and the log row: claim's lock
    -- written out (a plpgsql call with a row argument costs), the expiry still left to it.
    -- The row itself goes through block and the one log writer (bench/PERFORMANCE.md).
    select * into v_conversation from public.conversations c
    where c.id = p_conversation_id
    for update;
    if v_conversation.ai_mode = 'paused' and v_conversation.paused_until <= now() then
      v_conversation := (takeover_private.claim(p_conversation_id, null)).conversation;
    end if;
    if v_conversation.ai_mode = 'paused' then
      v_event_id := takeover_private.block(p_conversation_id,
        v_conversation.pause_duration_minutes, p_message_id, p_agent_id, null);
      return jsonb_build_object('allowed', false, 'ai_mode', 'paused',
        'paused_until', takeover_private.utc(v_conversation.paused_until), 'event_id', v_event_id);
    end if;
  end if;

  -- A constant, folded once when the statement is planned.
  return '{"allowed": true, "ai_mode": "active", "paused_until": null, "event_id": null}'::jsonb;
end
$$;
comment on function public.takeover_gate(uuid, text, text) is
  'interaction-gate: may the AI agent send? Logs interaction_blocked (once per message_id) '
  'while paused; never blocks past the timer.';

create or replace function public.takeover_log_blocked(
  p_conversation_id uuid,
  p_message_id text,
  p_agent_id text,
  p_reason text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_conversation public.conversations;
  v_event_id bigint;
begin
  v_conversation := (takeover_private.claim(p_conversation_id, null)).conversation;
  if v_conversation.id is null then
    return takeover_private.not_found();
  end if;

  select l.id into v_event_id from public.ai_pause_logs l
  where l.conversation_id = p_conversation_id and l.message_id = p_message_id;
  if v_event_id is null then
    if v_conversation.ai_mode = 'active' then
      return takeover_private.error('not_paused', 'The conversation is not paused.',
        takeover_private.state(v_conversation, null));
    end if;
    v_event_id := takeover_private.block(p_conversation_id,
      v_conversation.pause_duration_minutes, p_message_id, p_agent_id, p_reason);
  end if;
  return jsonb_build_object('event_id', v_event_id);
end
$$;
comment on function public.takeover_log_blocked(uuid, text, text, text) is
  'pause-logger POST: an AI send the agent refused by itself, during a pause.';

create or replace function public.takeover_sweep(p_limit integer)
returns jsonb
-- plpgsql rather than sql: it keeps the statement's plan, so the cron's frequent sweeps
-- that find nothing skip parsing and planning it each time.
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_answer jsonb;
begin
  with due as (
    select c.id, c.pause_duration_minutes
    from public.conversations c
    where c.ai_mode = 'paused' and c.paused_until is not null and c.paused_until <= now()
    order by c.paused_until
    limit p_limit
    -- Overlapping sweeps (and transitions holding a row) skip each other's rows, and a row
    -- resumed meanwhile fails the re-checked condition: one auto_resume per pause.
    for update skip locked
  ), resumed as (
    update public.conversations c
    set ai_mode = 'active', paused_at = null, paused_until = null, paused_by = null,
        pause_duration_minutes = null
    from due
    where c.id = due.id
  ), logged as (
    -- The one place besides takeover_private.log_event that writes the log, for speed: one
    -- set-based insert instead of a log_event call per row, which took 2.4 times as long
    -- (2,000 expired pauses: 21 ms against 50 ms; bench/search_path.py). The modes are the
    -- ones log_event derives for auto_resume.
    insert into public.ai_pause_logs
      (conversation_id, action, reason, duration_minutes, triggered_by, previous_ai_mode,
       new_ai_mode)
    select due.id, 'auto_resume', 'timer_expired', due.pause_duration_minutes, 'system',
           'paused', 'active'
    from due
    returning conversation_id
  )
  select jsonb_build_object(
    'resumed', count(*),
    'conversation_ids', coalesce(jsonb_agg(logged.conversation_id), '[]'::jsonb)
  )
  into v_answer
  from logged;
  return v_answer;
end
$$;
comment on function public.takeover_sweep(integer) is
  'auto-resume (the cron): ends up to p_limit expired pauses, oldest deadline first.';

create or replace function public.takeover_events(
  p_caller uuid,
  p_conversation_id uuid,
  p_action public.ai_pause_action,
  p_since timestamptz,
  p_until timestamptz,
  p_after_id bigint,
  p_limit integer
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_page jsonb;
  v_count integer;
begin
  if p_conversation_id is not null then
    -- Reading one conversation's trail touches it: an expired pause is ended first.
    if not exists (
      select 1 from public.conversations c
      where c.id = p_conversation_id
        and (p_caller is null or takeover_private.is_member(c.workspace_id, p_caller))
    ) then
      return takeover_private.not_found();
    end if;
    if exists (
      select 1 from public.conversations c
      where c.id = p_conversation_id and c.ai_mode = 'paused' and c.paused_until <= now()
    ) then
      perform takeover_private.claim(p_conversation_id, p_caller);
    end if;
  else
    -- Every pause the caller may see that is over is ended first (the partial index on
    -- paused_until finds them), so the trail never shows a finished pause as running.
    perform takeover_private.claim(c.id, p_caller)
    from public.conversations c
    where c.ai_mode = 'paused' and c.paused_until is not null and c.paused_until <= now()
      and (p_caller is null or takeover_private.is_member(c.workspace_id, p_caller));
  end if;

  select coalesce(jsonb_agg(to_jsonb(page) order by page.id), '[]'::jsonb), count(*)
  into v_page, v_count
  from (
    select l.id, l.conversation_id, l.action, l.reason, l.duration_minutes, l.triggered_by,
           l.previous_ai_mode, l.new_ai_mode, l.message_id, l.created_at
    from public.ai_pause_logs l
    where (p_conversation_id is null or l.conversation_id = p_conversation_id)
      -- The row's own workspace: no join through conversations per row.
      and (p_caller is null or l.workspace_id in (
        select m.workspace_id from public.workspace_members m where m.user_id = p_caller))
      and (p_action is null or l.action = p_action)
      and (p_since is null or l.created_at >= p_since)
      and (p_until is null or l.created_at < p_until)
      and (p_after_id is null or l.id > p_after_id)
    order by l.id
    limit p_limit + 1
  ) page;

  -- One row more than asked for tells whether another page exists.
  if v_count > p_limit then
    v_page := v_page - p_limit;
    return jsonb_build_object('events', v_page,
      'next_cursor', (v_page -> (p_limit - 1) ->> 'id'));
  end if;
  return jsonb_build_object('events', v_page, 'next_cursor', null);
end
$$;
comment on function public.takeover_events(uuid, uuid, public.ai_pause_action, timestamptz, timestamptz, bigint, integer) is
  'pause-logger GET: the audit trail the caller may see, oldest first, keyset-paginated.';

create or replace function public.takeover_settings(p_caller uuid, p_workspace_id uuid)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select case
    when w.id is null or (p_caller is not null and not takeover_private.is_member(w.id, p_caller))
      then takeover_private.error('workspace_not_found',
        'No workspace with this id is visible to the caller.')
    else jsonb_build_object(
      'workspace_id', w.id,
      'default_duration_minutes', w.default_duration_minutes,
      'teams', coalesce((
        select jsonb_agg(jsonb_build_object(
          'team_id', t.id,
          'name', t.name,
          'default_duration_minutes',
            case when t.inherits_default then w.default_duration_minutes
                 else t.default_duration_minutes end,
          'inherits', t.inherits_default) order by t.name, t.id)
        from public.teams t where t.workspace_id = w.id), '[]'::jsonb))
  end
  from (select 1) one
  left join public.workspaces w on w.id = p_workspace_id
$$;
comment on function public.takeover_settings(uuid, uuid) is
  'pause-settings GET: the workspace default and each team''s effective default.';

create or replace function public.takeover_update_settings(
  p_caller uuid,
  p_workspace_id uuid,
  p_team_id uuid,
  p_default_duration_minutes integer,
  p_inherit boolean
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid := p_workspace_id;
  v_role text;
begin
  if p_team_id is not null then
    select t.workspace_id into v_workspace_id from public.teams t where t.id = p_team_id
    for update;
    if v_workspace_id is null then
      return takeover_private.error('team_not_found', 'No team with this id is visible to the caller.');
    end if;
  end if;

  if p_caller is not null then
    select m.role into v_role from public.workspace_members m
    where m.workspace_id = v_workspace_id and m.user_id = p_caller;
    if v_role is null then
      return case when p_team_id is null
        then takeover_private.error('workspace_not_found', 'No workspace with this id is visible to the caller.')
        else takeover_private.error('team_not_found', 'No team with this id is visible to the caller.')
      end;
    end if;
    if v_role <> 'admin' then
      return takeover_private.error('admin_only', 'Only a workspace admin may change pause settings.');
    end if;
  end if;

  if p_team_id is not null then
    update public.teams t
    set inherits_default = p_inherit,
        default_duration_minutes = case when p_inherit then null
                                        else p_default_duration_minutes::public.pause_duration end
    where t.id = p_team_id;
  else
    update public.workspaces w
    set default_duration_minutes = p_default_duration_minutes::public.pause_duration
    where w.id = v_workspace_id;
    if not found then
      return takeover_private.error('workspace_not_found', 'No workspace with this id is visible to the caller.');
    end if;
  end if;

  return public.takeover_settings(null, v_workspace_id);
end
$$;
comment on function public.takeover_update_settings(uuid, uuid, uuid, integer, boolean) is
  'pause-settings PUT: set the workspace default, or a team''s override (or inherit again).';

-- ===========================================================================
-- The helpers' old places in public
-- ===========================================================================

drop function
  public.takeover_error(text, text, jsonb),
  public.takeover_utc(timestamptz),
  public.takeover_default_duration(uuid, uuid),
  public.takeover_state(public.conversations, bigint),
  public.takeover_is_member(uuid, uuid),
  public.takeover_not_found(),
  public.takeover_end_pause(public.conversations, public.ai_pause_action, text, text),
  public.takeover_claim(uuid, uuid),
  public.takeover_block(public.conversations, text, text, text),
  public.takeover_refuse_actor(public.conversations, uuid),
  public.takeover_activate_transition(uuid, uuid, integer, boolean, text, uuid),
  public.takeover_extend_transition(uuid, uuid, integer, text, uuid),
  public.takeover_resume_transition(uuid, uuid, text, uuid),
  public.takeover_recall(uuid, text, text),
  public.takeover_remember(text, text, jsonb),
  public.takeover_refuse_log_change();

-- ===========================================================================
-- Webhooks
-- ===========================================================================

-- Workspaces subscribe HTTP endpoints to lifecycle events (Standard Webhooks).
--
-- A transactional outbox: a trigger on ai_pause_logs queues each row some endpoint wants in
-- webhook_outbox, in the transaction that writes the log row, so a committed row is never
-- left undelivered and a rolled-back one is never sent. The dispatcher
-- (functions/webhook_dispatch.py) fans the outbox out into one webhook_deliveries row per
-- subscribed endpoint, claims due deliveries by leasing their endpoint, sends them, and
-- records the outcome.

-- ===========================================================================
-- Webhooks: tables
-- ===========================================================================

create table public.webhook_endpoints (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  url text not null check (char_length(url) <= 2048),
  -- null: every event type.
  event_types text[] check (event_types <@ array[
    'takeover.pause_activated', 'takeover.interaction_blocked', 'takeover.auto_resume',
    'takeover.force_resume', 'takeover.extend_pause', 'takeover.pause_expiring']),
  enabled boolean not null default true,
  -- whsec_ + base64 of the signing key; shown to the caller only when created or rotated.
  secret text not null check (secret like 'whsec\_%'),
  created_at timestamptz not null default now(),
  -- A dispatcher works on one endpoint at a time: it holds the endpoint until leased_until,
  -- so each endpoint's events are first attempted in log order, once.
  leased_until timestamptz,
  lease_token uuid
);
comment on table public.webhook_endpoints is
  'HTTP endpoints a workspace subscribed to takeover events (Standard Webhooks).';
create index webhook_endpoints_workspace_id_idx on public.webhook_endpoints (workspace_id);

create table public.webhook_deliveries (
  id bigint generated always as identity primary key,
  endpoint_id uuid not null references public.webhook_endpoints (id) on delete cascade,
  -- Stable across retries: evt_<log id>, or exp_<conversation id>_<pause end, unix seconds>.
  webhook_id text not null,
  type text not null,
  -- The log row of a log event; its data is read from the row when it is sent.
  log_id bigint,
  -- The data of a pause_expiring notice as it was when queued (sent recomputed: see
  -- webhook_batch).
  payload jsonb,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_status_code integer,
  last_error text,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  -- A pause_expiring notice's conversation and the pause end it announces: the notice is
  -- sent only while this is still the conversation's end (docs/api.md, Webhooks).
  conversation_id uuid,
  pause_end timestamptz,
  check ((log_id is null) <> (payload is null)),
  unique (endpoint_id, webhook_id)
);
comment on table public.webhook_deliveries is
  'The outbox: one row per event and subscribed endpoint, retried until a 2xx or failed.';
-- The dispatcher looks up what is due; the console reads an endpoint's latest deliveries.
create index webhook_deliveries_due_idx
  on public.webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_endpoint_pending_idx
  on public.webhook_deliveries (endpoint_id, id) where status = 'pending';
-- The dispatcher cancels the pending notices whose pause ended or moved.
create index webhook_deliveries_pending_notices_idx
  on public.webhook_deliveries (conversation_id) where status = 'pending' and pause_end is not null;

-- The outbox proper: log rows written (in their own transaction) and not yet fanned out
-- into deliveries. No index, no key: the insert on the gate's path is a heap append, and the
-- dispatcher takes the whole (small) table each run.
create table public.webhook_outbox (
  log_id bigint not null
);
comment on table public.webhook_outbox is
  'Log rows some endpoint subscribed to, queued with the row, until the dispatcher fans them '
  'out into webhook_deliveries.';

alter table public.webhook_endpoints enable row level security;
alter table public.webhook_deliveries enable row level security;
alter table public.webhook_outbox enable row level security;
revoke all on table public.webhook_endpoints, public.webhook_deliveries, public.webhook_outbox
  from anon, authenticated, service_role;
grant select, insert, update, delete on table public.webhook_endpoints,
  public.webhook_deliveries, public.webhook_outbox to service_role;
revoke all on sequence public.webhook_deliveries_id_seq from anon, authenticated;
-- The outbox trigger runs as whoever writes the log row (the service role on Supabase).

-- ===========================================================================
-- Webhooks: the outbox trigger
-- ===========================================================================

create function takeover_private.queue_webhooks() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- The gate's blocked path pays this: one index lookup, and one heap-only insert when an
  -- endpoint wants the event. The dispatcher fans it out to the endpoints.
  insert into public.webhook_outbox (log_id)
  select new.id
  where exists (
    select 1 from public.webhook_endpoints e
    where e.workspace_id = new.workspace_id and e.enabled
      and (e.event_types is null or ('takeover.' || new.action) = any (e.event_types)));
  return null;
end
$$;
comment on function takeover_private.queue_webhooks() is
  'Queues each new log row that an enabled endpoint of its workspace subscribed to, in the '
  'transaction that writes the row.';

create trigger ai_pause_logs_webhooks
  after insert on public.ai_pause_logs
  for each row execute function takeover_private.queue_webhooks();

-- ===========================================================================
-- Webhooks: helpers
-- ===========================================================================

create function takeover_private.webhook_endpoint_json(p_endpoint public.webhook_endpoints)
returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', (p_endpoint).id,
    'workspace_id', (p_endpoint).workspace_id,
    'url', (p_endpoint).url,
    'event_types', to_jsonb((p_endpoint).event_types),
    'enabled', (p_endpoint).enabled,
    'created_at', takeover_private.utc((p_endpoint).created_at)
  )
$$;
comment on function takeover_private.webhook_endpoint_json(public.webhook_endpoints) is
  'An endpoint as the webhook-endpoints function answers it, without its secret.';

create function takeover_private.webhook_refusal(
  p_caller uuid,
  p_workspace_id uuid,
  p_by_id boolean
)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_role text;
begin
  if p_workspace_id is not null and p_caller is null then
    return null;  -- the service
  end if;
  if p_workspace_id is not null then
    select m.role into v_role from public.workspace_members m
    where m.workspace_id = p_workspace_id and m.user_id = p_caller;
  end if;
  if v_role is null then
    return case when p_by_id
      then takeover_private.error('webhook_endpoint_not_found',
        'No webhook endpoint with this id is visible to the caller.')
      else takeover_private.error('workspace_not_found',
        'No workspace with this id is visible to the caller.')
    end;
  end if;
  if v_role <> 'admin' then
    return takeover_private.error('admin_only', 'Only a workspace admin may manage webhooks.');
  end if;
  return null;
end
$$;
comment on function takeover_private.webhook_refusal(uuid, uuid, boolean) is
  'Why the caller may not manage the workspace''s webhooks (404 outsider, 403 member), or null.';

create function takeover_private.webhook_fan_out(p_limit integer)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_snapshot pg_catalog.pg_snapshot;
  v_horizon xid8;
begin
  if not exists (select 1 from public.webhook_outbox) then
    return;
  end if;
  -- Events of one endpoint are first attempted in log order (docs/api.md), so deliveries
  -- must be created in log order: one fan-out at a time (a transaction lock, released at
  -- commit, so it works through a pooler), in log id order, and only of rows whose writing
  -- transaction is older than every one still in flight (the audit export's rule), so a
  -- row that commits late is not overtaken by a later one already fanned out. Exact for
  -- the events of a conversation: its writers hold its row lock, so each draws its log id
  -- after the previous one committed. (Two overlapping transactions on different
  -- conversations can draw ids in the opposite order of their transaction ids; then the
  -- later id can go first.)
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('takeover_private.webhook_fan_out'));
  v_snapshot := pg_catalog.pg_current_snapshot();
  -- In flight means in this database: other databases of the server write no log row and
  -- must not hold the outbox back. Their sessions are read after the snapshot, so one that
  -- began since has a later id. (A prepared transaction is not listed; none writes the log.)
  perform pg_catalog.pg_stat_clear_snapshot();
  select coalesce(min(x.xid), pg_catalog.pg_snapshot_xmax(v_snapshot)) into v_horizon
  from pg_catalog.pg_snapshot_xip(v_snapshot) x(xid)
  where x.xid::text::bigint % 4294967296 in (
    select a.backend_xid::text::bigint from pg_catalog.pg_stat_get_activity(null) a
    where a.datid = (select d.oid from pg_catalog.pg_database d
                     where d.datname = pg_catalog.current_database())
      and a.backend_xid is not null);
  with taken as (
    delete from public.webhook_outbox o
    where o.ctid = any (array(
      select o2.ctid from public.webhook_outbox o2
      join public.ai_pause_logs l on l.id = o2.log_id
      where l.txid < v_horizon
      order by o2.log_id
      limit p_limit))
    returning o.log_id
  )
  insert into public.webhook_deliveries (endpoint_id, webhook_id, type, log_id)
  select e.id, 'evt_' || l.id, 'takeover.' || l.action, l.id
  from taken
  join public.ai_pause_logs l on l.id = taken.log_id
  join public.webhook_endpoints e on e.workspace_id = l.workspace_id
  where e.enabled and e.created_at <= l.created_at
    and (e.event_types is null or ('takeover.' || l.action) = any (e.event_types))
  -- Identity values follow this order, so delivery id order is log order.
  order by l.id, e.id
  on conflict (endpoint_id, webhook_id) do nothing;
end
$$;
comment on function takeover_private.webhook_fan_out(integer) is
  'Moves up to p_limit outbox rows, in log order and one fan-out at a time, into one delivery '
  'per endpoint that existed when the log row was written and is enabled and subscribed to '
  'its type now; rows of transactions older than one still in flight wait for the next run.';

-- ===========================================================================
-- Webhooks: webhook-endpoints
-- ===========================================================================

create function public.takeover_webhook_endpoints(p_caller uuid, p_workspace_id uuid)
returns jsonb
language plpgsql stable
-- security definer: the service role reaches the tables and the private helpers only
-- through these functions (Supabase RPC calls them as service_role).
security definer
set search_path = ''
as $$
declare
  v_refusal jsonb;
begin
  if not exists (select 1 from public.workspaces w where w.id = p_workspace_id) then
    return takeover_private.error('workspace_not_found',
      'No workspace with this id is visible to the caller.');
  end if;
  v_refusal := takeover_private.webhook_refusal(p_caller, p_workspace_id, false);
  if v_refusal is not null then
    return v_refusal;
  end if;
  return jsonb_build_object('endpoints', coalesce((
    select jsonb_agg(takeover_private.webhook_endpoint_json(e) order by e.created_at, e.id)
    from public.webhook_endpoints e where e.workspace_id = p_workspace_id), '[]'::jsonb));
end
$$;
comment on function public.takeover_webhook_endpoints(uuid, uuid) is
  'webhook-endpoints GET ?workspace_id: the workspace''s endpoints.';

create function public.takeover_webhook_endpoint(p_caller uuid, p_id uuid)
returns jsonb
language plpgsql stable
-- security definer: the service role reaches the tables and the private helpers only
-- through these functions (Supabase RPC calls them as service_role).
security definer
set search_path = ''
as $$
declare
  v_endpoint public.webhook_endpoints;
  v_refusal jsonb;
begin
  select * into v_endpoint from public.webhook_endpoints e where e.id = p_id;
  v_refusal := takeover_private.webhook_refusal(p_caller, v_endpoint.workspace_id, true);
  if v_refusal is not null then
    return v_refusal;
  end if;
  return takeover_private.webhook_endpoint_json(v_endpoint) || jsonb_build_object(
    'recent_deliveries', coalesce((
      select jsonb_agg(jsonb_build_object(
        'webhook_id', d.webhook_id,
        'type', d.type,
        'status', d.status,
        'attempts', d.attempts,
        'last_status_code', d.last_status_code,
        'next_attempt_at',
          case when d.status = 'pending' then takeover_private.utc(d.next_attempt_at) end
      ) order by d.id desc)
      from (
        select * from public.webhook_deliveries d
        where d.endpoint_id = p_id order by d.id desc limit 50
      ) d), '[]'::jsonb));
end
$$;
comment on function public.takeover_webhook_endpoint(uuid, uuid) is
  'webhook-endpoints GET ?id: one endpoint with its last 50 deliveries.';

create function public.takeover_create_webhook_endpoint(
  p_caller uuid,
  p_workspace_id uuid,
  p_url text,
  p_event_types text[],
  p_secret text
)
returns jsonb
language plpgsql
-- security definer: the service role reaches the tables and the private helpers only
-- through these functions (Supabase RPC calls them as service_role).
security definer
set search_path = ''
as $$
declare
  v_endpoint public.webhook_endpoints;
  v_refusal jsonb;
begin
  if not exists (select 1 from public.workspaces w where w.id = p_workspace_id) then
    return takeover_private.error('workspace_not_found',
      'No workspace with this id is visible to the caller.');
  end if;
  v_refusal := takeover_private.webhook_refusal(p_caller, p_workspace_id, false);
  if v_refusal is not null then
    return v_refusal;
  end if;
  insert into public.webhook_endpoints (workspace_id, url, event_types, secret)
  values (p_workspace_id, p_url, p_event_types, p_secret)
  returning * into v_endpoint;
  return takeover_private.webhook_endpoint_json(v_endpoint)
    || jsonb_build_object('secret', v_endpoint.secret);
end
$$;
comment on function public.takeover_create_webhook_endpoint(uuid, uuid, text, text[], text) is
  'webhook-endpoints POST: subscribe an endpoint; the answer shows its secret, this once.';

create function public.takeover_update_webhook_endpoint(
  p_caller uuid,
  p_id uuid,
  p_url text,
  p_change_event_types boolean,
  p_event_types text[],
  p_enabled boolean,
  p_secret text
)
returns jsonb
language plpgsql
-- security definer: the service role reaches the tables and the private helpers only
-- through these functions (Supabase RPC calls them as service_role).
security definer
set search_path = ''
as $$
declare
  v_endpoint public.webhook_endpoints;
  v_refusal jsonb;
begin
  select * into v_endpoint from public.webhook_endpoints e where e.id = p_id for update;
  v_refusal := takeover_private.webhook_refusal(p_caller, v_endpoint.workspace_id, true);
  if v_refusal is not null then
    return v_refusal;
  end if;
  update public.webhook_endpoints e
  set url = coalesce(p_url, e.url),
      event_types = case when p_change_event_types then p_event_types else e.event_types end,
      enabled = coalesce(p_enabled, e.enabled),
      secret = coalesce(p_secret, e.secret)
  where e.id = p_id
  returning * into v_endpoint;
  return takeover_private.webhook_endpoint_json(v_endpoint) || case when p_secret is null
    then '{}'::jsonb else jsonb_build_object('secret', v_endpoint.secret) end;
end
$$;
comment on function public.takeover_update_webhook_endpoint(uuid, uuid, text, boolean, text[], boolean, text) is
  'webhook-endpoints PUT: change the url, the event types, enabled, or rotate the secret.';

create function public.takeover_delete_webhook_endpoint(p_caller uuid, p_id uuid)
returns jsonb
language plpgsql
-- security definer: the service role reaches the tables and the private helpers only
-- through these functions (Supabase RPC calls them as service_role).
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid;
  v_refusal jsonb;
begin
  select e.workspace_id into v_workspace_id from public.webhook_endpoints e where e.id = p_id;
  v_refusal := takeover_private.webhook_refusal(p_caller, v_workspace_id, true);
  if v_refusal is not null then
    return v_refusal;
  end if;
  delete from public.webhook_endpoints e where e.id = p_id;
  return jsonb_build_object('id', p_id, 'deleted', true);
end
$$;
comment on function public.takeover_delete_webhook_endpoint(uuid, uuid) is
  'webhook-endpoints DELETE: unsubscribe; its pending deliveries go with it.';

-- ===========================================================================
-- Webhooks: webhook-dispatch
-- ===========================================================================

create function takeover_private.webhook_batch(p_endpoint_id uuid, p_limit integer)
returns jsonb
language sql stable
set search_path = ''
as $$
  -- The body of each delivery: a log event's data is the event as pause-logger GET shows it
  -- (the same names and time format), plus its workspace and the conversation's team. A
  -- notice is sent only while its end is still the conversation's end and still ahead, with
  -- the state and expires_in_seconds as they are now.
  select coalesce(jsonb_agg(jsonb_build_object(
    'id', d.id,
    'webhook_id', d.webhook_id,
    'type', d.type,
    'timestamp', takeover_private.utc(coalesce(l.created_at, d.created_at)),
    'data', case when d.log_id is null
      then takeover_private.state(n, null) || jsonb_build_object(
        'workspace_id', n.workspace_id,
        'team_id', n.team_id,
        'expires_in_seconds',
          greatest(0, floor(extract(epoch from n.paused_until - now())))::integer)
      else jsonb_build_object(
        'id', l.id,
        'conversation_id', l.conversation_id,
        'action', l.action,
        'reason', l.reason,
        'duration_minutes', l.duration_minutes,
        'triggered_by', l.triggered_by,
        'previous_ai_mode', l.previous_ai_mode,
        'new_ai_mode', l.new_ai_mode,
        'message_id', l.message_id,
        'created_at', takeover_private.utc(l.created_at),
        'workspace_id', l.workspace_id,
        'team_id', c.team_id)
      end
  ) order by d.id), '[]'::jsonb)
  from (
    -- Delivery id order is log order (webhook_fan_out), and it is the index's order.
    select * from public.webhook_deliveries d
    where d.endpoint_id = p_endpoint_id and d.status = 'pending'
      and d.next_attempt_at <= now()
      and (d.pause_end is null or exists (
        select 1 from public.conversations n
        where n.id = d.conversation_id and n.ai_mode = 'paused'
          and n.paused_until = d.pause_end and n.paused_until > now()))
    order by d.id
    limit p_limit
  ) d
  left join public.ai_pause_logs l on l.id = d.log_id
  left join public.conversations c on c.id = l.conversation_id
  left join public.conversations n on n.id = d.conversation_id
$$;
comment on function takeover_private.webhook_batch(uuid, integer) is
  'The next due deliveries of an endpoint, in log order, as the dispatcher sends them; '
  'notices only while still due, recomputed.';

create function public.takeover_webhook_claim(
  p_limit integer,
  p_per_endpoint integer,
  p_lease_seconds double precision,
  p_notice_seconds double precision,
  p_skip uuid[]
)
returns jsonb
language plpgsql
-- security definer: the service role reaches the tables and the private helpers only
-- through these functions (Supabase RPC calls them as service_role).
security definer
set search_path = ''
as $$
declare
  v_candidates uuid[];
  v_claimed jsonb;
begin
  perform takeover_private.webhook_fan_out(10000);

  -- A pending notice whose pause has ended, or whose end moved, is no longer due: it is
  -- never sent (docs/api.md: decided from the current paused_until each run).
  update public.webhook_deliveries d
  set status = 'failed',
      last_error = coalesce((
        select 'pause_end_moved' from public.conversations c
        where c.id = d.conversation_id and c.ai_mode = 'paused' and c.paused_until > now()),
        'pause_ended')
  where d.status = 'pending' and d.pause_end is not null
    and not exists (
      select 1 from public.conversations c
      where c.id = d.conversation_id and c.ai_mode = 'paused'
        and c.paused_until = d.pause_end and c.paused_until > now());

  -- Expiry notices: decided from each pause's current end, once per end (the unique key).
  insert into public.webhook_deliveries (endpoint_id, webhook_id, type, payload,
    conversation_id, pause_end)
  select e.id,
         'exp_' || c.id || '_' || floor(extract(epoch from c.paused_until))::bigint,
         'takeover.pause_expiring',
         takeover_private.state(c, null) || jsonb_build_object(
           'workspace_id', c.workspace_id,
           'team_id', c.team_id,
           'expires_in_seconds',
             greatest(0, floor(extract(epoch from c.paused_until - now())))::integer),
         c.id,
         c.paused_until
  from public.conversations c
  join public.webhook_endpoints e on e.workspace_id = c.workspace_id
  where c.ai_mode = 'paused' and c.paused_until > now()
    and c.paused_until <= now() + make_interval(secs => p_notice_seconds)
    and e.enabled
    and (e.event_types is null or 'takeover.pause_expiring' = any (e.event_types))
  on conflict (endpoint_id, webhook_id) do nothing;

  -- Lock the endpoints with due deliveries that no other dispatcher holds. `no key update`
  -- does not block the foreign key checks of deliveries being queued.
  select array_agg(e.id) into v_candidates
  from (
    select e.id from public.webhook_endpoints e
    where e.enabled and (e.leased_until is null or e.leased_until <= now())
      and not (e.id = any (p_skip))
      -- Its oldest pending deliveries first (the index): usually the first one is due.
      and exists (
        select 1 from public.webhook_deliveries d
        where d.endpoint_id = e.id and d.status = 'pending' and d.next_attempt_at <= now())
    limit greatest(1, p_limit / p_per_endpoint)
    for no key update skip locked
  ) e;
  if v_candidates is null then
    return jsonb_build_object('endpoints', '[]'::jsonb);
  end if;

  -- New statements, so a new snapshot: they see what a dispatcher that held these
  -- endpoints a moment ago committed.
  with leased as (
    update public.webhook_endpoints e
    set leased_until = now() + make_interval(secs => p_lease_seconds),
        lease_token = gen_random_uuid()
    where e.id = any (v_candidates)
    returning e.*
  )
  select coalesce(jsonb_agg(jsonb_build_object(
    'id', leased.id,
    'url', leased.url,
    'secret', leased.secret,
    'lease_token', leased.lease_token)), '[]'::jsonb)
  into v_claimed
  from leased;

  select coalesce(jsonb_agg(endpoint || jsonb_build_object('deliveries',
    takeover_private.webhook_batch((endpoint ->> 'id')::uuid, p_per_endpoint))), '[]'::jsonb)
  into v_claimed
  from jsonb_array_elements(v_claimed) endpoint;
  return jsonb_build_object('endpoints', v_claimed);
end
$$;
comment on function public.takeover_webhook_claim(integer, integer, double precision, double precision, uuid[]) is
  'webhook-dispatch: fan the outbox out, drop the notices no longer due and queue due ones, '
  'then lease endpoints '
  'with due deliveries (but p_skip, which did not answer in this run) and answer them with '
  'their first p_per_endpoint due deliveries in log order.';

create function public.takeover_webhook_record(
  p_endpoint_id uuid,
  p_lease_token uuid,
  p_ids bigint[],
  p_status_codes integer[],
  p_errors text[],
  p_more integer,
  p_lease_seconds double precision
)
returns jsonb
language plpgsql
-- security definer: the service role reaches the tables and the private helpers only
-- through these functions (Supabase RPC calls them as service_role).
security definer
set search_path = ''
as $$
declare
  -- After the 1st..7th failed attempt; the 8th failure is final.
  v_retry_after constant interval[] := array['5 seconds', '5 minutes', '30 minutes',
    '2 hours', '5 hours', '10 hours', '10 hours']::interval[];
  v_answer jsonb;
  v_more jsonb := '[]'::jsonb;
begin
  -- Only the lease's holder records. A dispatcher whose lease was taken over (it outlived
  -- it) records nothing: the new holder sends these deliveries and records them itself.
  perform 1 from public.webhook_endpoints e
  where e.id = p_endpoint_id and e.lease_token = p_lease_token
  for no key update;
  if not found then
    return jsonb_build_object('delivered', 0, 'failed', 0, 'deliveries', '[]'::jsonb,
      'lease_lost', true);
  end if;

  with outcome as (
    select o.id, o.status_code, o.error,
           o.status_code between 200 and 299 as ok
    from unnest(p_ids, p_status_codes, p_errors) o(id, status_code, error)
  ), recorded as (
    update public.webhook_deliveries d
    set attempts = d.attempts + 1,
        last_status_code = outcome.status_code,
        last_error = outcome.error,
        status = case when outcome.ok then 'delivered'
                      when d.attempts + 1 > cardinality(v_retry_after) then 'failed'
                      else 'pending' end,
        delivered_at = case when outcome.ok then now() end,
        next_attempt_at = case when outcome.ok or d.attempts + 1 > cardinality(v_retry_after)
                               then d.next_attempt_at
                               else now() + v_retry_after[d.attempts + 1] end
    from outcome
    where d.id = outcome.id and d.endpoint_id = p_endpoint_id and d.status = 'pending'
    returning d.status
  )
  select jsonb_build_object(
    'delivered', count(*) filter (where recorded.status = 'delivered'),
    'failed', count(*) filter (where recorded.status <> 'delivered'))
  into v_answer
  from recorded;

  -- The dispatcher may keep the endpoint for its next batch, while the lease is still its own.
  if p_more > 0 then
    update public.webhook_endpoints e
    set leased_until = now() + make_interval(secs => p_lease_seconds)
    where e.id = p_endpoint_id and e.lease_token = p_lease_token;
    if found then
      v_more := takeover_private.webhook_batch(p_endpoint_id, p_more);
    end if;
  end if;
  if jsonb_array_length(v_more) = 0 then
    update public.webhook_endpoints e set leased_until = null, lease_token = null
    where e.id = p_endpoint_id and e.lease_token = p_lease_token;
  end if;
  return v_answer || jsonb_build_object('deliveries', v_more);
end
$$;
comment on function public.takeover_webhook_record(uuid, uuid, bigint[], integer[], text[], integer, double precision) is
  'webhook-dispatch: record the attempts made under a lease still held (2xx delivered, else '
  'retried on the schedule, then failed; a lost lease records nothing: lease_lost); then hand '
  'the holder up to p_more next due deliveries, or release the endpoint.';

create function public.takeover_webhook_pending()
returns jsonb
language sql stable
-- security definer: the service role reaches the tables and the private helpers only
-- through these functions (Supabase RPC calls them as service_role).
security definer
set search_path = ''
as $$
  select jsonb_build_object('pending', count(*))
  from public.webhook_deliveries d where d.status = 'pending'
$$;
comment on function public.takeover_webhook_pending() is
  'webhook-dispatch: how many deliveries are still pending, due or not.';

-- ===========================================================================
-- Webhooks: grants (the service role alone)
-- ===========================================================================

revoke all on function
  public.takeover_webhook_endpoints(uuid, uuid),
  public.takeover_webhook_endpoint(uuid, uuid),
  public.takeover_create_webhook_endpoint(uuid, uuid, text, text[], text),
  public.takeover_update_webhook_endpoint(uuid, uuid, text, boolean, text[], boolean, text),
  public.takeover_delete_webhook_endpoint(uuid, uuid),
  public.takeover_webhook_claim(integer, integer, double precision, double precision, uuid[]),
  public.takeover_webhook_record(uuid, uuid, bigint[], integer[], text[], integer, double precision),
  public.takeover_webhook_pending()
  from public, anon, authenticated;
grant execute on function
  public.takeover_webhook_endpoints(uuid, uuid),
  public.takeover_webhook_endpoint(uuid, uuid),
  public.takeover_create_webhook_endpoint(uuid, uuid, text, text[], text),
  public.takeover_update_webhook_endpoint(uuid, uuid, text, boolean, text[], boolean, text),
  public.takeover_delete_webhook_endpoint(uuid, uuid),
  public.takeover_webhook_claim(integer, integer, double precision, double precision, uuid[]),
  public.takeover_webhook_record(uuid, uuid, bigint[], integer[], text[], integer, double precision),
  public.takeover_webhook_pending()
  to service_role;

-- ===========================================================================
-- pause-report
-- ===========================================================================

-- How often attendants take over a workspace's conversations, who, for how long, and how
-- many AI messages the pauses blocked; computed from the log in one call.

-- The report reads one workspace's rows in a window. (workspace_id, created_at) finds them,
-- but in a log shared by many workspaces each row is on a page of its own, and fetching
-- those pages made a report in a 1M-row log 1.8 times slower than the same workspace alone
-- (bench/report.py). Carrying the columns the report reads lets it answer from the index
-- alone (an index-only scan; autovacuum keeps an append-only table's pages all-visible).
-- Every other reader of one workspace's log uses it the same way.
create index ai_pause_logs_workspace_created_at_covering_idx
  on public.ai_pause_logs (workspace_id, created_at)
  include (conversation_id, id, action, triggered_by, duration_minutes);

create function public.takeover_report(
  p_caller uuid,
  p_workspace_id uuid,
  p_team_id uuid,
  p_since timestamptz,
  p_until timestamptz
)
returns jsonb
language plpgsql
stable
-- security definer: the report reads the log, conversations and teams as their owner, so
-- service_role needs execute on this function and no rights on what it reads; with
-- search_path '' every name below is qualified.
security definer
set search_path = ''
as $$
declare
  v_answer jsonb;
begin
  if not exists (select 1 from public.workspaces w where w.id = p_workspace_id)
     or (p_caller is not null and not takeover_private.is_member(p_workspace_id, p_caller))
  then
    return takeover_private.error('workspace_not_found',
      'No workspace with this id is visible to the caller.');
  end if;
  if p_team_id is not null and not exists (
    select 1 from public.teams t where t.id = p_team_id and t.workspace_id = p_workspace_id)
  then
    return takeover_private.error('team_not_found', 'No team with this id in this workspace.');
  end if;
  -- The edge checks the window first (the same codes); this keeps a direct caller to it.
  if p_since is null or p_until is null or p_since >= p_until then
    return takeover_private.error('invalid_window', 'since must be before until.');
  end if;
  if p_until - p_since > interval '366 days' then
    return takeover_private.error('window_too_long', 'The window is at most 366 days.',
      '{"max_days": 366}');
  end if;

  with in_window as materialized (
    -- The workspace's rows in the window, through (workspace_id, created_at): the cost is
    -- these rows, however large the rest of the log.
    select l.id, l.conversation_id, l.action, l.triggered_by, l.duration_minutes, l.created_at
    from public.ai_pause_logs l
    where l.workspace_id = p_workspace_id
      and l.created_at >= p_since and l.created_at < p_until
      -- A hashed set of the team's conversations (built once), not a lookup per row.
      and (p_team_id is null or l.conversation_id in (
        select c.id from public.conversations c where c.team_id = p_team_id))
  ),
  lifecycle as (
    -- A conversation's activations and resumes alternate, so a resume's previous one of
    -- these rows (in log order) is the activation it ended.
    select r.id, r.conversation_id, r.action, r.duration_minutes, r.created_at,
           lag(r.action) over by_conversation as previous_action,
           lag(r.created_at) over by_conversation as previous_at
    from in_window r
    where r.action in ('pause_activated', 'auto_resume', 'force_resume')
    window by_conversation as (partition by r.conversation_id order by r.id)
  ),
  lengths as (
    select greatest(0, extract(epoch from
             case when e.action = 'auto_resume' and e.duration_minutes is not null
                  -- The timer ended the pause: a row written later (the cron's lag, or
                  -- lazy expiry when something next touched the conversation) does
                  -- not make it longer.
                  then least(e.created_at - s.started_at,
                             make_interval(mins => e.duration_minutes))
                  else e.created_at - s.started_at end) / 60) as minutes
    from lifecycle e
    cross join lateral (
      select case when e.previous_action = 'pause_activated' then e.previous_at
        -- A pause that crosses the window's start: its activation is the conversation's
        -- last one before the resume, one backward step on (conversation_id, id).
        else (select a.created_at from public.ai_pause_logs a
              where a.conversation_id = e.conversation_id and a.id < e.id
                and a.action = 'pause_activated'
              order by a.id desc limit 1)
      end as started_at
    ) s
    where e.action in ('auto_resume', 'force_resume') and s.started_at is not null
  ),
  per_conversation as (
    select r.conversation_id,
           count(*) filter (where r.action = 'pause_activated') as pauses,
           count(*) filter (where r.action = 'interaction_blocked') as blocked
    from in_window r
    group by r.conversation_id
  ),
  by_team as (
    select c.team_id, t.name, sum(pc.pauses)::bigint as pauses,
           sum(pc.blocked)::bigint as blocked
    from per_conversation pc
    join public.conversations c on c.id = pc.conversation_id
    left join public.teams t on t.id = c.team_id
    group by c.team_id, t.name
    having sum(pc.pauses) + sum(pc.blocked) > 0
  ),
  per_actor as materialized (
    -- Grouped before the pattern below is matched (materialized, so that the planner does
    -- not push it down): once per person, not once per row.
    select r.triggered_by,
           count(*) filter (where r.action = 'pause_activated') as pauses,
           count(*) filter (where r.action = 'force_resume') as force_resumes,
           count(*) filter (where r.action = 'extend_pause') as extensions
    from in_window r
    where r.action in ('pause_activated', 'force_resume', 'extend_pause')
    group by r.triggered_by
  ),
  by_attendant as (
    -- Attendant actions carry the attendant's id; 'service' (the service without
    -- triggered_by) is nobody's.
    select lower(g.triggered_by) as user_id, sum(g.pauses)::bigint as pauses,
           sum(g.force_resumes)::bigint as force_resumes,
           sum(g.extensions)::bigint as extensions
    from per_actor g
    where g.triggered_by ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    group by lower(g.triggered_by)
  ),
  per_day as (
    -- date_bin is arithmetic on the instant; a time zone conversion per row costs more.
    select (date_bin('1 day', r.created_at, timestamptz '2000-01-01 00:00:00+00')
            at time zone 'UTC')::date as day,
           count(*) filter (where r.action = 'pause_activated') as pauses,
           count(*) filter (where r.action = 'interaction_blocked') as blocked,
           count(*) filter (where r.action = 'auto_resume') as auto_resumes,
           count(*) filter (where r.action = 'force_resume') as force_resumes,
           count(*) filter (where r.action = 'extend_pause') as extensions
    from in_window r
    group by 1
  ),
  days as (
    -- Every UTC date the window touches, days without a row included (a chart's axis).
    select d::date as day
    from generate_series((p_since at time zone 'UTC')::date,
                         ((p_until - interval '1 microsecond') at time zone 'UTC')::date,
                         interval '1 day') d
  )
  select jsonb_build_object(
    'workspace_id', p_workspace_id,
    'team_id', p_team_id,
    'since', to_char(p_since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'until', to_char(p_until at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'pauses', totals.pauses,
    'resumes', jsonb_build_object('auto', totals.auto_resumes, 'force', totals.force_resumes),
    'extensions', totals.extensions,
    'blocked_messages', totals.blocked,
    'pause_minutes', (
      select jsonb_build_object(
        'p50', round((percentile_cont(0.5) within group (order by g.minutes))::numeric, 1),
        'p90', round((percentile_cont(0.9) within group (order by g.minutes))::numeric, 1),
        'max', round(max(g.minutes)::numeric, 1),
        'count', count(*))
      from lengths g),
    'by_team', (
      select coalesce(jsonb_agg(jsonb_build_object(
          'team_id', b.team_id, 'name', b.name, 'pauses', b.pauses,
          'blocked_messages', b.blocked)
        order by b.pauses desc, b.blocked desc, b.name nulls last, b.team_id), '[]'::jsonb)
      from by_team b),
    'by_attendant', (
      select coalesce(jsonb_agg(jsonb_build_object(
          'user_id', a.user_id, 'pauses', a.pauses, 'force_resumes', a.force_resumes,
          'extensions', a.extensions)
        order by a.pauses desc, a.user_id), '[]'::jsonb)
      from by_attendant a),
    'by_day', (
      select jsonb_agg(jsonb_build_object(
          'date', to_char(d.day, 'YYYY-MM-DD'),
          'pauses', coalesce(p.pauses, 0),
          'blocked_messages', coalesce(p.blocked, 0),
          'auto_resumes', coalesce(p.auto_resumes, 0),
          'force_resumes', coalesce(p.force_resumes, 0))
        order by d.day)
      from days d left join per_day p on p.day = d.day))
  into v_answer
  from (
    -- The totals add up the days (a few hundred rows at most), not the rows again.
    select coalesce(sum(p.pauses), 0) as pauses,
           coalesce(sum(p.auto_resumes), 0) as auto_resumes,
           coalesce(sum(p.force_resumes), 0) as force_resumes,
           coalesce(sum(p.extensions), 0) as extensions,
           coalesce(sum(p.blocked), 0) as blocked
    from per_day p
  ) totals;
  return v_answer;
end
$$;
comment on function public.takeover_report(uuid, uuid, uuid, timestamptz, timestamptz) is
  'pause-report: a workspace''s (or one team''s) takeover figures for since <= created_at < until.';

-- The service alone (the function checks the attendant's membership).
revoke all on function public.takeover_report(uuid, uuid, uuid, timestamptz, timestamptz)
  from public, anon, authenticated;
grant execute on function public.takeover_report(uuid, uuid, uuid, timestamptz, timestamptz)
  to service_role;

-- ===========================================================================
-- The audit export
-- ===========================================================================

-- The function audit-export copies ai_pause_logs to object storage, every row exactly once,
-- without a gap.
--
-- Ids do not say what is exported: a transaction can commit a lower id after a higher one
-- was exported. Transactions do: each row records the transaction that wrote it (txid), and
-- a run exports the rows of the transactions that had ended in its snapshot and not in the
-- previous run's. Ended transactions never write again, so each row falls in exactly one
-- such difference; a still-open transaction's rows wait for the first run after it ends.

-- Its state: one row.
create table takeover_private.audit_export_state (
  singleton boolean primary key default true check (singleton),
  -- Every row of a transaction that had ended in this snapshot is exported (null: none).
  exported_snapshot pg_snapshot,
  -- The snapshot being worked towards: the rows of the transactions that ended between
  -- the two, in (txid, id) order, exported up to the position.
  target_snapshot pg_snapshot,
  position_txid xid8,
  position_id bigint,
  -- The batch claimed and being uploaded: those rows above the position up to (claim_txid,
  -- claim_id). Fixed once claimed (its rows are final), so a run that died after
  -- uploading is repeated by the next into the same keys with the same bytes.
  claim_txid xid8,
  claim_id bigint,
  -- The run holding the batch, until its lease expires; then another run takes it over.
  claim_token uuid,
  claim_expires_at timestamptz,
  last_exported_at timestamptz,
  check ((target_snapshot is null) = (position_txid is null)
    and (position_txid is null) = (position_id is null)),
  check ((claim_txid is null) = (claim_id is null)
    and (claim_id is null) = (claim_token is null)
    and (claim_token is null) = (claim_expires_at is null)
    and (claim_token is null or target_snapshot is not null))
);
comment on table takeover_private.audit_export_state is
  'The audit export''s progress: the snapshots exported and aimed at, the position between '
  'them, and the batch in flight.';

-- Claim a batch, commit it, release it (service_role only).
create function public.takeover_audit_export_claim(p_limit integer, p_lease_seconds integer)
returns jsonb
language plpgsql
-- security definer: the state lives in takeover_private, which no API role may use.
security definer
set search_path = ''
as $$
declare
  v_now pg_snapshot;
  v_state takeover_private.audit_export_state;
  v_end_txid xid8;
  v_end_id bigint;
  v_token uuid := gen_random_uuid();
  v_objects jsonb;
begin
  if pg_current_xact_id_if_assigned() is not null then
    -- This transaction's own rows, not committed, would pass for ended in its snapshot.
    raise exception 'takeover_audit_export_claim runs in a transaction of its own';
  end if;
  -- One claimer at a time; the lease, not this lock, keeps uploads apart.
  insert into takeover_private.audit_export_state default values on conflict do nothing;
  select * into strict v_state from takeover_private.audit_export_state for update;
  -- Taken under the lock, so claims take their snapshots in order and the exported one
  -- never goes back. (This transaction's own id, now assigned, counts as ended in it: it
  -- writes no log row.)
  v_now := pg_current_snapshot();

  if v_state.claim_token is not null then
    if v_state.claim_expires_at > now() then
      return jsonb_build_object('busy', true);
    end if;
    -- The run holding it died (or gave it back): its batch, unchanged, is ours now.
    v_end_txid := v_state.claim_txid;
    v_end_id := v_state.claim_id;
  else
    if pg_snapshot_xmax(v_now) < pg_snapshot_xmax(v_state.exported_snapshot) then
      -- Transaction ids went back: the database was restored into another cluster. New
      -- rows would pass for exported; stop rather than skip them.
      return jsonb_build_object(
        'busy', false,
        'misconfigured', 'The transaction ids are behind the audit export''s snapshot: was '
          || 'the database restored into another cluster? See docs/audit-export.md.',
        'details', jsonb_build_object(
          'current', v_now::text, 'exported', v_state.exported_snapshot::text));
    end if;
    loop
      if v_state.target_snapshot is null then
        v_state.target_snapshot := v_now;
        v_state.position_txid := '0';
        v_state.position_id := 0;
      end if;
      select last.txid, last.id into v_end_txid, v_end_id
      from (
        select l.txid, l.id from public.ai_pause_logs l
        where (l.txid, l.id) > (v_state.position_txid, v_state.position_id)
          and l.txid >= coalesce(pg_snapshot_xmin(v_state.exported_snapshot), '0')
          and l.txid < pg_snapshot_xmax(v_state.target_snapshot)
          -- Written by a transaction that had ended in the target snapshot, and not yet
          -- in the exported one (txid is the top-level transaction, as snapshots list).
          and pg_visible_in_snapshot(l.txid, v_state.target_snapshot)
          and (v_state.exported_snapshot is null
               or not pg_visible_in_snapshot(l.txid, v_state.exported_snapshot))
        order by l.txid, l.id
        limit takeover_audit_export_claim.p_limit
      ) last
      order by last.txid desc, last.id desc
      limit 1;
      exit when v_end_id is not null;
      -- Everything up to the target is exported: it becomes the exported snapshot. Aim at
      -- this run's snapshot next, unless that is what was just finished.
      v_state.exported_snapshot := v_state.target_snapshot;
      v_state.target_snapshot := null;
      v_state.position_txid := null;
      v_state.position_id := null;
      if v_state.exported_snapshot::text = v_now::text then
        update takeover_private.audit_export_state s
        set exported_snapshot = v_state.exported_snapshot, target_snapshot = null,
            position_txid = null, position_id = null, last_exported_at = now();
        return jsonb_build_object('busy', false, 'objects', '[]'::jsonb);
      end if;
    end loop;
  end if;

  update takeover_private.audit_export_state s
  set exported_snapshot = v_state.exported_snapshot, target_snapshot = v_state.target_snapshot,
      position_txid = v_state.position_txid, position_id = v_state.position_id,
      claim_txid = v_end_txid, claim_id = v_end_id, claim_token = v_token,
      claim_expires_at = now() + make_interval(secs => p_lease_seconds);

  -- The objects of the batch: one per workspace and UTC day, named by first and last id.
  select coalesce(jsonb_agg(jsonb_build_object(
           'workspace_id', o.workspace_id, 'date', o.day,
           'first_id', o.first_id, 'last_id', o.last_id, 'rows', o.rows)
         order by o.workspace_id, o.day), '[]'::jsonb)
  into v_objects
  from (
    select l.workspace_id, (l.created_at at time zone 'UTC')::date as day,
           min(l.id) as first_id, max(l.id) as last_id, count(*) as rows
    from public.ai_pause_logs l
    where (l.txid, l.id) > (v_state.position_txid, v_state.position_id)
      and (l.txid, l.id) <= (v_end_txid, v_end_id)
      and l.txid >= coalesce(pg_snapshot_xmin(v_state.exported_snapshot), '0')
      and pg_visible_in_snapshot(l.txid, v_state.target_snapshot)
      and (v_state.exported_snapshot is null
           or not pg_visible_in_snapshot(l.txid, v_state.exported_snapshot))
    group by 1, 2
  ) o;

  return jsonb_build_object(
    'busy', false, 'token', v_token,
    'exported_snapshot', v_state.exported_snapshot::text,
    'target_snapshot', v_state.target_snapshot::text,
    'after_txid', v_state.position_txid::text, 'after_id', v_state.position_id,
    'through_txid', v_end_txid::text, 'through_id', v_end_id,
    'objects', v_objects);
end
$$;
comment on function public.takeover_audit_export_claim(integer, integer) is
  'Claims the next batch of the audit export (at most p_limit rows of transactions ended '
  'before this call, in (txid, id) order), or the batch of a run whose lease expired; busy '
  'while another run holds one.';

create function public.takeover_audit_export_commit(p_token uuid)
returns jsonb
language plpgsql
security definer  -- writes takeover_private
set search_path = ''
as $$
begin
  -- Only the holder moves the position: a run whose batch was taken over changes nothing.
  update takeover_private.audit_export_state s
  set position_txid = s.claim_txid, position_id = s.claim_id,
      claim_txid = null, claim_id = null, claim_token = null, claim_expires_at = null,
      last_exported_at = now()
  where s.claim_token = p_token;
  return jsonb_build_object('committed', found);
end
$$;
comment on function public.takeover_audit_export_commit(uuid) is
  'Moves the audit export''s cursor past the claimed batch, once its objects are uploaded.';

create function public.takeover_audit_export_release(p_token uuid)
returns jsonb
language plpgsql
security definer  -- writes takeover_private
set search_path = ''
as $$
begin
  -- The batch stays claimed (its range is fixed); the next run takes it over at once.
  update takeover_private.audit_export_state s
  set claim_expires_at = now()
  where s.claim_token = p_token;
  return jsonb_build_object('released', found);
end
$$;
comment on function public.takeover_audit_export_release(uuid) is
  'Gives back a claimed batch whose upload failed, so the next run retries it at once.';

revoke all on function public.takeover_audit_export_claim(integer, integer),
  public.takeover_audit_export_commit(uuid), public.takeover_audit_export_release(uuid)
  from public, anon, authenticated;
grant execute on function public.takeover_audit_export_claim(integer, integer),
  public.takeover_audit_export_commit(uuid), public.takeover_audit_export_release(uuid)
  to service_role;
revoke all on table takeover_private.audit_export_state from public, anon, authenticated,
  service_role;

-- ===========================================================================
-- The private schema: no API role may see it or execute what is in it (the API functions
-- call the helpers as their owner)
-- ===========================================================================

revoke all on schema takeover_private from public, anon, authenticated, service_role;
revoke all on all functions in schema takeover_private
  from public, anon, authenticated, service_role;
