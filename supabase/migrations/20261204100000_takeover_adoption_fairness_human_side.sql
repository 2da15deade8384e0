-- Takeover, second release: installed onto an inbox as it is, fair to every tenant, the human
-- side of takeover, and one shape for a log row. (Unreleased steps of one submission,
-- squashed: each object once, as it ends up. supabase/schemas/ describes the same state;
-- tests/test_migrations.py proves that the two agree.)
--
-- Adoption (issue 16). The core migration (20261125120000) was changed with this one: it
-- gives row level security, policies and grants only to the tables it creates, and leaves an
-- adopted table's as the inbox had them. So the inbox's own grants may let its users (and
-- service_role) update conversations; a trigger keeps Takeover's pause columns out of their
-- reach: they change through Takeover's functions, which write the ai_pause_logs row in the
-- same transaction, or by the table's owner (operators repairing data), never around the
-- log. A database that applied the core migration as first released keeps what it did to
-- the adopted tables (no migration can know what the inbox's grants were):
-- docs/inbox-integration.md says how to restore them.
--
-- Tenants cannot hurt each other (issue 17). Webhooks: workspaces take turns for the
-- dispatcher's leases by their oldest due delivery, at most a few leases of one workspace at
-- once (takeover_webhook_lease replaces takeover_webhook_claim), and an endpoint that gives
-- no answer backs off alone. Heavy reads: a member's pause-logger listing reads each
-- workspace's (workspace_id, created_at) index, the report reads its window's rows twice
-- from the index, and the audit export's batch is reserved under a name of its own, its rows
-- read by takeover_audit_export_rows.
--
-- The human side (issue 19): human-reply pauses the AI when a human answers
-- (pause_on_human_reply, per workspace and team), the AI hands over through pause-activate's
-- agent_id, the gate keeps the AI's blocked draft (public.blocked_drafts, never the log),
-- pause-status shows the drafts, the sweep deletes them after DRAFT_RETENTION_HOURS, and the
-- report counts pauses by source.
--
-- One shape (issue 18): the view takeover_private.log_events gives a log row's JSON to
-- pause-logger, the webhooks and the audit export alike; each log row records the pause's end after it
-- (paused_until); the event types come from the action enum; helpers are named for what they
-- do (lock_conversation, take_idempotency_key, keep_answer, log_blocked_message,
-- stamp_log_row).
--
-- New parameters of existing API functions have defaults where functions deployed before
-- this migration call them (takeover_activate, takeover_gate, takeover_sweep, the in-database
-- cron's takeover_sweep(1000)), so those keep working until they are replaced. Three could
-- not be kept: takeover_update_settings (pause-settings PUT), takeover_webhook_claim
-- (webhook-dispatch) and the audit export's claim (audit-export, whose batch state changed
-- shape): the functions deployed before this migration answer those with 500 until they are
-- redeployed. Migrate, then redeploy at once (docs/inbox-integration.md#upgrading).

-- ===========================================================================
-- Tables and columns
-- ===========================================================================

alter table public.workspaces
  add column if not exists pause_on_human_reply boolean not null default true,
  add column if not exists keep_blocked_drafts boolean not null default true;
comment on column public.workspaces.pause_on_human_reply is
  'Whether a human''s reply (human-reply) pauses the AI, unless the team says otherwise.';
comment on column public.workspaces.keep_blocked_drafts is
  'Whether the gate keeps the message it refused (blocked_drafts) for the attendant to reuse.';
alter table public.teams add column if not exists pause_on_human_reply boolean;
comment on column public.teams.pause_on_human_reply is
  'The team''s own pause_on_human_reply; null inherits the workspace''s.';

alter table public.ai_pause_logs add column paused_until timestamptz;
comment on column public.ai_pause_logs.paused_until is
  'When the pause ends after this event (null: indefinite, or the AI is back); set on insert '
  'by a trigger. Null on rows written before it was recorded.';

-- The pauses a human's reply caused (pauses_by_source): the report's covering index has no
-- reason, and carrying it there would make every entry wider; these rows alone, counted
-- from their own index.
create index ai_pause_logs_human_reply_pauses_idx
  on public.ai_pause_logs (workspace_id, created_at)
  include (conversation_id, triggered_by)
  where action = 'pause_activated' and reason = 'human_replied';

-- What the AI agent would have said: the message the gate refused, beside its log row. Not
-- in the log, which is append-only: a draft is deleted after DRAFT_RETENTION_HOURS (by the
-- sweep), or at once when its workspace stops keeping drafts.
create table public.blocked_drafts (
  conversation_id uuid not null,
  -- No foreign key: the one writer (the gate, public.takeover_gate) writes the draft in the
  -- transaction that wrote this row, and log rows are never deleted; the key's check (a
  -- locking lookup of the log row) cost the paused gate a tenth of its speed
  -- (bench/human.py).
  event_id bigint not null,
  workspace_id uuid not null,
  agent_id text not null,
  message_id text,
  draft text not null check (char_length(draft) between 1 and 8000),
  created_at timestamptz not null default now(),
  -- A conversation's drafts newest first (pause-status), and one draft per log row: the
  -- same message refused again keeps the first draft.
  primary key (conversation_id, event_id)
);
comment on table public.blocked_drafts is
  'The message the AI agent was about to send when the gate refused it (interaction_blocked), '
  'kept for a while so the attendant can reuse it.';
comment on column public.blocked_drafts.event_id is 'The interaction_blocked row of the refusal.';
comment on column public.blocked_drafts.workspace_id is
  'The conversation''s workspace when the draft was kept (for its members'' policy).';
-- The sweep deletes the drafts past their retention, oldest first: with nothing to delete,
-- one probe of this index.
create index blocked_drafts_created_at_idx on public.blocked_drafts (created_at);

-- human-reply's message ids: the same message again (a retried call, a channel's echo
-- delivered twice) gets the first answer and changes nothing, whether or not the first
-- wrote a log row. Kept 7 days, as long as a channel retries a webhook (WhatsApp's Cloud
-- API, 7 days); the sweep deletes older ones.
create table takeover_private.human_replies (
  conversation_id uuid not null,
  message_id text not null,
  event_id bigint,
  created_at timestamptz not null default now(),
  primary key (conversation_id, message_id)
);
comment on table takeover_private.human_replies is
  'The message ids human-reply has seen, each with the log row its first call wrote (null: '
  'none), for 7 days.';
create index human_replies_created_at_idx on takeover_private.human_replies (created_at);

alter table public.blocked_drafts enable row level security;
-- The service's alone, through human-reply (no policy, no grant).
alter table takeover_private.human_replies enable row level security;

create policy "Members can read their workspace's blocked drafts" on public.blocked_drafts
  for select to authenticated using (public.is_workspace_member(workspace_id));

-- Drafts are kept by the gate only (security definer, as the owner); they may be read like
-- the log, and the service may delete one (a customer's erasure request).
revoke all on table public.blocked_drafts from anon, authenticated, service_role;
grant select on table public.blocked_drafts to authenticated;
grant select, delete on table public.blocked_drafts to service_role;
revoke all on table takeover_private.human_replies from public, anon, authenticated, service_role;

alter table public.webhook_endpoints
  add column unanswered_attempts integer not null default 0,
  add column backoff_until timestamptz;
drop index public.webhook_deliveries_due_idx;
create index webhook_deliveries_endpoint_due_idx
  on public.webhook_deliveries (endpoint_id, next_attempt_at) where status = 'pending';

alter table takeover_private.audit_export_state rename column claim_txid to batch_end_txid;
alter table takeover_private.audit_export_state rename column claim_id to batch_end_id;
alter table takeover_private.audit_export_state rename column claim_token to batch_token;
alter table takeover_private.audit_export_state
  rename column claim_expires_at to batch_expires_at;

-- ===========================================================================
-- Helpers
-- ===========================================================================

create view takeover_private.log_events as
  -- The one shape of a log row outside the database: every column but txid (the audit
  -- export's bookkeeping), in the table's order, times as takeover_private.utc writes them.
  -- pause-logger shows the event's own fields (functions/shared/models.py's Event, which
  -- tests/test_shapes.py compares with this); a webhook adds the conversation's team and
  -- mode; the audit export writes it as it is. A view, not a function: the planner inlines
  -- it into each reader's query (a function with a fixed search_path is called per row, at
  -- several times the row's own cost); json, not jsonb: it keeps this order, for less.
  select l.*, pg_catalog.json_build_object(
    'id', l.id,
    'conversation_id', l.conversation_id,
    'action', l.action,
    'reason', l.reason,
    'duration_minutes', l.duration_minutes,
    'triggered_by', l.triggered_by,
    'previous_ai_mode', l.previous_ai_mode,
    'new_ai_mode', l.new_ai_mode,
    'message_id', l.message_id,
    'created_at',
      pg_catalog.to_char(l.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'workspace_id', l.workspace_id,
    'paused_until',
      pg_catalog.to_char(l.paused_until at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
  ) as event
  from public.ai_pause_logs l;
comment on view takeover_private.log_events is
  'The log rows, each with its JSON (event): what pause-logger, the webhooks and the audit '
  'export give.';

create function takeover_private.stamp_log_row() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- The writer holds the conversation (locked, or read in the same statement), and has
  -- changed it already: one primary-key lookup, served from the same buffer, reads the
  -- workspace and the pause's end after the event (a resume's is none).
  select c.workspace_id, case when new.new_ai_mode = 'paused' then c.paused_until end
  into new.workspace_id, new.paused_until
  from public.conversations c where c.id = new.conversation_id;
  -- Whoever inserts, the row carries the transaction that really wrote it: the audit
  -- export's exactly-once rule depends on it (a txid given by hand could hide a row).
  new.txid := pg_catalog.pg_current_xact_id();
  return new;
end
$$;
comment on function takeover_private.stamp_log_row() is
  'Sets ai_pause_logs.workspace_id and paused_until (from the conversation) and txid (the '
  'writing transaction) on every insert, whoever writes.';

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

create function takeover_private.pauses_on_human_reply(p_workspace_id uuid, p_team_id uuid)
returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce(t.pause_on_human_reply, w.pause_on_human_reply)
  from public.workspaces w
  left join public.teams t on t.id = p_team_id
  where w.id = p_workspace_id
$$;
comment on function takeover_private.pauses_on_human_reply(uuid, uuid) is
  'The effective pause_on_human_reply of a conversation: its team''s own, else its '
  'workspace''s.';

create function takeover_private.begin_pause(
  p_conversation_id uuid,
  p_duration_minutes integer,
  p_paused_by uuid,
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
  set ai_mode = 'paused', paused_at = now(),
      paused_until = now() + make_interval(mins => p_duration_minutes),
      paused_by = p_paused_by, pause_duration_minutes = p_duration_minutes
  where c.id = p_conversation_id
  returning c.* into conversation;

  event_id := takeover_private.log_event(p_conversation_id, 'pause_activated', p_reason,
    p_duration_minutes, p_triggered_by);
end
$$;
comment on function takeover_private.begin_pause(uuid, integer, uuid, text, text) is
  'Pauses an active conversation for p_duration_minutes (null: indefinitely) and writes its '
  'pause_activated row; the caller holds the lock.';

create function takeover_private.lengthen_pause(
  p_conversation_id uuid,
  p_pause_minutes integer,
  p_logged_minutes integer,
  p_reason text,
  p_triggered_by text,
  out conversation public.conversations,
  out event_id bigint
)
language plpgsql
set search_path = ''
as $$
begin
  -- The end follows from the whole length (conversations_pause_consistent); null makes the
  -- pause indefinite.
  update public.conversations c
  set paused_until = c.paused_at + make_interval(mins => p_pause_minutes),
      pause_duration_minutes = p_pause_minutes
  where c.id = p_conversation_id
  returning c.* into conversation;

  event_id := takeover_private.log_event(p_conversation_id, 'extend_pause', p_reason,
    p_logged_minutes, p_triggered_by);
end
$$;
comment on function takeover_private.lengthen_pause(uuid, integer, integer, text, text) is
  'Gives a paused conversation''s pause a new whole length in minutes from paused_at (null: '
  'indefinite) and writes its extend_pause row with p_logged_minutes; the caller holds the lock.';

create function takeover_private.resume_expired(p_limit integer)
returns jsonb
-- plpgsql rather than sql: it keeps the statement's plan, so the cron's frequent sweeps
-- that find nothing skip parsing and planning it each time.
language plpgsql
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
comment on function takeover_private.resume_expired(integer) is
  'Ends up to p_limit expired pauses, oldest deadline first, with their auto_resume rows.';

create function takeover_private.drafts(p_conversation_id uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
      'event_id', d.event_id,
      'agent_id', d.agent_id,
      'message_id', d.message_id,
      'draft', d.draft,
      'created_at', takeover_private.utc(d.created_at)) order by d.event_id desc), '[]'::jsonb)
  from (
    select b.event_id, b.agent_id, b.message_id, b.draft, b.created_at
    from public.blocked_drafts b
    where b.conversation_id = p_conversation_id
    order by b.event_id desc
    limit 10
  ) d
$$;
comment on function takeover_private.drafts(uuid) is
  'The conversation''s kept drafts for pause-status: the 10 newest, newest first.';

create function takeover_private.lock_conversation(
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
comment on function takeover_private.lock_conversation(uuid, uuid) is
  'Locks a conversation the caller may see (null caller: the service), and ends an expired '
  'pause first. Returns a null conversation when it does not exist or is not visible.';

create function takeover_private.log_blocked_message(
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
comment on function takeover_private.log_blocked_message(uuid, integer, text, text, text) is
  'Records an AI message refused during a pause, once per message_id; the caller holds the lock.';

create function takeover_private.take_idempotency_key(
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
    where k.scope = take_idempotency_key.scope and k.created_at < now() - interval '24 hours';
    return;
  end if;

  select * into v_stored from public.idempotency_keys k
  where k.scope = take_idempotency_key.scope and k.key = p_key
  for update;
  if v_stored.created_at < now() - interval '24 hours' then
    update public.idempotency_keys k
    set request_hash = p_request_hash, answer = null, created_at = now()
    where k.scope = take_idempotency_key.scope and k.key = p_key;
  elsif v_stored.request_hash <> p_request_hash then
    answer := takeover_private.error('idempotency_key_reused',
      'This Idempotency-Key was already used with a different request.');
  else
    answer := v_stored.answer;
  end if;
end
$$;
comment on function takeover_private.take_idempotency_key(uuid, text, text) is
  'The answer already given for this caller''s Idempotency-Key (or a refusal when the key '
  'came with another request); a null answer means: go ahead, the key is now taken.';

create function takeover_private.keep_answer(
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
comment on function takeover_private.keep_answer(text, text, jsonb) is
  'Keeps the answer under the key taken by takeover_private.take_idempotency_key, in the same transaction.';

create or replace function takeover_private.refuse_actor(
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
  'Why an attendant transition may not go ahead on this locked conversation, or null.';

drop function takeover_private.activate_transition(uuid, uuid, integer, boolean, text, uuid);
create function takeover_private.activate_transition(
  p_conversation_id uuid,
  p_caller uuid,
  p_duration_minutes integer,
  p_use_default boolean,
  p_reason text,
  p_triggered_by uuid,
  p_agent_id text
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
  v_paused record;
begin
  v_conversation := (takeover_private.lock_conversation(p_conversation_id, p_caller)).conversation;
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

  -- An AI agent handing the conversation over (p_agent_id) pauses on nobody's behalf.
  v_paused := takeover_private.begin_pause(p_conversation_id, v_duration, v_actor, p_reason,
    coalesce(p_agent_id, v_actor::text, 'service'));

  return takeover_private.state(v_paused.conversation, v_paused.event_id);
end
$$;
comment on function takeover_private.activate_transition(uuid, uuid, integer, boolean, text, uuid, text) is
  'pause-activate: active -> paused for a duration (p_use_default: the effective default). '
  'p_caller is the attendant (null: the service); p_triggered_by whom the service acts for; '
  'p_agent_id the AI agent that hands over (the service only, never with p_triggered_by).';

create or replace function takeover_private.extend_transition(
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
  v_extended record;
begin
  v_conversation := (takeover_private.lock_conversation(p_conversation_id, p_caller)).conversation;
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

  -- A null v_added makes the new length null: the pause becomes indefinite.
  v_extended := takeover_private.lengthen_pause(p_conversation_id,
    v_conversation.pause_duration_minutes + v_added, v_added, p_reason,
    coalesce(v_actor::text, 'service'));

  return takeover_private.state(v_extended.conversation, v_extended.event_id);
end
$$;
comment on function takeover_private.extend_transition(uuid, uuid, integer, text, uuid) is
  'pause-extend: adds minutes to paused_until, or makes the pause indefinite (null).';

create or replace function takeover_private.resume_transition(
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
  v_conversation := (takeover_private.lock_conversation(p_conversation_id, p_caller)).conversation;
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
-- The lifecycle's API
-- ===========================================================================

drop function public.takeover_activate(uuid, uuid, integer, boolean, text, uuid, text, text);
drop function public.takeover_gate(uuid, text, text);
drop function public.takeover_sweep(integer);
drop function public.takeover_update_settings(uuid, uuid, uuid, integer, boolean);

create function public.takeover_activate(
  p_conversation_id uuid,
  p_caller uuid,
  p_duration_minutes integer,
  p_use_default boolean,
  p_reason text,
  p_triggered_by uuid,
  p_agent_id text default null,
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
    -- coalesce evaluates the transition only when no answer was kept under the key.
    else (
    select takeover_private.keep_answer(k.scope, k.key, coalesce(k.answer,
      takeover_private.activate_transition(p_conversation_id, p_caller, p_duration_minutes,
        p_use_default, p_reason, p_triggered_by, p_agent_id)))
    from takeover_private.take_idempotency_key(p_caller, p_idempotency_key, p_request_hash) k
    ) end
$$;
comment on function public.takeover_activate(uuid, uuid, integer, boolean, text, uuid, text, text, text) is
  'pause-activate, idempotent by key; p_agent_id: an AI agent''s handoff.';

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
    select takeover_private.keep_answer(k.scope, k.key, coalesce(k.answer,
      takeover_private.extend_transition(p_conversation_id, p_caller, p_duration_minutes,
        p_reason, p_triggered_by)))
    from takeover_private.take_idempotency_key(p_caller, p_idempotency_key, p_request_hash) k
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
    select takeover_private.keep_answer(k.scope, k.key, coalesce(k.answer,
      takeover_private.resume_transition(p_conversation_id, p_caller, p_reason, p_triggered_by)))
    from takeover_private.take_idempotency_key(p_caller, p_idempotency_key, p_request_hash) k
    ) end
$$;
comment on function public.takeover_resume(uuid, uuid, text, uuid, text, text) is
  'pause-resume, idempotent by key.';

create function public.takeover_human_reply(
  p_conversation_id uuid,
  p_caller uuid,
  p_message_id text,
  p_triggered_by uuid
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_refusal jsonb;
  v_conversation public.conversations;
  v_actor uuid := coalesce(p_caller, p_triggered_by);
  v_default integer;
  v_changed record;
  v_event_id bigint;
begin
  v_conversation := (takeover_private.lock_conversation(p_conversation_id, p_caller)).conversation;
  v_refusal := takeover_private.refuse_actor(v_conversation, p_triggered_by);
  if v_refusal is not null then
    return v_refusal;
  end if;

  -- The same message again (a retry, an echo delivered twice): the first call's row (or
  -- none) with the pause as it is now, and nothing written. The row lock above makes a
  -- first call still in flight commit before this reads.
  select r.event_id into v_event_id from takeover_private.human_replies r
  where r.conversation_id = p_conversation_id and r.message_id = p_message_id;
  if found then
    return takeover_private.state(v_conversation, v_event_id)
      || jsonb_build_object('changed', v_event_id is not null);
  end if;

  if takeover_private.pauses_on_human_reply(v_conversation.workspace_id, v_conversation.team_id)
  then
    v_default := takeover_private.default_duration(v_conversation.workspace_id,
      v_conversation.team_id);
    if v_conversation.ai_mode = 'active' then
      v_changed := takeover_private.begin_pause(p_conversation_id, v_default, v_actor,
        'human_replied', coalesce(v_actor::text, 'service'));
      v_conversation := v_changed.conversation;
      v_event_id := v_changed.event_id;
    -- A timer ending before now + the default (an indefinite default: any timer). An
    -- indefinite pause has no timer: it is left alone, like one that ends later.
    elsif v_conversation.paused_until
          < coalesce(now() + make_interval(mins => v_default), 'infinity')
    then
      -- The end becomes now + the default, rounded up to the pause's next whole minute:
      -- its length is whole minutes (conversations_pause_consistent).
      v_changed := takeover_private.lengthen_pause(p_conversation_id,
        ceil(extract(epoch from now() + make_interval(mins => v_default)
                                - v_conversation.paused_at) / 60)::integer,
        v_default, 'human_replied', coalesce(v_actor::text, 'service'));
      v_conversation := v_changed.conversation;
      v_event_id := v_changed.event_id;
    end if;
  end if;

  if p_message_id is not null then
    insert into takeover_private.human_replies (conversation_id, message_id, event_id)
    values (p_conversation_id, p_message_id, v_event_id);
  end if;
  return takeover_private.state(v_conversation, v_event_id)
    || jsonb_build_object('changed', v_event_id is not null);
end
$$;
comment on function public.takeover_human_reply(uuid, uuid, text, uuid) is
  'human-reply: a human answered the customer; with pause_on_human_reply on, the AI pauses '
  '(or stays paused) for at least the effective default from now. Once per message_id.';

create or replace function public.takeover_status(p_conversation_id uuid, p_caller uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_conversation public.conversations;
  v_locked record;
  v_event_id bigint;
begin
  select * into v_conversation from public.conversations c where c.id = p_conversation_id;
  if v_conversation.id is null
     or (p_caller is not null and not takeover_private.is_member(v_conversation.workspace_id, p_caller))
  then
    return takeover_private.not_found();
  end if;
  if v_conversation.ai_mode = 'paused' and v_conversation.paused_until <= now() then
    v_locked := takeover_private.lock_conversation(p_conversation_id, p_caller);
    v_conversation := v_locked.conversation;
    v_event_id := v_locked.expiry_event_id;
  end if;
  return takeover_private.state(v_conversation, v_event_id)
    || jsonb_build_object('blocked_drafts', takeover_private.drafts(p_conversation_id));
end
$$;
comment on function public.takeover_status(uuid, uuid) is
  'pause-status: reads without a lock; takes one only to end an expired pause '
  '(event_id is then that auto_resume row). With the conversation''s kept drafts.';

create function public.takeover_gate(
  p_conversation_id uuid,
  p_message_id text,
  p_agent_id text,
  p_draft text default null
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
  -- The common case, an active conversation, costs two index lookups (the conversation,
  -- the message among its log rows) and writes nothing.
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
      v_conversation := (takeover_private.lock_conversation(p_conversation_id, null)).conversation;
      v_ai_mode := v_conversation.ai_mode;
      v_paused_until := v_conversation.paused_until;
    end if;
    return jsonb_build_object('allowed', false, 'ai_mode', v_ai_mode,
      'paused_until', takeover_private.utc(v_paused_until), 'event_id', v_blocked_before);
  end if;

  if v_ai_mode = 'paused' then
    -- Lock, so a resume cannot commit between this check and the log row: lock_conversation
    -- written out (a plpgsql call with a row argument costs; the service sees every
    -- conversation), its lazy expiry too. The row itself goes through log_blocked_message and
    -- log_event (bench/PERFORMANCE.md).
    select * into v_conversation from public.conversations c
    where c.id = p_conversation_id
    for update;
    if v_conversation.ai_mode = 'paused' and v_conversation.paused_until <= now() then
      v_conversation := (takeover_private.end_pause(v_conversation, 'auto_resume',
        'timer_expired', 'system')).conversation;
    end if;
    if v_conversation.ai_mode = 'paused' then
      v_event_id := takeover_private.log_blocked_message(p_conversation_id,
        v_conversation.pause_duration_minutes, p_message_id, p_agent_id, null);
      if p_draft is not null then
        -- Kept beside its row unless the workspace keeps no drafts. Written out here: a
        -- helper (a call with its own search_path) cost the gate a tenth (bench/human.py).
        -- The lock is shared with the workspace's other drafts; switching drafts off
        -- (takeover_update_settings) takes it exclusively, so a draft is either deleted by
        -- the switch or sees it. Transaction-scoped: nothing outlives the call.
        perform pg_catalog.pg_advisory_xact_lock_shared(
          pg_catalog.hashtext('takeover_private.blocked_drafts'),
          pg_catalog.hashtext(v_conversation.workspace_id::text));
        insert into public.blocked_drafts
          (conversation_id, event_id, workspace_id, agent_id, message_id, draft)
        select p_conversation_id, v_event_id, w.id, p_agent_id, p_message_id, p_draft
        from public.workspaces w
        where w.id = v_conversation.workspace_id and w.keep_blocked_drafts
        -- The same message refused at once by two calls (one log row): the first draft stays.
        on conflict on constraint blocked_drafts_pkey do nothing;
      end if;
      return jsonb_build_object('allowed', false, 'ai_mode', 'paused',
        'paused_until', takeover_private.utc(v_conversation.paused_until), 'event_id', v_event_id);
    end if;
  end if;

  -- A constant, folded once when the statement is planned.
  return '{"allowed": true, "ai_mode": "active", "paused_until": null, "event_id": null}'::jsonb;
end
$$;
comment on function public.takeover_gate(uuid, text, text, text) is
  'interaction-gate: may the AI agent send? Logs interaction_blocked (once per message_id) '
  'while paused, keeping its draft beside it; never blocks past the timer.';

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
  v_conversation := (takeover_private.lock_conversation(p_conversation_id, null)).conversation;
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
    v_event_id := takeover_private.log_blocked_message(p_conversation_id,
      v_conversation.pause_duration_minutes, p_message_id, p_agent_id, p_reason);
  end if;
  return jsonb_build_object('event_id', v_event_id);
end
$$;
comment on function public.takeover_log_blocked(uuid, text, text, text) is
  'pause-logger POST: an AI send the agent refused by itself, during a pause.';

create function public.takeover_sweep(p_limit integer, p_draft_retention_hours integer default 24)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_answer jsonb;
  v_drafts_deleted integer;
begin
  v_answer := takeover_private.resume_expired(p_limit);

  -- What is kept for a while only: drafts past their retention, human-reply message ids
  -- past their 7 days. At most p_limit of each per run, oldest first, skipping what an
  -- overlapping sweep holds; with nothing to delete, one index probe each.
  delete from public.blocked_drafts d
  where d.ctid = any (array(
    select b.ctid from public.blocked_drafts b
    where b.created_at < now() - make_interval(hours => p_draft_retention_hours)
    order by b.created_at
    limit p_limit
    for update skip locked));
  get diagnostics v_drafts_deleted = row_count;
  delete from takeover_private.human_replies r
  where r.ctid = any (array(
    select h.ctid from takeover_private.human_replies h
    where h.created_at < now() - interval '7 days'
    order by h.created_at
    limit p_limit
    for update skip locked));

  return v_answer || jsonb_build_object('drafts_deleted', v_drafts_deleted);
end
$$;
comment on function public.takeover_sweep(integer, integer) is
  'auto-resume (the cron): ends up to p_limit expired pauses, oldest deadline first, and '
  'deletes up to p_limit drafts older than p_draft_retention_hours and as many human-reply '
  'message ids older than 7 days.';

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
  -- A member's listing continues after this (created_at, id): the cursor row's.
  v_after_at timestamptz := '-infinity';
  v_after_id bigint := 0;
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
      perform takeover_private.lock_conversation(p_conversation_id, p_caller);
    end if;
  end if;
  -- A listing of whole workspaces writes nothing: ending their expired pauses here would
  -- hold those conversations' locks for as long as the heavy read runs (the gate would wait
  -- on them); the sweep writes those auto_resume rows within its minute.

  if p_conversation_id is null and p_caller is not null then
    -- A member's listing: each of the member's workspaces read from its (workspace_id,
    -- created_at) index from the cursor on, oldest first, and merged. A page costs its own
    -- rows, however large the log around them (walking the primary key in id order, a
    -- small workspace paid for the whole log). The cursor stays the id of the last row
    -- given: it names the (created_at, id) to continue after.
    if p_after_id is not null then
      select l.created_at, l.id into v_after_at, v_after_id
      from public.ai_pause_logs l
      where l.id = p_after_id
        and l.workspace_id in (
          select m.workspace_id from public.workspace_members m where m.user_id = p_caller);
      if not found then
        return takeover_private.error('invalid_cursor',
          'The cursor is not the id of an event this listing can show.');
      end if;
    end if;
    select coalesce(jsonb_agg(page.event order by page.created_at, page.id), '[]'::jsonb),
           count(*)
    into v_page, v_count
    from (
      select l.event, l.created_at, l.id
      from public.workspace_members m
      cross join lateral (
        select l.event, l.created_at, l.id
        from takeover_private.log_events l
        where l.workspace_id = m.workspace_id
          -- Bounds without "is null or": the index takes them in a cached generic plan too.
          and (l.created_at, l.id) > (v_after_at, v_after_id)
          and l.created_at >= coalesce(p_since, '-infinity')
          and l.created_at < coalesce(p_until, 'infinity')
          and (p_action is null or l.action = p_action)
        order by l.created_at, l.id
        limit p_limit + 1
      ) l
      where m.user_id = p_caller
      order by l.created_at, l.id
      limit p_limit + 1
    ) page;
  else
    -- One conversation's trail (its (conversation_id, id) index), or the service's listing
    -- of every workspace (the primary key): in id order.
    select coalesce(jsonb_agg(page.event order by page.id), '[]'::jsonb), count(*)
    into v_page, v_count
    from (
      select l.event, l.id
      from takeover_private.log_events l
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
  end if;

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
  'pause-logger GET: the audit trail the caller may see, oldest first, keyset-paginated: '
  'one conversation and the service''s listing in id order, a member''s workspaces by '
  '(created_at, id) on the workspace index.';

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
      'pause_on_human_reply', w.pause_on_human_reply,
      'keep_blocked_drafts', w.keep_blocked_drafts,
      'teams', coalesce((
        select jsonb_agg(jsonb_build_object(
          'team_id', t.id,
          'name', t.name,
          'default_duration_minutes',
            case when t.inherits_default then w.default_duration_minutes
                 else t.default_duration_minutes end,
          'inherits', t.inherits_default,
          'pause_on_human_reply', t.pause_on_human_reply) order by t.name, t.id)
        from public.teams t where t.workspace_id = w.id), '[]'::jsonb))
  end
  from (select 1) one
  left join public.workspaces w on w.id = p_workspace_id
$$;
comment on function public.takeover_settings(uuid, uuid) is
  'pause-settings GET: the workspace''s settings, each team''s effective default and its own '
  'pause_on_human_reply (null: inherits).';

create function public.takeover_update_settings(
  p_caller uuid,
  p_workspace_id uuid,
  p_team_id uuid,
  p_set_default boolean,
  p_default_duration_minutes integer,
  p_inherit boolean,
  p_set_pause_on_human_reply boolean,
  p_pause_on_human_reply boolean,
  p_keep_blocked_drafts boolean
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

  -- Each setting changes only when given (p_set_*; p_keep_blocked_drafts null: unchanged).
  if p_team_id is not null then
    update public.teams t
    set inherits_default = case when p_set_default then p_inherit else t.inherits_default end,
        default_duration_minutes = case
          when not p_set_default then t.default_duration_minutes
          when p_inherit then null
          else p_default_duration_minutes::public.pause_duration end,
        pause_on_human_reply = case when p_set_pause_on_human_reply then p_pause_on_human_reply
                                    else t.pause_on_human_reply end
    where t.id = p_team_id;
  else
    if p_keep_blocked_drafts is false then
      -- The lock every gate keeping a draft in this workspace shares (takeover_gate): waits
      -- for the drafts being kept right now, which the delete below then sees.
      perform pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtext('takeover_private.blocked_drafts'),
        pg_catalog.hashtext(v_workspace_id::text));
    end if;
    update public.workspaces w
    set default_duration_minutes = case when p_set_default
          then p_default_duration_minutes::public.pause_duration
          else w.default_duration_minutes end,
        pause_on_human_reply = case when p_set_pause_on_human_reply then p_pause_on_human_reply
                                    else w.pause_on_human_reply end,
        keep_blocked_drafts = coalesce(p_keep_blocked_drafts, w.keep_blocked_drafts)
    where w.id = v_workspace_id;
    if not found then
      return takeover_private.error('workspace_not_found', 'No workspace with this id is visible to the caller.');
    end if;
    if p_keep_blocked_drafts is false then
      -- Drafts switched off: the workspace's drafts go at once, and no new one is kept.
      delete from public.blocked_drafts d where d.workspace_id = v_workspace_id;
    end if;
  end if;

  return public.takeover_settings(null, v_workspace_id);
end
$$;
comment on function public.takeover_update_settings(uuid, uuid, uuid, boolean, integer, boolean, boolean, boolean, boolean) is
  'pause-settings PUT: the workspace''s settings, or a team''s (its default or inherit again, '
  'its pause_on_human_reply or null to inherit); each only when given.';

create or replace function public.takeover_report(
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

  with in_window as not materialized (
    -- The workspace's rows in the window, through (workspace_id, created_at): the cost is
    -- these rows, however large the rest of the log. Read twice below, straight from the
    -- index, and never stored: stored once and read four times, a year of a busy
    -- workspace cost three times reading it, and went to disk (bench/bulkheads.py, 10c).
    select l.id, l.conversation_id, l.action, l.triggered_by, l.duration_minutes, l.created_at
    from public.ai_pause_logs l
    where l.workspace_id = p_workspace_id
      and l.created_at >= p_since and l.created_at < p_until
      -- A hashed set of the team's conversations (built once), not a lookup per row.
      and (p_team_id is null or l.conversation_id in (
        select c.id from public.conversations c where c.team_id = p_team_id))
  ),
  counts as (
    -- The first read: every row counted three ways in one pass, by UTC day, by
    -- conversation (for the teams) and by actor; a few hundred rows come out of it.
    select r.day, r.conversation_id, r.triggered_by,
           count(*) filter (where r.action = 'pause_activated') as pauses,
           count(*) filter (where r.action = 'interaction_blocked') as blocked,
           count(*) filter (where r.action = 'auto_resume') as auto_resumes,
           count(*) filter (where r.action = 'force_resume') as force_resumes,
           count(*) filter (where r.action = 'extend_pause') as extensions
    from (
      -- date_bin is arithmetic on the instant; a time zone conversion per row costs more.
      select (date_bin('1 day', w.created_at, timestamptz '2000-01-01 00:00:00+00')
              at time zone 'UTC')::date as day, w.conversation_id, w.triggered_by, w.action
      from in_window w
      -- Kept a subquery, so the planner judges the days as an expression it has no
      -- statistics for (a few hundred groups: hashed) rather than by created_at's (one
      -- group per row: a year of rows sorted on disk).
      offset 0
    ) r
    group by grouping sets ((r.day), (r.conversation_id), (r.triggered_by))
  ),
  lifecycle as (
    -- The second read: the activations and resumes. A conversation's alternate, so a
    -- resume's previous one of these rows (in log order) is the activation it ended.
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
  by_team as (
    select c.team_id, t.name, sum(g.pauses)::bigint as pauses, sum(g.blocked)::bigint as blocked
    from counts g
    join public.conversations c on c.id = g.conversation_id
    left join public.teams t on t.id = c.team_id
    group by c.team_id, t.name
    having sum(g.pauses) + sum(g.blocked) > 0
  ),
  human_reply_pauses as (
    -- pause_activated rows a human's reply wrote, through their partial index: an
    -- attendant's (uuid triggered_by) or the service's on nobody's behalf.
    select count(*) as pauses, count(*) filter (where h.triggered_by = 'service') as by_service
    from public.ai_pause_logs h
    where h.workspace_id = p_workspace_id
      and h.action = 'pause_activated' and h.reason = 'human_replied'
      and h.created_at >= p_since and h.created_at < p_until
      and (p_team_id is null or h.conversation_id in (
        select c.id from public.conversations c where c.team_id = p_team_id))
  ),
  pauses_by_actor as (
    -- Who wrote the pause_activated rows, per actor: an attendant (a user id), the service
    -- on nobody's behalf, else an AI agent handing over (an agent id is never a user id).
    select coalesce(sum(g.pauses) filter (where g.triggered_by
             ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'), 0) as attendant,
           coalesce(sum(g.pauses) filter (where g.triggered_by = 'service'), 0) as service,
           coalesce(sum(g.pauses), 0) as pauses
    from counts g
    where g.triggered_by is not null
  ),
  by_attendant as (
    -- Attendant actions carry the attendant's id; 'service' (the service without
    -- triggered_by) is nobody's. Matched once per actor, not once per row.
    select lower(g.triggered_by) as user_id, sum(g.pauses)::bigint as pauses,
           sum(g.force_resumes)::bigint as force_resumes,
           sum(g.extensions)::bigint as extensions
    from counts g
    where g.triggered_by ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
      and g.pauses + g.force_resumes + g.extensions > 0
    group by lower(g.triggered_by)
  ),
  per_day as (
    select g.day, g.pauses, g.blocked, g.auto_resumes, g.force_resumes, g.extensions
    from counts g
    where g.day is not null
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
    'pauses_by_source', (
      select jsonb_build_object(
        'attendant', a.attendant - (h.pauses - h.by_service),
        'human_reply', h.pauses,
        'ai_handoff', a.pauses - a.attendant - a.service,
        'service', a.service - h.by_service)
      from pauses_by_actor a, human_reply_pauses h),
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

drop function takeover_private.claim(uuid, uuid);
drop function takeover_private.block(uuid, integer, text, text, text);
drop function takeover_private.recall(uuid, text, text);
drop function takeover_private.remember(text, text, jsonb);

-- ===========================================================================
-- Webhooks
-- ===========================================================================

create function public.takeover_webhook_event_types()
returns text[]
-- immutable, for the check below: enum values are only ever added, so a subscription once
-- valid stays valid.
language sql immutable
set search_path = ''
as $$
  -- One type per action of the log, and the expiry notice: the enum is the one list
  -- (functions/webhooks/events.py derives its own from the enum's Python mirror).
  select pg_catalog.array_agg('takeover.' || action::text order by action)
    || 'takeover.pause_expiring'::text
  from pg_catalog.unnest(pg_catalog.enum_range(null::public.ai_pause_action)) action
$$;
comment on function public.takeover_webhook_event_types() is
  'The event types a webhook endpoint may subscribe to, in the contract''s order.';

create or replace function takeover_private.webhook_fan_out(p_limit integer)
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
  -- Events of one endpoint are first attempted in log order (docs/api.md), so
  -- deliveries must be created in log order: one fan-out at a time (a transaction lock,
  -- released at commit, so it works through a pooler), in log id order, and only of rows
  -- whose writing transaction is older than every one still in flight (the audit export's
  -- rule), so a row that commits late is not overtaken by a later one already fanned out.
  -- Exact for the events of a conversation: its writers hold its row lock, so each draws its
  -- log id after the previous one committed. (Two overlapping transactions on different
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

create function takeover_private.webhook_queue_notices(p_notice_seconds double precision)
returns void
language plpgsql
set search_path = ''
as $$
begin
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
end
$$;
comment on function takeover_private.webhook_queue_notices(double precision) is
  'Drops the pending pause_expiring notices whose pause ended or moved, and queues one for '
  'each pause that ends within p_notice_seconds, per subscribed endpoint and pause end.';

create or replace function takeover_private.webhook_batch(p_endpoint_id uuid, p_limit integer)
returns jsonb
language sql stable
set search_path = ''
as $$
  -- The body of each delivery: a log event's data is the log row as log_events gives it (the
  -- event as pause-logger GET shows it, with its workspace and the pause's end after it),
  -- plus the conversation's team and its mode after the event. A notice is sent only while
  -- its end is still the conversation's end and still ahead, with the state and
  -- expires_in_seconds as they are now.
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
      else l.event::jsonb
        || jsonb_build_object('team_id', c.team_id, 'ai_mode', l.new_ai_mode)
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
  left join takeover_private.log_events l on l.id = d.log_id
  left join public.conversations c on c.id = l.conversation_id
  left join public.conversations n on n.id = d.conversation_id
$$;
comment on function takeover_private.webhook_batch(uuid, integer) is
  'The next due deliveries of an endpoint, in log order, as the dispatcher sends them; '
  'notices only while still due, recomputed.';

drop function public.takeover_webhook_claim(integer, integer, double precision,
  double precision, uuid[]);

create function public.takeover_webhook_lease(
  p_endpoints integer,
  p_per_workspace integer,
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
  v_turns uuid[];
  v_leased jsonb;
begin
  perform takeover_private.webhook_fan_out(10000);
  perform takeover_private.webhook_queue_notices(p_notice_seconds);

  -- One lease at a time (a transaction lock, released at commit, so it works through a
  -- pooler): each sees the leases taken before it, so the cap per workspace holds however
  -- many dispatchers run.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('takeover_private.webhook_lease'));

  -- Fair turns: the endpoints with a due delivery that nobody holds and that are not backing
  -- off, the workspaces taking turns (each one's first endpoint, then each one's second, a
  -- workspace's leases already held counting as its first turns), each turn in the order of
  -- its endpoints' oldest due delivery; no workspace past p_per_workspace leases.
  select array_agg(turns.id order by turns.turn, turns.oldest_due, turns.id)
  into v_turns
  from (
    select due.id, due.oldest_due,
           coalesce(held.leases, 0)
             + row_number() over (partition by due.workspace_id order by due.oldest_due, due.id)
             as turn
    from (
      select e.id, e.workspace_id, (
          select min(d.next_attempt_at) from public.webhook_deliveries d
          where d.endpoint_id = e.id and d.status = 'pending') as oldest_due
      from public.webhook_endpoints e
      where e.enabled
        and (e.leased_until is null or e.leased_until <= now())
        and (e.backoff_until is null or e.backoff_until <= now())
        and not (e.id = any (p_skip))
    ) due
    left join (
      select e.workspace_id, count(*) as leases from public.webhook_endpoints e
      where e.leased_until > now()
      group by e.workspace_id
    ) held on held.workspace_id = due.workspace_id
    where due.oldest_due <= now()
  ) turns
  where turns.turn <= p_per_workspace;
  if v_turns is null then
    return jsonb_build_object('endpoints', '[]'::jsonb);
  end if;

  -- The first p_endpoints of them that no record holds locked, and that a late holder's
  -- record did not keep meanwhile. `no key update` does not block the foreign key checks of
  -- deliveries being queued.
  with chosen as (
    select e.id from public.webhook_endpoints e
    join unnest(v_turns) with ordinality t(id, turn) on t.id = e.id
    where e.leased_until is null or e.leased_until <= now()
    order by t.turn
    limit p_endpoints
    for no key update of e skip locked
  ), leased as (
    update public.webhook_endpoints e
    set leased_until = now() + make_interval(secs => p_lease_seconds),
        lease_token = gen_random_uuid()
    from chosen
    where e.id = chosen.id
    returning e.id, e.url, e.secret, e.lease_token
  )
  select coalesce(jsonb_agg(jsonb_build_object(
    'id', leased.id,
    'url', leased.url,
    'secret', leased.secret,
    'lease_token', leased.lease_token)), '[]'::jsonb)
  into v_leased
  from leased;

  -- A new statement, so a new snapshot: it sees what a dispatcher that held these endpoints
  -- a moment ago committed.
  select coalesce(jsonb_agg(endpoint || jsonb_build_object('deliveries',
    takeover_private.webhook_batch((endpoint ->> 'id')::uuid, p_per_endpoint))), '[]'::jsonb)
  into v_leased
  from jsonb_array_elements(v_leased) endpoint;
  return jsonb_build_object('endpoints', v_leased);
end
$$;
comment on function public.takeover_webhook_lease(integer, integer, integer, double precision, double precision, uuid[]) is
  'webhook-dispatch: fan the outbox out and queue the expiry notices, then lease up to '
  'p_endpoints endpoints with due deliveries (not backing off, not in p_skip), the workspaces '
  'taking turns by their oldest due delivery, none past p_per_workspace leases, each with its '
  'first p_per_endpoint due deliveries in log order.';

create or replace function public.takeover_webhook_record(
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
  -- The batch ends at an attempt that got no answer (timeout, refused connection, ...).
  v_unanswered boolean := p_status_codes[cardinality(p_status_codes)] is null;
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

  -- An endpoint that gave no answer backs off alone: no lease for 5 s, doubling with each
  -- unanswered attempt in a row, at most 5 minutes. Any answer ends it.
  if cardinality(p_ids) > 0 then
    update public.webhook_endpoints e
    set unanswered_attempts = case when v_unanswered then e.unanswered_attempts + 1 else 0 end,
        backoff_until = case when v_unanswered then now() + least(interval '5 minutes',
          interval '5 seconds' * power(2, least(e.unanswered_attempts, 6))) end
    where e.id = p_endpoint_id and (v_unanswered or e.unanswered_attempts > 0);
  end if;

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
  'retried on the schedule, then failed; a lost lease records nothing: lease_lost), back the '
  'endpoint off when the last got no answer; then hand the holder up to p_more next due '
  'deliveries, or release the endpoint.';

alter table public.webhook_endpoints
  drop constraint webhook_endpoints_event_types_check,
  add constraint webhook_endpoints_event_types_check
    check (event_types <@ public.takeover_webhook_event_types());

-- ===========================================================================
-- The audit export: reserve, rows, commit, release
-- ===========================================================================

alter function public.takeover_audit_export_claim(integer, integer)
  rename to takeover_audit_export_reserve;

create or replace function public.takeover_audit_export_reserve(p_limit integer, p_lease_seconds integer)
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
    raise exception 'takeover_audit_export_reserve runs in a transaction of its own';
  end if;
  -- One run reserves at a time; the lease, not this lock, keeps uploads apart.
  insert into takeover_private.audit_export_state default values on conflict do nothing;
  select * into strict v_state from takeover_private.audit_export_state for update;
  -- Taken under the lock, so reservations take their snapshots in order and the exported one
  -- never goes back. (This transaction's own id, now assigned, counts as ended in it: it
  -- writes no log row.)
  v_now := pg_current_snapshot();

  if v_state.batch_token is not null then
    if v_state.batch_expires_at > now() then
      return jsonb_build_object('busy', true);
    end if;
    -- The run holding it died (or gave it back): its batch, unchanged, is ours now.
    v_end_txid := v_state.batch_end_txid;
    v_end_id := v_state.batch_end_id;
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
        -- Every transaction before the exported snapshot's xmin had ended in it, so its
        -- rows are exported: the walk starts there, not at the log's first row.
        v_state.position_txid := coalesce(pg_snapshot_xmin(v_state.exported_snapshot), '0');
        v_state.position_id := 0;
      end if;
      select last.txid, last.id into v_end_txid, v_end_id
      from (
        select l.txid, l.id from public.ai_pause_logs l
        where (l.txid, l.id) > (v_state.position_txid, v_state.position_id)
          and l.txid < pg_snapshot_xmax(v_state.target_snapshot)
          -- Written by a transaction that had ended in the target snapshot, and not yet
          -- in the exported one (txid is the top-level transaction, as snapshots list).
          and pg_visible_in_snapshot(l.txid, v_state.target_snapshot)
          and (v_state.exported_snapshot is null
               or not pg_visible_in_snapshot(l.txid, v_state.exported_snapshot))
        order by l.txid, l.id
        limit takeover_audit_export_reserve.p_limit
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
      batch_end_txid = v_end_txid, batch_end_id = v_end_id, batch_token = v_token,
      batch_expires_at = now() + make_interval(secs => p_lease_seconds);

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
comment on function public.takeover_audit_export_reserve(integer, integer) is
  'Reserves the next batch of the audit export (at most p_limit rows of transactions ended '
  'before this call, in (txid, id) order), or the batch of a run whose lease expired; busy '
  'while another run holds one.';

create function public.takeover_audit_export_rows(
  p_exported_snapshot pg_snapshot,
  p_target_snapshot pg_snapshot,
  p_after_txid xid8,
  p_after_id bigint,
  p_through_txid xid8,
  p_through_id bigint
)
returns table (id bigint, line text)
-- plpgsql: called once, it hands back the batch whole; a SQL function would be called once
-- per row, and pay its SET clauses every time.
language plpgsql
stable
-- security definer: it reads the log as its owner, like every API function, so service_role
-- needs execute on it and nothing on the table.
security definer
set search_path = ''
-- A batch, sorted and handed back, stays in memory rather than spilling to disk.
set work_mem = '64MB'
as $$
begin
  -- Each row as log_events gives it (every column but txid, in the table's order, times in
  -- UTC whatever the session's time zone): a repeated batch gives the same bytes. In object
  -- order: by workspace, UTC day, id.
  return query
  select l.id, l.event::text
  from takeover_private.log_events l
  where (l.txid, l.id) > (p_after_txid, p_after_id)
    and (l.txid, l.id) <= (p_through_txid, p_through_id)
    and pg_catalog.pg_visible_in_snapshot(l.txid, p_target_snapshot)
    and (p_exported_snapshot is null
         or not pg_catalog.pg_visible_in_snapshot(l.txid, p_exported_snapshot))
  order by l.workspace_id, (l.created_at at time zone 'UTC')::date, l.id;
end
$$;
comment on function public.takeover_audit_export_rows(pg_snapshot, pg_snapshot, xid8, bigint, xid8, bigint) is
  'The rows of a reserved batch (the bounds its reservation answered), one JSON line each, '
  'in the order of its objects.';

create or replace function public.takeover_audit_export_commit(p_token uuid)
returns jsonb
language plpgsql
security definer  -- writes takeover_private
set search_path = ''
as $$
begin
  -- Only the holder moves the position: a run whose batch was taken over changes nothing.
  update takeover_private.audit_export_state s
  set position_txid = s.batch_end_txid, position_id = s.batch_end_id,
      batch_end_txid = null, batch_end_id = null, batch_token = null, batch_expires_at = null,
      last_exported_at = now()
  where s.batch_token = p_token;
  return jsonb_build_object('committed', found);
end
$$;
comment on function public.takeover_audit_export_commit(uuid) is
  'Moves the audit export''s cursor past the reserved batch, once its objects are uploaded.';

create or replace function public.takeover_audit_export_release(p_token uuid)
returns jsonb
language plpgsql
security definer  -- writes takeover_private
set search_path = ''
as $$
begin
  -- The batch stays reserved (its range is fixed); the next run takes it over at once.
  update takeover_private.audit_export_state s
  set batch_expires_at = now()
  where s.batch_token = p_token;
  return jsonb_build_object('released', found);
end
$$;
comment on function public.takeover_audit_export_release(uuid) is
  'Gives back a reserved batch whose upload failed, so the next run retries it at once.';

-- ===========================================================================
-- Triggers
-- ===========================================================================

create trigger conversations_pause_columns_protected
  before insert or update of ai_mode, paused_at, paused_until, paused_by, pause_duration_minutes
  on public.conversations
  for each row execute function takeover_private.protect_pause_columns();

drop trigger ai_pause_logs_workspace on public.ai_pause_logs;
create trigger ai_pause_logs_stamp
  before insert on public.ai_pause_logs
  for each row execute function takeover_private.stamp_log_row();
drop function takeover_private.log_workspace();

-- ===========================================================================
-- Grants: the new API (new functions, and new signatures) to service_role alone; the
-- helpers to nobody
-- ===========================================================================

revoke all on function
  public.takeover_activate(uuid, uuid, integer, boolean, text, uuid, text, text, text),
  public.takeover_human_reply(uuid, uuid, text, uuid),
  public.takeover_gate(uuid, text, text, text),
  public.takeover_sweep(integer, integer),
  public.takeover_update_settings(uuid, uuid, uuid, boolean, integer, boolean, boolean, boolean, boolean),
  public.takeover_webhook_lease(integer, integer, integer, double precision, double precision, uuid[]),
  public.takeover_webhook_event_types(),
  public.takeover_audit_export_rows(pg_snapshot, pg_snapshot, xid8, bigint, xid8, bigint)
  from public, anon, authenticated;
grant execute on function
  public.takeover_activate(uuid, uuid, integer, boolean, text, uuid, text, text, text),
  public.takeover_human_reply(uuid, uuid, text, uuid),
  public.takeover_gate(uuid, text, text, text),
  public.takeover_sweep(integer, integer),
  public.takeover_update_settings(uuid, uuid, uuid, boolean, integer, boolean, boolean, boolean, boolean),
  public.takeover_webhook_lease(integer, integer, integer, double precision, double precision, uuid[]),
  public.takeover_webhook_event_types(),
  public.takeover_audit_export_rows(pg_snapshot, pg_snapshot, xid8, bigint, xid8, bigint)
  to service_role;
revoke all on all functions in schema takeover_private
  from public, anon, authenticated, service_role;

-- What duration_minutes holds on a human reply's extension (takeover_human_reply).
comment on column public.ai_pause_logs.duration_minutes is
  'Configured duration: of the pause for activate and resumes, the minutes added for '
  'extend_pause (null there = made indefinite); for an extend_pause by a human''s reply '
  '(reason human_replied), the default the pause runs for from that reply.';

-- The sweep writes the log too (takeover_sweep's set-based insert).
comment on function takeover_private.log_event(uuid, public.ai_pause_action, text, integer, text, text) is
  'Writes one ai_pause_logs row, its previous/new ai_mode derived from the action: the log''s '
  'writer, but for the sweep''s set-based insert. Null when the message_id was logged before '
  '(nothing is written).';
