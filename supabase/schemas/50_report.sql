-- pause-report: the covering index on the log and the report function (its grant:
-- 90_function_grants.sql).

-- ===========================================================================
-- Indexes
-- ===========================================================================

-- The report reads one workspace's rows in a window. (workspace_id, created_at) finds them,
-- but in a log shared by many workspaces each row is on a page of its own, and fetching
-- those pages made a report in a 1M-row log 1.8 times slower than the same workspace alone
-- (bench/report.py). Carrying the columns the report reads lets it answer from the index
-- alone (an index-only scan; autovacuum keeps an append-only table's pages all-visible).
-- Every other reader of one workspace's log uses it the same way.
create index ai_pause_logs_workspace_created_at_covering_idx
  on public.ai_pause_logs (workspace_id, created_at)
  include (conversation_id, id, action, triggered_by, duration_minutes);
-- The pauses a human's reply caused (pauses_by_source): the covering index above has no
-- reason, and carrying it there would make every entry wider; these rows alone, counted
-- from their own index.
create index ai_pause_logs_human_reply_pauses_idx
  on public.ai_pause_logs (workspace_id, created_at)
  include (conversation_id, triggered_by)
  where action = 'pause_activated' and reason = 'human_replied';

-- ===========================================================================
-- Functions
-- ===========================================================================

create function public.takeover_report(
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
