-- One shape for a log row outside the database, and helpers named for what they do
-- (issue 18).
--
-- - ai_pause_logs records the pause's end after each event (paused_until), set on insert
--   by the trigger that already sets the row's workspace: a webhook's data carries the
--   conversation's mode and pause end after the event, and the audit export, every column.
-- - takeover_private.event_json builds a log row's JSON for pause-logger, the webhooks and
--   the audit export alike (three hand-written copies before).
-- - The helpers say what they do: claim is lock_conversation (the webhooks' lease and the
--   export's reservation have their own names), recall and remember are
--   take_idempotency_key and keep_answer, block is log_blocked_message, log_workspace is
--   stamp_log_row. Their callers are re-created to call the new names.
-- - The event types a webhook endpoint may subscribe to come from the action enum
--   (public.takeover_webhook_event_types), not from a second list.

-- ===========================================================================
-- The log row: its pause end, stamped on insert
-- ===========================================================================

alter table public.ai_pause_logs add column paused_until timestamptz;
comment on column public.ai_pause_logs.paused_until is
  'When the pause ends after this event (null: indefinite, or the AI is back); set on insert '
  'by a trigger. Null on rows written before it was recorded.';

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

drop trigger ai_pause_logs_workspace on public.ai_pause_logs;
create trigger ai_pause_logs_stamp
  before insert on public.ai_pause_logs
  for each row execute function takeover_private.stamp_log_row();
drop function takeover_private.log_workspace();

-- ===========================================================================
-- One JSON shape for a log row
-- ===========================================================================

create function takeover_private.event_json(p_event public.ai_pause_logs)
returns json
language sql stable
set search_path = ''
as $$
  -- The one shape of a log row outside the database: every column but txid (the audit
  -- export's bookkeeping), in the table's order. pause-logger shows the event's own fields
  -- (functions/pause_logger.py's Event, which a test compares with this); a webhook adds
  -- the conversation's team and mode; the audit export writes it as it is. json, not
  -- jsonb: it keeps this order and costs less, row by row.
  select pg_catalog.json_build_object(
    'id', p_event.id,
    'conversation_id', p_event.conversation_id,
    'action', p_event.action,
    'reason', p_event.reason,
    'duration_minutes', p_event.duration_minutes,
    'triggered_by', p_event.triggered_by,
    'previous_ai_mode', p_event.previous_ai_mode,
    'new_ai_mode', p_event.new_ai_mode,
    'message_id', p_event.message_id,
    'created_at', takeover_private.utc(p_event.created_at),
    'workspace_id', p_event.workspace_id,
    'paused_until', takeover_private.utc(p_event.paused_until))
$$;
comment on function takeover_private.event_json(public.ai_pause_logs) is
  'A log row as JSON, the one shape pause-logger, the webhooks and the audit export give.';

-- ===========================================================================
-- The helpers under their new names, then their callers
-- ===========================================================================

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

create or replace function takeover_private.activate_transition(
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

create or replace function public.takeover_activate(
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

create or replace function public.takeover_human_reply(
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

create or replace function public.takeover_gate(
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
      v_conversation := (takeover_private.lock_conversation(p_conversation_id, null)).conversation;
      v_ai_mode := v_conversation.ai_mode;
      v_paused_until := v_conversation.paused_until;
    end if;
    return jsonb_build_object('allowed', false, 'ai_mode', v_ai_mode,
      'paused_until', takeover_private.utc(v_paused_until), 'event_id', v_blocked_before);
  end if;

  if v_ai_mode = 'paused' then
    -- Lock, so a resume cannot commit between this check and the log row: lock_conversation's
    -- lock written out (a plpgsql call with a row argument costs), the expiry still left to
    -- it. The row itself goes through log_blocked_message and the one log writer
    -- (bench/PERFORMANCE.md).
    select * into v_conversation from public.conversations c
    where c.id = p_conversation_id
    for update;
    if v_conversation.ai_mode = 'paused' and v_conversation.paused_until <= now() then
      v_conversation := (takeover_private.lock_conversation(p_conversation_id, null)).conversation;
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
  else
    -- Every pause the caller may see that is over is ended first (the partial index on
    -- paused_until finds them), so the trail never shows a finished pause as running.
    perform takeover_private.lock_conversation(c.id, p_caller)
    from public.conversations c
    where c.ai_mode = 'paused' and c.paused_until is not null and c.paused_until <= now()
      and (p_caller is null or takeover_private.is_member(c.workspace_id, p_caller));
  end if;

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
    select coalesce(jsonb_agg(takeover_private.event_json(page.event)
             order by page.created_at, page.id), '[]'::jsonb),
           count(*)
    into v_page, v_count
    from (
      select l.event, l.created_at, l.id
      from public.workspace_members m
      cross join lateral (
        select l as event, l.created_at, l.id
        from public.ai_pause_logs l
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
    select coalesce(jsonb_agg(takeover_private.event_json(page.event) order by page.id),
             '[]'::jsonb),
           count(*)
    into v_page, v_count
    from (
      select l as event, l.id
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

drop function takeover_private.claim(uuid, uuid);
drop function takeover_private.block(uuid, integer, text, text, text);
drop function takeover_private.recall(uuid, text, text);
drop function takeover_private.remember(text, text, jsonb);

-- ===========================================================================
-- The webhooks' and the audit export's rows, through event_json
-- ===========================================================================

create or replace function takeover_private.webhook_batch(p_endpoint_id uuid, p_limit integer)
returns jsonb
language sql stable
set search_path = ''
as $$
  -- The body of each delivery: a log event's data is the log row as event_json gives it (the
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
      else takeover_private.event_json(l)::jsonb
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
  left join public.ai_pause_logs l on l.id = d.log_id
  left join public.conversations c on c.id = l.conversation_id
  left join public.conversations n on n.id = d.conversation_id
$$;
comment on function takeover_private.webhook_batch(uuid, integer) is
  'The next due deliveries of an endpoint, in log order, as the dispatcher sends them; '
  'notices only while still due, recomputed.';

create or replace function public.takeover_audit_export_rows(
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
  -- Each row as event_json gives it (every column but txid, in the table's order, times in
  -- UTC whatever the session's time zone): a repeated batch gives the same bytes. In object
  -- order: by workspace, UTC day, id.
  return query
  select l.id, takeover_private.event_json(l)::text
  from public.ai_pause_logs l
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

-- ===========================================================================
-- The event types, from the action enum
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

alter table public.webhook_endpoints
  drop constraint webhook_endpoints_event_types_check,
  add constraint webhook_endpoints_event_types_check
    check (event_types <@ public.takeover_webhook_event_types());

-- ===========================================================================
-- Grants: the new API function to service_role alone; the helpers to nobody
-- ===========================================================================

revoke all on function public.takeover_webhook_event_types() from public, anon, authenticated;
grant execute on function public.takeover_webhook_event_types() to service_role;
revoke all on all functions in schema takeover_private
  from public, anon, authenticated, service_role;
