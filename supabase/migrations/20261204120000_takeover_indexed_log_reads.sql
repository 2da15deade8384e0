-- Heavy reads that cost their rows, and the audit export's batch under a name of its own.
--
-- - pause-logger GET without a conversation, for a member: each of the member's workspaces
--   read from the (workspace_id, created_at) index, oldest first by (created_at, id), instead
--   of the whole log's primary key (a 20-row workspace in a 1M-row log read 1M rows a page);
--   the cursor is still the id of a page's last row (docs/api.md);
-- - pause-report reads the window's rows twice straight from the index (counted three ways
--   in one pass, then the pauses' lengths) instead of storing them and reading them four
--   times;
-- - the audit export: a batch is "reserved" (the webhooks' claim and the lifecycle's claim
--   are other things), and its rows are read by a function, takeover_audit_export_rows,
--   instead of a query in Python.

-- ===========================================================================
-- pause-logger GET
-- ===========================================================================

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
    select coalesce(jsonb_agg(to_jsonb(page) order by page.created_at, page.id), '[]'::jsonb),
           count(*)
    into v_page, v_count
    from (
      select l.*
      from public.workspace_members m
      cross join lateral (
        select l.id, l.conversation_id, l.action, l.reason, l.duration_minutes,
               l.triggered_by, l.previous_ai_mode, l.new_ai_mode, l.message_id, l.created_at
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

-- ===========================================================================
-- pause-report
-- ===========================================================================

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
-- The audit export: reserve, rows, commit, release
-- ===========================================================================

alter table takeover_private.audit_export_state rename column claim_txid to batch_end_txid;
alter table takeover_private.audit_export_state rename column claim_id to batch_end_id;
alter table takeover_private.audit_export_state rename column claim_token to batch_token;
alter table takeover_private.audit_export_state
  rename column claim_expires_at to batch_expires_at;
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
  -- Every column of the row but txid (the export's own bookkeeping), in the table's order,
  -- created_at in UTC with microseconds whatever the session's time zone: a repeated batch
  -- gives the same bytes. (row_to_json of the columns costs half of to_jsonb(l) - 'txid';
  -- a test compares each line with every column of the table, so a new column is not
  -- missed.) In object order: by workspace, UTC day, id.
  return query
  select l.id, (
    select pg_catalog.row_to_json(r)::text from (
      select l.id, l.conversation_id, l.action, l.reason, l.duration_minutes, l.triggered_by,
             l.previous_ai_mode, l.new_ai_mode, l.message_id,
             pg_catalog.to_char(l.created_at at time zone 'UTC',
                                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at,
             l.workspace_id
    ) r)
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

revoke all on function public.takeover_audit_export_reserve(integer, integer),
  public.takeover_audit_export_rows(pg_snapshot, pg_snapshot, xid8, bigint, xid8, bigint),
  public.takeover_audit_export_commit(uuid), public.takeover_audit_export_release(uuid)
  from public, anon, authenticated;
grant execute on function public.takeover_audit_export_reserve(integer, integer),
  public.takeover_audit_export_rows(pg_snapshot, pg_snapshot, xid8, bigint, xid8, bigint),
  public.takeover_audit_export_commit(uuid), public.takeover_audit_export_release(uuid)
  to service_role;
