-- The lifecycle: a human attendant pauses the AI agent on a conversation, and hands it back.
-- (The layout of supabase/schemas/ and supabase/migrations/ is explained in
-- 10_types_and_tables.sql.)
--
-- Every transition is one function that locks the conversation, applies lazy expiry first,
-- refuses what is not allowed, and writes the conversation and its ai_pause_logs row (through
-- takeover_private.log_event; the sweep's one set-based insert is the only other writer of
-- that table) in the same transaction.
--
-- Refusals are returned as values (`{"error": {code, message, details}}`), not raised:
-- a refusal that comes after a lazy expiry must not roll that auto_resume back. The
-- Python edge maps each code to its HTTP status in one place (functions/shared/errors.py).
--
-- The API (what the functions call, `public.takeover_<name>`) is in public, executable by
-- service_role alone; the helpers are in takeover_private, which no API role can see. The
-- API functions are therefore `security definer`: they run as their owner (the migrating
-- user), who alone may execute the helpers. Every function has `set search_path = ''` and
-- qualifies every name (Supabase's lint 0011); what that costs the gate: bench/search_path.py
-- (figures in bench/PERFORMANCE.md).

-- ===========================================================================
-- Helpers
-- ===========================================================================

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
  'Writes one ai_pause_logs row, its previous/new ai_mode derived from the action: the log''s '
  'writer, but for the sweep''s set-based insert. Null when the message_id was logged before '
  '(nothing is written).';

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
  'Why an attendant transition may not go ahead on this locked conversation, or null.';

-- ===========================================================================
-- Transitions (one per contract function)
-- ===========================================================================

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
-- Idempotency keys: a retried click gets the first answer and writes nothing new
-- ===========================================================================

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

-- ===========================================================================
-- The API: what the functions call, as service_role (security definer, see the top)
-- ===========================================================================

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

create function public.takeover_extend(
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

create function public.takeover_resume(
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

create function public.takeover_status(p_conversation_id uuid, p_caller uuid)
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

create function public.takeover_log_blocked(
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

create function public.takeover_events(
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

create function public.takeover_settings(p_caller uuid, p_workspace_id uuid)
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
