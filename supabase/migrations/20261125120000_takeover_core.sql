-- Takeover: a human attendant pauses the AI agent on a conversation, and hands it back.
--
-- The lifecycle as first written (today's state: supabase/schemas/). Every transition is one
-- function that locks the conversation, applies lazy expiry first, refuses what is not
-- allowed, and writes the conversation and its ai_pause_logs row in the same transaction.
--
-- Refusals are returned as values (`{"error": {code, message, details}}`), not raised:
-- a refusal that comes after a lazy expiry must not roll that auto_resume back. The
-- Python edge maps each code to its HTTP status in one place (functions/shared/errors.py).
--
-- History: this is the first migration, as it was first applied; it is applied once (the
-- runner and the Supabase CLI record it in supabase_migrations.schema_migrations). The
-- state after every migration is described in supabase/schemas/; a later change is a new
-- migration plus the same edit in those files (tests/test_migrations.py checks they agree).

-- ===========================================================================
-- Types
-- ===========================================================================

create type public.ai_mode as enum (
  'active',  -- the AI agent answers the customer
  'paused'   -- a human attendant has taken the conversation over
);
create type public.ai_pause_action as enum (
  'pause_activated',      -- a human took over: active -> paused
  'interaction_blocked',  -- the AI agent tried to send while paused: paused -> paused
  'auto_resume',          -- the timer ran out, the AI is back: paused -> active
  'force_resume',         -- the attendant handed back early: paused -> active
  'extend_pause'          -- the attendant extended the pause: paused -> paused
);
-- The durations an attendant can pick; null (not in the domain's check) is indefinite.
create domain public.pause_duration as integer check (value in (15, 30, 60, 120));

-- ===========================================================================
-- Tables
-- ===========================================================================

-- The inbox product owns workspaces, teams, members and conversations, and Takeover may be
-- installed onto its database: so (only) these four are created when absent, and their
-- columns, indexes and constraint added only where missing. A table Takeover creates gets
-- its row level security, policies and grants here; a table the inbox already has keeps its
-- own, as they were (docs/inbox-integration.md). One block does both, so that what it
-- secures is exactly what it created.
--
-- Changed after release (2026-12-04, issue 16): as first released, this migration enabled
-- RLS on all four tables, added these read policies, replaced their comments and revoked
-- every grant of anon, authenticated and service_role, adopted tables included: that
-- widened what the inbox's users could read (permissive policies are OR-ed) and broke the
-- inbox's own writes. A new install runs this migration first, so no later migration could
-- undo it in time. On a database where none of the four tables exists, the result is the
-- same catalog as before, entry for entry.
-- A database that applied the first version: docs/inbox-integration.md says how to restore
-- the inbox's own security.
do $$
declare
  -- Decided before anything is created: a table that exists already is the inbox's.
  v_created text[] := array(
    select t.name
    from unnest(array['workspaces', 'teams', 'workspace_members', 'conversations']) t (name)
    where pg_catalog.to_regclass('public.' || t.name) is null
  );
  v_table text;
begin
  if 'workspaces' = any (v_created) then
    create table public.workspaces (
      id uuid primary key default gen_random_uuid(),
      name text not null
    );
    comment on table public.workspaces is 'A support inbox; holds the default pause duration.';
  end if;
  if 'teams' = any (v_created) then
    create table public.teams (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references public.workspaces (id) on delete cascade,
      name text not null
    );
    comment on table public.teams is 'A group of attendants; may override the workspace default.';
  end if;
  if 'workspace_members' = any (v_created) then
    create table public.workspace_members (
      workspace_id uuid not null references public.workspaces (id) on delete cascade,
      user_id uuid not null,
      role text not null default 'attendant' check (role in ('attendant', 'admin')),
      primary key (workspace_id, user_id)
    );
    comment on table public.workspace_members is 'Who may act on a workspace''s conversations.';
  end if;
  if 'conversations' = any (v_created) then
    create table public.conversations (
      id uuid primary key default gen_random_uuid(),
      workspace_id uuid not null references public.workspaces (id) on delete cascade,
      team_id uuid references public.teams (id) on delete set null
    );
    comment on table public.conversations is
      'A customer conversation and whether the AI answers it.';
  end if;

  -- The inbox UI reads the tables Takeover created through Supabase, with the user's JWT.
  -- (The function's body is not indented: it is stored as written.)
  create function public.is_workspace_member(p_workspace_id uuid)
  returns boolean
  language sql stable
  -- security definer: policies on workspace_members call this, and reading that table
  -- with the caller's rights would recurse into its own policy.
  security definer
  set search_path = ''
  as $fn$
  select exists (
    select 1 from public.workspace_members m
    where m.workspace_id = p_workspace_id and m.user_id = (select auth.uid())
  )
$fn$;
  comment on function public.is_workspace_member(uuid) is
    'Whether the signed-in user (auth.uid()) is a member of the workspace; used by policies.';

  if 'workspaces' = any (v_created) then
    create policy "Members can read their workspaces" on public.workspaces
      for select to authenticated using (public.is_workspace_member(id));
  end if;
  if 'teams' = any (v_created) then
    create policy "Members can read their workspace's teams" on public.teams
      for select to authenticated using (public.is_workspace_member(workspace_id));
  end if;
  if 'workspace_members' = any (v_created) then
    create policy "Members can read their workspace's members" on public.workspace_members
      for select to authenticated using (public.is_workspace_member(workspace_id));
  end if;
  if 'conversations' = any (v_created) then
    create policy "Members can read their workspace's conversations" on public.conversations
      for select to authenticated using (public.is_workspace_member(workspace_id));
  end if;
  -- Nothing by default: members read (through the policies), the service writes.
  foreach v_table in array v_created loop
    execute format('alter table public.%I enable row level security', v_table);
    execute format('revoke all on table public.%I from anon, authenticated, service_role',
      v_table);
    execute format('grant select on table public.%I to authenticated', v_table);
    execute format('grant select, insert, update, delete on table public.%I to service_role',
      v_table);
  end loop;
end
$$;

alter table public.workspaces
  add column if not exists default_duration_minutes public.pause_duration default 30;
comment on column public.workspaces.default_duration_minutes is
  'Pre-selected pause duration in minutes; null = indefinite.';

alter table public.teams
  add column if not exists inherits_default boolean not null default true,
  add column if not exists default_duration_minutes public.pause_duration
    check (default_duration_minutes is null or not inherits_default);
comment on column public.teams.default_duration_minutes is
  'The team''s own default when inherits_default is false; null then means indefinite.';
create index if not exists teams_workspace_id_idx on public.teams (workspace_id);

create index if not exists workspace_members_user_id_idx on public.workspace_members (user_id);

alter table public.conversations
  add column if not exists ai_mode public.ai_mode not null default 'active',
  add column if not exists paused_at timestamptz,
  add column if not exists paused_until timestamptz,
  add column if not exists paused_by uuid,
  add column if not exists pause_duration_minutes integer;
-- One constraint ties the pause columns together, so no writer can leave them half-set.
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.conversations'::regclass and conname = 'conversations_pause_consistent'
  ) then
    alter table public.conversations add constraint conversations_pause_consistent check (
      case ai_mode
        when 'active' then paused_at is null and paused_until is null
          and paused_by is null and pause_duration_minutes is null
        else paused_at is not null
          and (paused_until is null) = (pause_duration_minutes is null)
          and (paused_until is null
               or paused_until - paused_at = make_interval(mins => pause_duration_minutes))
      end
    );
  end if;
end
$$;
comment on column public.conversations.paused_until is
  'When the pause ends by itself; null while active or for an indefinite pause.';
comment on column public.conversations.pause_duration_minutes is
  'The pause''s configured length (activation plus extensions); null = indefinite.';
comment on column public.conversations.paused_by is
  'The attendant who paused; null for a pause by the service on nobody''s behalf.';
create index if not exists conversations_workspace_id_idx on public.conversations (workspace_id);
create index if not exists conversations_team_id_idx on public.conversations (team_id);
-- The sweep reads only pauses with a timer, oldest deadline first.
create index if not exists conversations_paused_until_idx
  on public.conversations (paused_until) where ai_mode = 'paused' and paused_until is not null;

create table public.ai_pause_logs (
  id bigint generated always as identity primary key,
  conversation_id uuid not null references public.conversations (id),
  action public.ai_pause_action not null,
  reason text,
  duration_minutes integer,
  triggered_by text not null,
  previous_ai_mode public.ai_mode not null,
  new_ai_mode public.ai_mode not null,
  message_id text check (message_id is null or action = 'interaction_blocked'),
  created_at timestamptz not null default now(),
  check (
    case action
      when 'pause_activated' then previous_ai_mode = 'active' and new_ai_mode = 'paused'
      when 'auto_resume' then previous_ai_mode = 'paused' and new_ai_mode = 'active'
        and triggered_by = 'system'
      when 'force_resume' then previous_ai_mode = 'paused' and new_ai_mode = 'active'
      else previous_ai_mode = 'paused' and new_ai_mode = 'paused'
    end
  )
);
comment on table public.ai_pause_logs is
  'Append-only audit trail of every step of the takeover lifecycle.';
comment on column public.ai_pause_logs.duration_minutes is
  'Configured duration: of the pause for activate and resumes, the minutes added for '
  'extend_pause (null there = made indefinite).';
comment on column public.ai_pause_logs.message_id is
  'The AI agent''s message id for interaction_blocked; one row per message.';
create index ai_pause_logs_conversation_id_idx
  on public.ai_pause_logs (conversation_id, id);
create unique index ai_pause_logs_message_id_key
  on public.ai_pause_logs (conversation_id, message_id) where message_id is not null;

-- ===========================================================================
-- Append-only audit trail
-- ===========================================================================

create function public.takeover_refuse_log_change() returns trigger
language plpgsql as $$
begin
  raise exception 'ai_pause_logs is append-only: % is not allowed', tg_op
    using errcode = 'insufficient_privilege';
end
$$;
comment on function public.takeover_refuse_log_change() is
  'Refuses UPDATE, DELETE and TRUNCATE on ai_pause_logs for every role, the owner included.';

create trigger ai_pause_logs_append_only
  before update or delete on public.ai_pause_logs
  for each row execute function public.takeover_refuse_log_change();
create trigger ai_pause_logs_no_truncate
  before truncate on public.ai_pause_logs
  for each statement execute function public.takeover_refuse_log_change();

-- ===========================================================================
-- Lifecycle helpers
-- ===========================================================================

-- Functions qualify every name instead of `set search_path = ''`: a SET clause costs a
-- configuration save and restore on every call, and the gate runs before every AI message.
-- Only the security definer function below needs (and sets) a fixed search_path.

create function public.takeover_error(p_code text, p_message text, p_details jsonb default null)
returns jsonb
language sql immutable as $$
  select jsonb_build_object(
    'error', jsonb_build_object('code', p_code, 'message', p_message, 'details', p_details)
  )
$$;
comment on function public.takeover_error(text, text, jsonb) is
  'A refusal, as the value a lifecycle function returns; the edge maps code to HTTP status.';

create function public.takeover_utc(p_moment timestamptz)
returns text
-- stable, as to_char is: an immutable SQL function whose body is only stable is never
-- inlined, and is then parsed and planned again on every call (a tenth of a blocked gate).
language sql stable as $$
  -- One format for every time the functions answer, whatever the session's time zone;
  -- functions/shared/models.py writes the same.
  select to_char(p_moment at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

create function public.takeover_default_duration(p_workspace_id uuid, p_team_id uuid)
returns integer
language sql stable as $$
  select case when t.inherits_default is false then t.default_duration_minutes
              else w.default_duration_minutes end
  from public.workspaces w
  left join public.teams t on t.id = p_team_id
  where w.id = p_workspace_id
$$;
comment on function public.takeover_default_duration(uuid, uuid) is
  'The effective default of a conversation: its team''s override, else its workspace''s.';

create function public.takeover_state(p_conversation public.conversations, p_event_id bigint)
returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'conversation_id', (p_conversation).id,
    'ai_mode', (p_conversation).ai_mode,
    'paused_at', public.takeover_utc((p_conversation).paused_at),
    'paused_until', public.takeover_utc((p_conversation).paused_until),
    'paused_by', (p_conversation).paused_by,
    'duration_minutes', (p_conversation).pause_duration_minutes,
    'default_duration_minutes',
      public.takeover_default_duration((p_conversation).workspace_id, (p_conversation).team_id),
    'event_id', p_event_id
  )
$$;
comment on function public.takeover_state(public.conversations, bigint) is
  'The pause state answer: the conversation''s pause and the log row the call wrote.';

create function public.takeover_is_member(p_workspace_id uuid, p_user_id uuid)
returns boolean
language sql stable as $$
  select exists (
    select 1 from public.workspace_members m
    where m.workspace_id = p_workspace_id and m.user_id = p_user_id
  )
$$;

create function public.takeover_not_found() returns jsonb
language sql immutable as $$
  select public.takeover_error(
    'conversation_not_found', 'No conversation with this id is visible to the caller.')
$$;

create function public.takeover_end_pause(
  p_conversation public.conversations,
  p_action public.ai_pause_action,
  p_reason text,
  p_triggered_by text,
  out conversation public.conversations,
  out event_id bigint
)
language plpgsql as $$
begin
  update public.conversations c
  set ai_mode = 'active', paused_at = null, paused_until = null, paused_by = null,
      pause_duration_minutes = null
  where c.id = (p_conversation).id
  returning c.* into conversation;

  insert into public.ai_pause_logs
    (conversation_id, action, reason, duration_minutes, triggered_by, previous_ai_mode, new_ai_mode)
  values ((p_conversation).id, p_action, p_reason, (p_conversation).pause_duration_minutes,
          p_triggered_by, 'paused', 'active')
  returning id into event_id;
end
$$;
comment on function public.takeover_end_pause(public.conversations, public.ai_pause_action, text, text) is
  'Ends a pause (auto_resume or force_resume) and writes its log row; the caller holds the lock.';

create function public.takeover_claim(
  p_conversation_id uuid,
  p_caller uuid,
  out conversation public.conversations,
  out expiry_event_id bigint
)
language plpgsql as $$
declare
  v_ended record;
begin
  select * into conversation from public.conversations c
  where c.id = p_conversation_id
  for update;

  if conversation.id is null
     or (p_caller is not null and not public.takeover_is_member(conversation.workspace_id, p_caller))
  then
    conversation := null;
    return;
  end if;

  -- Lazy expiry: a pause past its timer is over everywhere at once, whatever the cron's lag.
  if conversation.ai_mode = 'paused' and conversation.paused_until <= now() then
    v_ended := public.takeover_end_pause(conversation, 'auto_resume', 'timer_expired', 'system');
    conversation := v_ended.conversation;
    expiry_event_id := v_ended.event_id;
  end if;
end
$$;
comment on function public.takeover_claim(uuid, uuid) is
  'Locks a conversation the caller may see (null caller: the service), and ends an expired '
  'pause first. Returns a null conversation when it does not exist or is not visible.';

create function public.takeover_block(
  p_conversation public.conversations,
  p_message_id text,
  p_agent_id text,
  p_reason text
)
returns bigint
language plpgsql as $$
declare
  v_event_id bigint;
begin
  insert into public.ai_pause_logs
    (conversation_id, action, reason, duration_minutes, triggered_by, previous_ai_mode,
     new_ai_mode, message_id)
  values ((p_conversation).id, 'interaction_blocked', p_reason,
          (p_conversation).pause_duration_minutes, p_agent_id, 'paused', 'paused', p_message_id)
  on conflict (conversation_id, message_id) where message_id is not null do nothing
  returning id into v_event_id;

  if v_event_id is null then
    -- The same message was blocked before: answer with its row, write nothing.
    select l.id into v_event_id from public.ai_pause_logs l
    where l.conversation_id = (p_conversation).id and l.message_id = p_message_id;
  end if;
  return v_event_id;
end
$$;
comment on function public.takeover_block(public.conversations, text, text, text) is
  'Records an AI message refused during a pause, once per message_id.';

create function public.takeover_refuse_actor(
  p_conversation public.conversations,
  p_triggered_by uuid
)
returns jsonb
language sql stable as $$
  -- A conversation the caller may not see, or a service acting for a non-member.
  select case
    when (p_conversation).id is null then public.takeover_not_found()
    when p_triggered_by is not null
         and not public.takeover_is_member((p_conversation).workspace_id, p_triggered_by)
      then public.takeover_error('triggered_by_not_member',
        'triggered_by must be a member of the conversation''s workspace.')
  end
$$;
comment on function public.takeover_refuse_actor(public.conversations, uuid) is
  'Why an attendant transition may not go ahead on this claimed conversation, or null.';

-- ===========================================================================
-- Transitions (one per contract function)
-- ===========================================================================

create function public.takeover_activate_transition(
  p_conversation_id uuid,
  p_caller uuid,
  p_duration_minutes integer,
  p_use_default boolean,
  p_reason text,
  p_triggered_by uuid
)
returns jsonb
language plpgsql as $$
declare
  v_refusal jsonb;
  v_conversation public.conversations;
  v_actor uuid := coalesce(p_caller, p_triggered_by);
  v_duration integer;
  v_event_id bigint;
begin
  v_conversation := (public.takeover_claim(p_conversation_id, p_caller)).conversation;
  v_refusal := public.takeover_refuse_actor(v_conversation, p_triggered_by);
  if v_refusal is not null then
    return v_refusal;
  end if;
  if v_conversation.ai_mode = 'paused' then
    return public.takeover_error('already_paused', 'The conversation is already paused.',
      public.takeover_state(v_conversation, null));
  end if;

  v_duration := case when p_use_default
    then public.takeover_default_duration(v_conversation.workspace_id, v_conversation.team_id)
    else p_duration_minutes::public.pause_duration end;

  update public.conversations c
  set ai_mode = 'paused', paused_at = now(),
      paused_until = now() + make_interval(mins => v_duration),
      paused_by = v_actor, pause_duration_minutes = v_duration
  where c.id = p_conversation_id
  returning c.* into v_conversation;

  insert into public.ai_pause_logs
    (conversation_id, action, reason, duration_minutes, triggered_by, previous_ai_mode, new_ai_mode)
  values (p_conversation_id, 'pause_activated', p_reason, v_duration,
          coalesce(v_actor::text, 'service'), 'active', 'paused')
  returning id into v_event_id;

  return public.takeover_state(v_conversation, v_event_id);
end
$$;
comment on function public.takeover_activate_transition(uuid, uuid, integer, boolean, text, uuid) is
  'pause-activate: active -> paused for a duration (p_use_default: the effective default). '
  'p_caller is the attendant (null: the service); p_triggered_by whom the service acts for.';

create function public.takeover_extend_transition(
  p_conversation_id uuid,
  p_caller uuid,
  p_duration_minutes integer,
  p_reason text,
  p_triggered_by uuid
)
returns jsonb
language plpgsql as $$
declare
  v_refusal jsonb;
  v_conversation public.conversations;
  v_actor uuid := coalesce(p_caller, p_triggered_by);
  v_added public.pause_duration := p_duration_minutes;
  v_event_id bigint;
begin
  v_conversation := (public.takeover_claim(p_conversation_id, p_caller)).conversation;
  v_refusal := public.takeover_refuse_actor(v_conversation, p_triggered_by);
  if v_refusal is not null then
    return v_refusal;
  end if;
  if v_conversation.ai_mode = 'active' then
    return public.takeover_error('not_paused', 'The conversation is not paused.',
      public.takeover_state(v_conversation, null));
  end if;
  if v_conversation.paused_until is null then
    return public.takeover_error('already_indefinite',
      'The pause is indefinite; there is no timer to extend.',
      public.takeover_state(v_conversation, null));
  end if;

  update public.conversations c
  set paused_until = c.paused_until + make_interval(mins => v_added),
      pause_duration_minutes = c.pause_duration_minutes + v_added
  where c.id = p_conversation_id
  returning c.* into v_conversation;
  -- A null v_added made both null above: the pause is now indefinite.

  insert into public.ai_pause_logs
    (conversation_id, action, reason, duration_minutes, triggered_by, previous_ai_mode, new_ai_mode)
  values (p_conversation_id, 'extend_pause', p_reason, v_added,
          coalesce(v_actor::text, 'service'), 'paused', 'paused')
  returning id into v_event_id;

  return public.takeover_state(v_conversation, v_event_id);
end
$$;
comment on function public.takeover_extend_transition(uuid, uuid, integer, text, uuid) is
  'pause-extend: adds minutes to paused_until, or makes the pause indefinite (null).';

create function public.takeover_resume_transition(
  p_conversation_id uuid,
  p_caller uuid,
  p_reason text,
  p_triggered_by uuid
)
returns jsonb
language plpgsql as $$
declare
  v_refusal jsonb;
  v_conversation public.conversations;
  v_ended record;
  v_event_id bigint;
begin
  v_conversation := (public.takeover_claim(p_conversation_id, p_caller)).conversation;
  v_refusal := public.takeover_refuse_actor(v_conversation, p_triggered_by);
  if v_refusal is not null then
    return v_refusal;
  end if;
  if v_conversation.ai_mode = 'active' then
    return public.takeover_error('not_paused', 'The conversation is not paused.',
      public.takeover_state(v_conversation, null));
  end if;

  v_ended := public.takeover_end_pause(v_conversation, 'force_resume', p_reason,
    coalesce(coalesce(p_caller, p_triggered_by)::text, 'service'));
  v_conversation := v_ended.conversation;
  v_event_id := v_ended.event_id;

  return public.takeover_state(v_conversation, v_event_id);
end
$$;
comment on function public.takeover_resume_transition(uuid, uuid, text, uuid) is
  'pause-resume: the attendant hands the conversation back to the AI before the timer.';

-- ===========================================================================
-- Idempotency keys: a retried click gets the first answer and writes nothing new
-- ===========================================================================

create table public.idempotency_keys (
  scope text not null,
  key text not null,
  request_hash text not null,
  answer jsonb,
  created_at timestamptz not null default now(),
  primary key (scope, key)
);
comment on table public.idempotency_keys is
  'Answers of pause-activate/extend/resume by Idempotency-Key, per caller, for 24 hours.';
comment on column public.idempotency_keys.scope is 'Whose key: the attendant''s id, or service.';
comment on column public.idempotency_keys.request_hash is
  'Hash of the function and the parsed body: the same key with another request is refused.';
create index idempotency_keys_created_at_idx
  on public.idempotency_keys (scope, created_at);
alter table public.idempotency_keys enable row level security;

create function public.takeover_recall(
  p_caller uuid,
  p_key text,
  p_request_hash text,
  out scope text,
  out key text,
  out answer jsonb
)
language plpgsql as $$
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
    where k.scope = takeover_recall.scope and k.created_at < now() - interval '24 hours';
    return;
  end if;

  select * into v_stored from public.idempotency_keys k
  where k.scope = takeover_recall.scope and k.key = p_key
  for update;
  if v_stored.created_at < now() - interval '24 hours' then
    update public.idempotency_keys k
    set request_hash = p_request_hash, answer = null, created_at = now()
    where k.scope = takeover_recall.scope and k.key = p_key;
  elsif v_stored.request_hash <> p_request_hash then
    answer := public.takeover_error('idempotency_key_reused',
      'This Idempotency-Key was already used with a different request.');
  else
    answer := v_stored.answer;
  end if;
end
$$;
comment on function public.takeover_recall(uuid, text, text) is
  'The answer already given for this caller''s Idempotency-Key (or a refusal when the key '
  'came with another request); a null answer means: go ahead, the key is now taken.';

create function public.takeover_remember(
  p_scope text,
  p_key text,
  p_answer jsonb
)
returns jsonb
language plpgsql as $$
begin
  if p_key is not null then
    update public.idempotency_keys k set answer = p_answer
    where k.scope = p_scope and k.key = p_key and k.answer is null;
  end if;
  return p_answer;
end
$$;
comment on function public.takeover_remember(text, text, jsonb) is
  'Keeps the answer under the key taken by takeover_recall, in the same transaction.';

create function public.takeover_activate(
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
language sql as $$
  -- coalesce evaluates the transition only when no answer was recalled.
  select public.takeover_remember(k.scope, k.key, coalesce(k.answer,
    public.takeover_activate_transition(p_conversation_id, p_caller, p_duration_minutes,
      p_use_default, p_reason, p_triggered_by)))
  from public.takeover_recall(p_caller, p_idempotency_key, p_request_hash) k
$$;
comment on function public.takeover_activate(uuid, uuid, integer, boolean, text, uuid, text, text) is
  'pause-activate, idempotent by key.';

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
language sql as $$
  select public.takeover_remember(k.scope, k.key, coalesce(k.answer,
    public.takeover_extend_transition(p_conversation_id, p_caller, p_duration_minutes, p_reason,
      p_triggered_by)))
  from public.takeover_recall(p_caller, p_idempotency_key, p_request_hash) k
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
language sql as $$
  select public.takeover_remember(k.scope, k.key, coalesce(k.answer,
    public.takeover_resume_transition(p_conversation_id, p_caller, p_reason, p_triggered_by)))
  from public.takeover_recall(p_caller, p_idempotency_key, p_request_hash) k
$$;
comment on function public.takeover_resume(uuid, uuid, text, uuid, text, text) is
  'pause-resume, idempotent by key.';

create function public.takeover_status(p_conversation_id uuid, p_caller uuid)
returns jsonb
language plpgsql as $$
declare
  v_conversation public.conversations;
  v_claim record;
  v_event_id bigint;
begin
  select * into v_conversation from public.conversations c where c.id = p_conversation_id;
  if v_conversation.id is null
     or (p_caller is not null and not public.takeover_is_member(v_conversation.workspace_id, p_caller))
  then
    return public.takeover_not_found();
  end if;
  if v_conversation.ai_mode = 'paused' and v_conversation.paused_until <= now() then
    v_claim := public.takeover_claim(p_conversation_id, p_caller);
    v_conversation := v_claim.conversation;
    v_event_id := v_claim.expiry_event_id;
  end if;
  return public.takeover_state(v_conversation, v_event_id);
end
$$;
comment on function public.takeover_status(uuid, uuid) is
  'pause-status: reads without a lock; takes one only to end an expired pause '
  '(event_id is then that auto_resume row).';

create function public.takeover_gate(
  p_conversation_id uuid,
  p_message_id text,
  p_agent_id text
)
returns jsonb
language plpgsql as $$
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
    return public.takeover_not_found();
  end if;
  -- A message refused once stays refused: sending it after the pause would answer the
  -- customer twice. The answer still tells the truth about the pause: one past its timer
  -- is ended first.
  if v_blocked_before is not null then
    if v_ai_mode = 'paused' and v_paused_until <= now() then
      v_conversation := (public.takeover_claim(p_conversation_id, null)).conversation;
      v_ai_mode := v_conversation.ai_mode;
      v_paused_until := v_conversation.paused_until;
    end if;
    return jsonb_build_object('allowed', false, 'ai_mode', v_ai_mode,
      'paused_until', public.takeover_utc(v_paused_until), 'event_id', v_blocked_before);
  end if;

  if v_ai_mode = 'paused' then
    -- Lock, so a resume cannot commit between this check and the log row. This is
    -- takeover_claim and takeover_block written out (each call of a plpgsql function with a
    -- row argument costs), with the expiry still left to takeover_claim.
    select * into v_conversation from public.conversations c
    where c.id = p_conversation_id
    for update;
    if v_conversation.ai_mode = 'paused' and v_conversation.paused_until <= now() then
      v_conversation := (public.takeover_claim(p_conversation_id, null)).conversation;
    end if;
    if v_conversation.ai_mode = 'paused' then
      insert into public.ai_pause_logs
        (conversation_id, action, reason, duration_minutes, triggered_by, previous_ai_mode,
         new_ai_mode, message_id)
      values (p_conversation_id, 'interaction_blocked', null,
              v_conversation.pause_duration_minutes, p_agent_id, 'paused', 'paused',
              p_message_id)
      on conflict (conversation_id, message_id) where message_id is not null do nothing
      returning id into v_event_id;
      if v_event_id is null then
        -- The same message was blocked meanwhile: answer with its row, write nothing.
        select l.id into v_event_id from public.ai_pause_logs l
        where l.conversation_id = p_conversation_id and l.message_id = p_message_id;
      end if;
      return jsonb_build_object('allowed', false, 'ai_mode', 'paused',
        'paused_until', public.takeover_utc(v_conversation.paused_until), 'event_id', v_event_id);
    end if;
  end if;

  -- A constant, folded once when the statement is planned.
  return '{"allowed": true, "ai_mode": "active", "paused_until": null, "event_id": null}'::jsonb;
end
$$;
comment on function public.takeover_gate(uuid, text, text) is
  'interaction-gate: may the AI agent send? Logs interaction_blocked (once per message_id) '
  'while paused; never blocks past the timer.';

create function public.takeover_log_blocked(
  p_conversation_id uuid,
  p_message_id text,
  p_agent_id text,
  p_reason text
)
returns jsonb
language plpgsql as $$
declare
  v_conversation public.conversations;
  v_event_id bigint;
begin
  v_conversation := (public.takeover_claim(p_conversation_id, null)).conversation;
  if v_conversation.id is null then
    return public.takeover_not_found();
  end if;

  select l.id into v_event_id from public.ai_pause_logs l
  where l.conversation_id = p_conversation_id and l.message_id = p_message_id;
  if v_event_id is null then
    if v_conversation.ai_mode = 'active' then
      return public.takeover_error('not_paused', 'The conversation is not paused.',
        public.takeover_state(v_conversation, null));
    end if;
    v_event_id := public.takeover_block(v_conversation, p_message_id, p_agent_id, p_reason);
  end if;
  return jsonb_build_object('event_id', v_event_id);
end
$$;
comment on function public.takeover_log_blocked(uuid, text, text, text) is
  'pause-logger POST: an AI send the agent refused by itself, during a pause.';

create function public.takeover_sweep(p_limit integer)
returns jsonb
-- plpgsql rather than sql: it keeps the statement's plan, so the cron's frequent sweeps
-- that find nothing skip parsing and planning it each time.
language plpgsql as $$
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
language plpgsql as $$
declare
  v_page jsonb;
  v_count integer;
begin
  if p_conversation_id is not null then
    -- Reading one conversation's trail touches it: an expired pause is ended first.
    if not exists (
      select 1 from public.conversations c
      where c.id = p_conversation_id
        and (p_caller is null or public.takeover_is_member(c.workspace_id, p_caller))
    ) then
      return public.takeover_not_found();
    end if;
    if exists (
      select 1 from public.conversations c
      where c.id = p_conversation_id and c.ai_mode = 'paused' and c.paused_until <= now()
    ) then
      perform public.takeover_claim(p_conversation_id, p_caller);
    end if;
  else
    -- Every pause the caller may see that is over is ended first (the partial index on
    -- paused_until finds them), so the trail never shows a finished pause as running.
    perform public.takeover_claim(c.id, p_caller)
    from public.conversations c
    where c.ai_mode = 'paused' and c.paused_until is not null and c.paused_until <= now()
      and (p_caller is null or public.takeover_is_member(c.workspace_id, p_caller));
  end if;

  select coalesce(jsonb_agg(to_jsonb(page) order by page.id), '[]'::jsonb), count(*)
  into v_page, v_count
  from (
    select l.id, l.conversation_id, l.action, l.reason, l.duration_minutes, l.triggered_by,
           l.previous_ai_mode, l.new_ai_mode, l.message_id, l.created_at
    from public.ai_pause_logs l
    where (p_conversation_id is null or l.conversation_id = p_conversation_id)
      and (p_caller is null or exists (
        select 1 from public.conversations c
        join public.workspace_members m on m.workspace_id = c.workspace_id
        where c.id = l.conversation_id and m.user_id = p_caller))
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

create function public.takeover_settings(p_caller uuid, p_workspace_id uuid)
returns jsonb
language sql stable as $$
  select case
    when w.id is null or (p_caller is not null and not public.takeover_is_member(w.id, p_caller))
      then public.takeover_error('workspace_not_found',
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

create function public.takeover_update_settings(
  p_caller uuid,
  p_workspace_id uuid,
  p_team_id uuid,
  p_default_duration_minutes integer,
  p_inherit boolean
)
returns jsonb
language plpgsql as $$
declare
  v_workspace_id uuid := p_workspace_id;
  v_role text;
begin
  if p_team_id is not null then
    select t.workspace_id into v_workspace_id from public.teams t where t.id = p_team_id
    for update;
    if v_workspace_id is null then
      return public.takeover_error('team_not_found', 'No team with this id is visible to the caller.');
    end if;
  end if;

  if p_caller is not null then
    select m.role into v_role from public.workspace_members m
    where m.workspace_id = v_workspace_id and m.user_id = p_caller;
    if v_role is null then
      return case when p_team_id is null
        then public.takeover_error('workspace_not_found', 'No workspace with this id is visible to the caller.')
        else public.takeover_error('team_not_found', 'No team with this id is visible to the caller.')
      end;
    end if;
    if v_role <> 'admin' then
      return public.takeover_error('admin_only', 'Only a workspace admin may change pause settings.');
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
      return public.takeover_error('workspace_not_found', 'No workspace with this id is visible to the caller.');
    end if;
  end if;

  return public.takeover_settings(null, v_workspace_id);
end
$$;
comment on function public.takeover_update_settings(uuid, uuid, uuid, integer, boolean) is
  'pause-settings PUT: set the workspace default, or a team''s override (or inherit again).';

-- ===========================================================================
-- Row level security: the inbox UI reads through Supabase with the user's JWT
-- ===========================================================================

-- (The inbox's four tables get theirs where they are created, above, and only then.)
alter table public.ai_pause_logs enable row level security;

create policy "Members can read their workspace's pause logs" on public.ai_pause_logs
  for select to authenticated using (
    exists (
      select 1 from public.conversations c
      where c.id = conversation_id and public.is_workspace_member(c.workspace_id)
    )
  );

-- ===========================================================================
-- Grants: nothing by default; each role gets what it needs
-- ===========================================================================

revoke all on table public.ai_pause_logs from anon, authenticated, service_role;
grant select on table public.ai_pause_logs to authenticated;
grant select, insert on table public.ai_pause_logs to service_role;
-- Supabase's default privileges would let the API roles draw (and waste) log ids.
revoke all on sequence public.ai_pause_logs_id_seq from anon, authenticated;
revoke all on table public.idempotency_keys from anon, authenticated, service_role;
grant select, insert, update, delete on table public.idempotency_keys to service_role;

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
