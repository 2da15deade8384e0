-- Visibility first, lock second (found by an adversarial probe):
-- - a non-member's transition on another tenant's conversation waited on that row's lock
--   (503 while someone held it) but got 404 at once for an unknown id: an existence oracle,
--   and a way to hold up another tenant's row;
-- - a stored Idempotency-Key answer was replayed after its attendant left the workspace.
-- takeover_private.visible reads membership without a lock; claim and the three idempotent
-- transitions ask it before they lock a row or recall a key.

create or replace function takeover_private.visible(p_conversation_id uuid, p_caller uuid)
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
revoke all on function takeover_private.visible(uuid, uuid) from public, anon, authenticated, service_role;

create or replace function takeover_private.claim(
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

