-- The expiry sweep on a schedule, with pg_cron, one of two ways:
--
--   database  pg_cron calls public.takeover_sweep(1000) itself, every minute: no HTTP hop,
--             no secret, nothing outside the database. The simplest; the default.
--   http      pg_cron POSTs (pg_net) to the auto-resume function's own URL with the service
--             key, kept in Vault: for when the sweep must pass through the functions.
--
-- (A third way needs no SQL: Cloud Scheduler POSTing to the auto-resume URL; see README.)
--
-- Fill in the settings just below, then run the whole file in the SQL editor, or
--   psql "$DATABASE_DIRECT_URL" -v ON_ERROR_STOP=1 -f sql/cron.sql
-- Running it again (say, with a new URL or key) updates the job and the Vault secrets in
-- place, and switching the mode removes the other mode's job. A value still reading
-- '<…>' is refused: nothing is scheduled.
--
-- Lazy expiry already ends an expired pause the moment anything touches the conversation;
-- the sweep makes the inbox see it (through Realtime) even when nothing does.

-- ---------------------------------------------------------------------------
-- Settings (for this session only)
-- ---------------------------------------------------------------------------
select set_config('takeover.cron_mode', 'database', false);  -- 'database' or 'http'
select set_config('takeover.cron_schedule', '* * * * *', false);  -- pg_cron syntax
-- http only: the auto-resume function's own URL, e.g.
--   https://REGION-PROJECT.cloudfunctions.net/auto_resume  (Cloud Run functions, a target)
--   https://SERVICE-HASH-REGION.a.run.app/functions/v1/auto-resume  (the container)
select set_config('takeover.auto_resume_url', '<auto-resume URL>', false);
-- http only: the service key (an sb_secret_… key, or the legacy service_role JWT).
select set_config('takeover.service_key', '<service key>', false);

-- ---------------------------------------------------------------------------
-- The schedule
-- ---------------------------------------------------------------------------
create extension if not exists pg_cron;

do $settings$
declare
  mode text := current_setting('takeover.cron_mode');
  schedule text := current_setting('takeover.cron_schedule');
  url text := current_setting('takeover.auto_resume_url');
  service_key text := current_setting('takeover.service_key');
begin
  if mode not in ('database', 'http') then
    raise exception 'takeover.cron_mode must be database or http, not %', mode;
  end if;
  if schedule ~ '^<.*>$' then
    raise exception 'fill in takeover.cron_schedule at the top of cron.sql';
  end if;

  if mode = 'database' then
    perform cron.schedule(
      'takeover-auto-resume', schedule, 'select public.takeover_sweep(1000)'
    );
    return;
  end if;

  if url ~ '^<.*>$' or service_key ~ '^<.*>$' then
    raise exception 'fill in takeover.auto_resume_url and takeover.service_key at the top of cron.sql';
  end if;
  if url !~ '^https?://' then
    raise exception 'takeover.auto_resume_url must be an https:// URL, not %', url;
  end if;
  -- pg_net and Vault are Supabase's (extensions on a Supabase project); elsewhere, use the
  -- database mode or Cloud Scheduler.
  create extension if not exists pg_net;
  -- The URL and the key live in Vault, not in the job's text; a re-run replaces them.
  if exists (select 1 from vault.secrets where name = 'takeover_auto_resume_url') then
    perform vault.update_secret(
      (select id from vault.secrets where name = 'takeover_auto_resume_url'), url
    );
  else
    perform vault.create_secret(url, 'takeover_auto_resume_url');
  end if;
  if exists (select 1 from vault.secrets where name = 'takeover_service_key') then
    perform vault.update_secret(
      (select id from vault.secrets where name = 'takeover_service_key'), service_key
    );
  else
    perform vault.create_secret(service_key, 'takeover_service_key');
  end if;
  -- Overlapping runs are safe: the sweep skips rows another run holds.
  perform cron.schedule(
    'takeover-auto-resume',
    schedule,
    $job$
    select net.http_post(
      url := (select decrypted_secret from vault.decrypted_secrets
              where name = 'takeover_auto_resume_url'),
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets
                                       where name = 'takeover_service_key')),
      body := '{"limit": 10000}'::jsonb,
      timeout_milliseconds := 10000
    )
    $job$
  );
end
$settings$;

-- Daily: forget Idempotency-Keys past their 24 hours (each caller's new key also forgets
-- that caller's old ones; this catches callers who never come back).
select cron.schedule(
  'takeover-forget-idempotency-keys',
  '17 3 * * *',
  $job$ delete from public.idempotency_keys where created_at < now() - interval '24 hours' $job$
);
