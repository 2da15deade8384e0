-- Takeover's schema as it is after every migration: the state, read top to bottom.
--
-- supabase/schemas/ holds the state (Supabase CLI declarative schemas, applied in file-name
-- order: 10 types and tables, 20 the lifecycle functions, 30 policies and table grants, 40
-- webhooks, 50 the report, 60 the audit export, 90 who may execute which function);
-- supabase/migrations/ holds how a database gets there, one migration per change, each
-- applied once. Every later change is a new migration plus the same edit here:
-- tests/test_migrations.py proves that the migrations and these files give the same catalog.
--
-- These files have no re-run guards, with two exceptions: the inbox product's tables (its
-- database may already have them: created, and secured, only when absent) and the
-- Supabase-only realtime publication.

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
alter table public.workspaces
  add column if not exists pause_on_human_reply boolean not null default true,
  add column if not exists keep_blocked_drafts boolean not null default true;
comment on column public.workspaces.pause_on_human_reply is
  'Whether a human''s reply (human-reply) pauses the AI, unless the team says otherwise.';
comment on column public.workspaces.keep_blocked_drafts is
  'Whether the gate keeps the message it refused (blocked_drafts) for the attendant to reuse.';

alter table public.teams
  add column if not exists inherits_default boolean not null default true,
  add column if not exists default_duration_minutes public.pause_duration
    check (default_duration_minutes is null or not inherits_default);
comment on column public.teams.default_duration_minutes is
  'The team''s own default when inherits_default is false; null then means indefinite.';
alter table public.teams add column if not exists pause_on_human_reply boolean;
comment on column public.teams.pause_on_human_reply is
  'The team''s own pause_on_human_reply; null inherits the workspace''s.';
create index teams_workspace_id_idx on public.teams (workspace_id);

create index workspace_members_user_id_idx on public.workspace_members (user_id);

alter table public.conversations
  add column if not exists ai_mode public.ai_mode not null default 'active',
  add column if not exists paused_at timestamptz,
  add column if not exists paused_until timestamptz,
  add column if not exists paused_by uuid,
  add column if not exists pause_duration_minutes integer;
-- One constraint ties the pause columns together, so no writer can leave them half-set.
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
comment on column public.conversations.paused_until is
  'When the pause ends by itself; null while active or for an indefinite pause.';
comment on column public.conversations.pause_duration_minutes is
  'The pause''s configured length (activation plus extensions); null = indefinite.';
comment on column public.conversations.paused_by is
  'The attendant who paused; null for a pause by the service on nobody''s behalf.';
create index conversations_workspace_id_idx on public.conversations (workspace_id);
create index conversations_team_id_idx on public.conversations (team_id);
-- The sweep reads only pauses with a timer, oldest deadline first.
create index conversations_paused_until_idx
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
  workspace_id uuid not null,
  txid xid8 not null default pg_catalog.pg_current_xact_id(),
  paused_until timestamptz,
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
  'extend_pause (null there = made indefinite); for an extend_pause by a human''s reply '
  '(reason human_replied), the default the pause runs for from that reply.';
comment on column public.ai_pause_logs.message_id is
  'The AI agent''s message id for interaction_blocked; one row per message.';
comment on column public.ai_pause_logs.workspace_id is
  'The conversation''s workspace when the row was written; set on insert by a trigger.';
comment on column public.ai_pause_logs.txid is
  'The transaction that wrote the row (pg_current_xact_id()): the audit export exports the '
  'rows of each transaction once it has ended.';
comment on column public.ai_pause_logs.paused_until is
  'When the pause ends after this event (null: indefinite, or the AI is back); set on insert '
  'by a trigger. Null on rows written before it was recorded.';
create index ai_pause_logs_conversation_id_idx
  on public.ai_pause_logs (conversation_id, id);
-- The audit export's keyset, in (txid, id) order: a batch is found without reading what
-- is behind the cursor.
create index ai_pause_logs_txid_id_idx on public.ai_pause_logs (txid, id);
-- The index on (workspace_id, created_at) that makes a workspace's log cost that
-- workspace's rows is the report's covering index, in 50_report.sql.
create unique index ai_pause_logs_message_id_key
  on public.ai_pause_logs (conversation_id, message_id) where message_id is not null;

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

-- Idempotency keys: a retried click gets the first answer and writes nothing new.
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

-- ===========================================================================
-- The private schema: helpers that are not API (no API role may use or execute them)
-- ===========================================================================

create schema takeover_private;
comment on schema takeover_private is
  'Takeover''s internal helpers: called by the API functions in public, by no API role.';

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

-- ===========================================================================
-- Append-only audit trail
-- ===========================================================================

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

create trigger ai_pause_logs_append_only
  before update or delete on public.ai_pause_logs
  for each row execute function takeover_private.refuse_log_change();
create trigger ai_pause_logs_no_truncate
  before truncate on public.ai_pause_logs
  for each statement execute function takeover_private.refuse_log_change();

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

create trigger ai_pause_logs_stamp
  before insert on public.ai_pause_logs
  for each row execute function takeover_private.stamp_log_row();

-- ===========================================================================
-- The pause columns: written through Takeover's functions only
-- ===========================================================================

-- Grants cannot do it: an adopted conversations table keeps the inbox's own, which may let
-- its users update a conversation. The trigger keeps every change of a pause in the log.
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
