-- Webhooks: endpoints, the outbox and its trigger on ai_pause_logs, deliveries, their table
-- grants, and the webhook-endpoints and webhook-dispatch functions.

-- Webhooks: workspaces subscribe HTTP endpoints to lifecycle events (Standard Webhooks).
--
-- A transactional outbox: a trigger on ai_pause_logs queues each row some endpoint wants in
-- webhook_outbox, in the transaction that writes the log row, so a committed row is never
-- left undelivered and a rolled-back one is never sent. The dispatcher fans the outbox out
-- into one webhook_deliveries row per subscribed endpoint. The dispatcher
-- (functions/webhooks/dispatcher.py) leases endpoints with due deliveries, the workspaces
-- taking turns, sends them, and records the outcome; an endpoint that gives no answer backs
-- off alone.
--
-- ===========================================================================
-- Tables
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

create table public.webhook_endpoints (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  url text not null check (char_length(url) <= 2048),
  -- null: every event type.
  event_types text[] check (event_types <@ public.takeover_webhook_event_types()),
  enabled boolean not null default true,
  -- whsec_ + base64 of the signing key; shown to the caller only when created or rotated.
  secret text not null check (secret like 'whsec\_%'),
  created_at timestamptz not null default now(),
  -- A dispatcher works on one endpoint at a time: it holds the endpoint until leased_until,
  -- so each endpoint's events are first attempted in log order, once.
  leased_until timestamptz,
  lease_token uuid,
  -- An endpoint that gives no answer backs off alone: it is not leased before backoff_until,
  -- 5 s after its first unanswered attempt in a row, doubling with each, at most 5 minutes.
  unanswered_attempts integer not null default 0,
  backoff_until timestamptz
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
  -- sent only while this is still the conversation's end (docs/api.md).
  conversation_id uuid,
  pause_end timestamptz,
  check ((log_id is null) <> (payload is null)),
  unique (endpoint_id, webhook_id)
);
comment on table public.webhook_deliveries is
  'The outbox: one row per event and subscribed endpoint, retried until a 2xx or failed.';
-- The lease looks up each endpoint's oldest due delivery; the batch takes them in log order.
create index webhook_deliveries_endpoint_due_idx
  on public.webhook_deliveries (endpoint_id, next_attempt_at) where status = 'pending';
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
-- The outbox trigger runs as whoever writes the log row: the owner of the lifecycle
-- functions (security definer), the log's only writers.

-- ===========================================================================
-- The outbox trigger
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
-- Helpers
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

-- ===========================================================================
-- webhook-endpoints
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
-- webhook-dispatch
-- ===========================================================================

create function takeover_private.webhook_batch(p_endpoint_id uuid, p_limit integer)
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
