-- A log row carries its workspace (20261201130000): who may read it is decided from that,
-- not by joining conversations for every row, in the audit trail's function and in the
-- policy the inbox UI reads through.

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

  -- One row more than asked for tells whether another page exists.
  if v_count > p_limit then
    v_page := v_page - p_limit;
    return jsonb_build_object('events', v_page,
      'next_cursor', (v_page -> (p_limit - 1) ->> 'id'));
  end if;
  return jsonb_build_object('events', v_page, 'next_cursor', null);
end
$$;

drop policy "Members can read their workspace's pause logs" on public.ai_pause_logs;
create policy "Members can read their workspace's pause logs" on public.ai_pause_logs
  for select to authenticated using (public.is_workspace_member(workspace_id));
