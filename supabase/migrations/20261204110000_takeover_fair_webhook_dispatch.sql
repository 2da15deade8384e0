-- Fair webhook dispatch across workspaces and endpoints (issue 17, finding 1): one
-- workspace's endpoints that never answer held every lease a run took and used its budget
-- up, so other workspaces' endpoints waited for minutes.
-- - takeover_webhook_claim becomes takeover_webhook_lease: the workspaces take turns by their
--   oldest due delivery, at most p_per_workspace leases of one workspace at once (one lease
--   call at a time, so the cap holds across dispatchers), and up to p_endpoints endpoints
--   (the dispatcher's free threads) rather than a share of a delivery budget; the expiry
--   notices move to takeover_private.webhook_queue_notices;
-- - an endpoint that gives no answer backs off alone (unanswered_attempts, backoff_until,
--   set by takeover_webhook_record);
-- - the lease finds each endpoint's oldest due delivery on (endpoint_id, next_attempt_at).
-- supabase/schemas/40_webhooks.sql describes the same state.

alter table public.webhook_endpoints
  add column unanswered_attempts integer not null default 0,
  add column backoff_until timestamptz;

drop index public.webhook_deliveries_due_idx;
create index webhook_deliveries_endpoint_due_idx
  on public.webhook_deliveries (endpoint_id, next_attempt_at) where status = 'pending';

-- Its comments point at docs/api.md now.
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
revoke all on function takeover_private.webhook_queue_notices(double precision) from public;

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
revoke all on function
  public.takeover_webhook_lease(integer, integer, integer, double precision, double precision, uuid[])
  from public, anon, authenticated;
grant execute on function
  public.takeover_webhook_lease(integer, integer, integer, double precision, double precision, uuid[])
  to service_role;

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
