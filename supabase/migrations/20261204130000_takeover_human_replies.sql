-- The human side of takeover (issue 19):
-- - human-reply: a human's message to the customer pauses the AI by itself
--   (public.takeover_human_reply), per the workspace's pause_on_human_reply and its teams'
--   overrides; its message ids in takeover_private.human_replies (7 days);
-- - the AI's handoff: pause-activate with agent_id (takeover_activate's p_agent_id);
-- - blocked drafts: the gate's draft, kept in public.blocked_drafts beside its
--   interaction_blocked row (never in the log), shown by pause-status, deleted by the sweep
--   after DRAFT_RETENTION_HOURS or at once when the workspace sets keep_blocked_drafts false;
-- - the report's pauses_by_source.
-- activate_transition and extend_transition now write through begin_pause and
-- lengthen_pause, which human-reply shares; the sweep's resume moves to
-- takeover_private.resume_expired.
--
-- New parameters of existing API functions have defaults where functions deployed before
-- this migration call them (takeover_activate, takeover_gate, takeover_sweep, the in-database
-- cron's takeover_sweep(1000)), so those keep working until they are replaced;
-- takeover_update_settings changed its parameters.

-- ===========================================================================
-- Settings: pause_on_human_reply (workspace, team override) and keep_blocked_drafts
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

-- ===========================================================================
-- Tables: the blocked drafts, and human-reply's message ids
-- ===========================================================================

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

-- ===========================================================================
-- Helpers
-- ===========================================================================

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

-- ===========================================================================
-- pause-activate: the AI's handoff (agent_id), through begin_pause; pause-extend through
-- lengthen_pause
-- ===========================================================================

drop function public.takeover_activate(uuid, uuid, integer, boolean, text, uuid, text, text);
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

  -- A null v_added makes the new length null: the pause becomes indefinite.
  v_extended := takeover_private.lengthen_pause(p_conversation_id,
    v_conversation.pause_duration_minutes + v_added, v_added, p_reason,
    coalesce(v_actor::text, 'service'));

  return takeover_private.state(v_extended.conversation, v_extended.event_id);
end
$$;
comment on function takeover_private.extend_transition(uuid, uuid, integer, text, uuid) is
  'pause-extend: adds minutes to paused_until, or makes the pause indefinite (null).';

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
    -- coalesce evaluates the transition only when no answer was recalled.
    else (
    select takeover_private.remember(k.scope, k.key, coalesce(k.answer,
      takeover_private.activate_transition(p_conversation_id, p_caller, p_duration_minutes,
        p_use_default, p_reason, p_triggered_by, p_agent_id)))
    from takeover_private.recall(p_caller, p_idempotency_key, p_request_hash) k
    ) end
$$;
comment on function public.takeover_activate(uuid, uuid, integer, boolean, text, uuid, text, text, text) is
  'pause-activate, idempotent by key; p_agent_id: an AI agent''s handoff.';

-- ===========================================================================
-- human-reply
-- ===========================================================================

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
  v_conversation := (takeover_private.claim(p_conversation_id, p_caller)).conversation;
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

-- ===========================================================================
-- interaction-gate keeps the draft; pause-status shows the drafts
-- ===========================================================================

drop function public.takeover_gate(uuid, text, text);

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
  return takeover_private.state(v_conversation, v_event_id)
    || jsonb_build_object('blocked_drafts', takeover_private.drafts(p_conversation_id));
end
$$;
comment on function public.takeover_status(uuid, uuid) is
  'pause-status: reads without a lock; takes one only to end an expired pause '
  '(event_id is then that auto_resume row). With the conversation''s kept drafts.';

-- ===========================================================================
-- The sweep deletes what is kept for a while only
-- ===========================================================================

drop function public.takeover_sweep(integer);

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

-- ===========================================================================
-- pause-settings
-- ===========================================================================

drop function public.takeover_update_settings(uuid, uuid, uuid, integer, boolean);

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

-- ===========================================================================
-- pause-report: pauses_by_source
-- ===========================================================================

-- The pauses a human's reply caused (pauses_by_source): the covering index above has no
-- reason, and carrying it there would make every entry wider; these rows alone, counted
-- from their own index.
create index ai_pause_logs_human_reply_pauses_idx
  on public.ai_pause_logs (workspace_id, created_at)
  include (conversation_id, triggered_by)
  where action = 'pause_activated' and reason = 'human_replied';

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

-- ===========================================================================
-- Grants: the new and re-created API to service_role alone; the helpers to nobody
-- ===========================================================================

revoke all on function
  public.takeover_activate(uuid, uuid, integer, boolean, text, uuid, text, text, text),
  public.takeover_human_reply(uuid, uuid, text, uuid),
  public.takeover_gate(uuid, text, text, text),
  public.takeover_sweep(integer, integer),
  public.takeover_update_settings(uuid, uuid, uuid, boolean, integer, boolean, boolean, boolean, boolean)
  from public, anon, authenticated;
grant execute on function
  public.takeover_activate(uuid, uuid, integer, boolean, text, uuid, text, text, text),
  public.takeover_human_reply(uuid, uuid, text, uuid),
  public.takeover_gate(uuid, text, text, text),
  public.takeover_sweep(integer, integer),
  public.takeover_update_settings(uuid, uuid, uuid, boolean, integer, boolean, boolean, boolean, boolean)
  to service_role;
revoke all on all functions in schema takeover_private
  from public, anon, authenticated, service_role;
