-- Four weeks of takeovers in the demo workspace (Acme Support), for the console's Reports
-- view. `make run` loads it once, right after seed.sql, into the database it has just
-- seeded; the tests' databases do not get it (they count the log's rows from empty).
--
-- Written as the owner with created_at in the past, in time order. Every pause here has
-- ended, so the conversations' current state (active, as seed.sql leaves them) agrees with
-- their log. Deterministic: the same rows on every fresh `make run`, relative to today.
do $$
declare
  v_conversations uuid[] := array[
    '7a1c0000-0000-4000-8000-0000000000c1', '7a1c0000-0000-4000-8000-0000000000c2',
    '7a1c0000-0000-4000-8000-0000000000c3', '7a1c0000-0000-4000-8000-0000000000c4',
    '7a1c0000-0000-4000-8000-0000000000c5']::uuid[];
  v_people text[] := array[
    '7a1c0000-0000-4000-8000-0000000000b1', '7a1c0000-0000-4000-8000-0000000000b2'];
  v_lengths integer[] := array[6, 9, 12, 18, 25, 35, 48, 70, 95, 130];
  v_durations integer[] := array[15, 30, 30, 60];
  v_today timestamptz := date_trunc('day', now() at time zone 'UTC') at time zone 'UTC';
  v_conversation uuid;
  v_by text;
  v_start timestamptz;
  v_duration integer;
  v_length integer;
  v_extended boolean;
  v_source integer;
begin
  for v_day in reverse 28..1 loop
    -- Busier on weekdays: 1 to 5 takeovers a day.
    for v_k in 0..(v_day * 7 + 3) % (case when extract(isodow from v_today - make_interval(days => v_day)) > 5 then 2 else 5 end) loop
      v_conversation := v_conversations[1 + (v_day * 3 + v_k * 2) % 5];
      v_by := v_people[1 + (v_day + v_k) % 3 % 2];
      -- Two hours apart: a conversation's pauses never overlap.
      v_start := v_today - make_interval(days => v_day)
        + make_interval(hours => 8 + 2 * v_k, mins => (v_day * 13 + v_k * 7) % 50);
      v_duration := v_durations[1 + (v_day + 2 * v_k) % 4];
      v_length := v_lengths[1 + (v_day * 5 + v_k * 3) % 10];
      v_extended := (v_day + 2 * v_k) % 5 = 0;

      -- How it began (the report's pauses_by_source): an attendant's Pause AI, most often;
      -- a human's reply (human-reply); or the AI agent's handoff.
      v_source := (v_day + 3 * v_k) % 6;
      insert into public.ai_pause_logs (conversation_id, action, reason, duration_minutes,
        triggered_by, previous_ai_mode, new_ai_mode, created_at)
      values (v_conversation, 'pause_activated',
              case when v_source in (0, 3) then 'human_replied'
                   when v_source = 4 then 'customer_asked_for_human'
                   when v_k % 3 = 0 then 'customer asked for a human' end,
              v_duration, case when v_source = 4 then 'ai_agent' else v_by end,
              'active', 'paused', v_start);
      for v_message in 1..(v_day + v_k) % 4 loop
        insert into public.ai_pause_logs (conversation_id, action, duration_minutes,
          triggered_by, previous_ai_mode, new_ai_mode, message_id, created_at)
        values (v_conversation, 'interaction_blocked', v_duration, 'ai_agent', 'paused',
                'paused', format('demo-%s-%s-%s', v_day, v_k, v_message),
                v_start + make_interval(mins => v_message * least(v_length, v_duration) / 5));
      end loop;
      if v_extended then
        insert into public.ai_pause_logs (conversation_id, action, duration_minutes,
          triggered_by, previous_ai_mode, new_ai_mode, created_at)
        values (v_conversation, 'extend_pause', 15, v_by, 'paused', 'paused',
                v_start + make_interval(mins => least(v_length, v_duration) - 1));
        v_duration := v_duration + 15;
      end if;
      if v_length < v_duration then
        -- Handed back early: Return to AI.
        insert into public.ai_pause_logs (conversation_id, action, reason, duration_minutes,
          triggered_by, previous_ai_mode, new_ai_mode, created_at)
        values (v_conversation, 'force_resume', 'customer helped', v_duration, v_by,
                'paused', 'active', v_start + make_interval(mins => v_length));
      else
        -- The timer ran out; the cron wrote it within the minute.
        insert into public.ai_pause_logs (conversation_id, action, reason, duration_minutes,
          triggered_by, previous_ai_mode, new_ai_mode, created_at)
        values (v_conversation, 'auto_resume', 'timer_expired', v_duration, 'system',
                'paused', 'active', v_start + make_interval(mins => v_duration, secs => 20));
      end if;
    end loop;
  end loop;
end
$$;
