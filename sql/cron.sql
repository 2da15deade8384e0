-- Takeover's schedules, with pg_cron:
--
--   the expiry sweep, one of two ways (takeover.cron_mode):
--     database  pg_cron calls public.takeover_sweep(1000) itself, every minute: no HTTP hop,
--               no secret, nothing outside the database. The simplest; the default.
--     http      pg_cron POSTs (pg_net) to the auto-resume function's own URL with the
--               service key, kept in Vault: for when the sweep must pass through the
--               functions.
--   webhook-dispatch (every 10 seconds) and audit-export (daily), when their URL is set:
--     they run in the functions (they send HTTP and write to object storage), so pg_cron
--     POSTs to them with pg_net, as the sweep's http mode does.
--   a daily clean-up of Idempotency-Keys past their 24 hours, in the database.
--   a daily purge of these jobs' run history (cron.job_run_details) past 7 days.
--
-- (Without pg_net: Cloud Scheduler, or any cron, POSTing to the same URLs; see
-- docs/deploy.md.) Each cadence and each POST's timeout here is the function's own
-- (its FUNCTION declaration; tests/test_deploy_plan.py checks they agree).
--
-- Fill in the settings just below, then run the whole file in the SQL editor, or
--   psql "$DATABASE_DIRECT_URL" -v ON_ERROR_STOP=1 -f sql/cron.sql
-- Running it again (say, with a new URL or key) updates the jobs and the Vault secrets in
-- place; switching the sweep's mode removes the other mode's job, and emptying a URL
-- removes its job. A value still reading '<…>' is refused: nothing is scheduled.
--
-- Lazy expiry already ends an expired pause the moment anything touches the conversation;
-- the sweep makes the inbox see it (through Realtime) even when nothing does.

-- ---------------------------------------------------------------------------
-- Settings (for this session only)
-- ---------------------------------------------------------------------------
select set_config('takeover.cron_mode', 'database', false);  -- 'database' or 'http'
select set_config('takeover.cron_schedule', '* * * * *', false);  -- pg_cron syntax
-- http only: the auto-resume function's own URL, e.g.
--   https://REGION-PROJECT.cloudfunctions.net/auto-resume  (Cloud Run functions, a target)
--   https://SERVICE-HASH-REGION.a.run.app/functions/v1/auto-resume  (the container)
select set_config('takeover.auto_resume_url', '<auto-resume URL>', false);
-- Webhooks: the webhook-dispatch function's own URL ('' = no webhooks, no job). Seconds
-- need pg_cron 1.5+ (Supabase has it); on an older pg_cron, use '* * * * *'.
select set_config('takeover.webhook_dispatch_url', '', false);
select set_config('takeover.webhook_dispatch_schedule', '10 seconds', false);
-- The audit export: the audit-export function's own URL ('' = no export, no job).
select set_config('takeover.audit_export_url', '', false);
select set_config('takeover.audit_export_schedule', '23 2 * * *', false);  -- daily, 02:23 UTC
-- For every POST: the service key (an sb_secret_… key, or the legacy service_role JWT).
select set_config('takeover.service_key', '<service key>', false);

-- ---------------------------------------------------------------------------
-- The schedules
-- ---------------------------------------------------------------------------
create extension if not exists pg_cron;

-- One POST job: its URL (and the service key) in Vault, not in the job's text, replaced
-- on a re-run. A function of this session only (pg_temp): nothing of it stays behind.
create or replace function pg_temp.takeover_http_job(
  job text, schedule text, url_secret text, url text, body jsonb, timeout_ms integer
) returns void
language plpgsql as $$
begin
  if url !~ '^https?://' then
    raise exception 'the URL of % must be an https:// URL, not %', job, url;
  end if;
  -- pg_net and Vault are Supabase's (extensions on a Supabase project); elsewhere, use the
  -- database mode or Cloud Scheduler.
  create extension if not exists pg_net;
  if exists (select 1 from vault.secrets where name = url_secret) then
    perform vault.update_secret((select id from vault.secrets where name = url_secret), url);
  else
    perform vault.create_secret(url, url_secret);
  end if;
  perform cron.schedule(job, schedule, format(
    $job$
    select net.http_post(
      url := (select decrypted_secret from vault.decrypted_secrets where name = %L),
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets
                                       where name = 'takeover_service_key')),
      body := %L::jsonb,
      timeout_milliseconds := %s
    )
    $job$, url_secret, body, timeout_ms));
end
$$;

do $settings$
declare
  mode text := current_setting('takeover.cron_mode');
  schedule text := current_setting('takeover.cron_schedule');
  url text := current_setting('takeover.auto_resume_url');
  dispatch_url text := current_setting('takeover.webhook_dispatch_url');
  export_url text := current_setting('takeover.audit_export_url');
  service_key text := current_setting('takeover.service_key');
  needs_key boolean;
begin
  if mode not in ('database', 'http') then
    raise exception 'takeover.cron_mode must be database or http, not %', mode;
  end if;
  if schedule ~ '^<.*>$' then
    raise exception 'fill in takeover.cron_schedule at the top of cron.sql';
  end if;
  if mode = 'http' and (url ~ '^<.*>$' or service_key ~ '^<.*>$') then
    raise exception 'fill in takeover.auto_resume_url and takeover.service_key at the top of cron.sql';
  end if;
  if dispatch_url ~ '^<.*>$' or export_url ~ '^<.*>$' then
    raise exception 'fill in takeover.webhook_dispatch_url and takeover.audit_export_url (or leave them empty) at the top of cron.sql';
  end if;
  needs_key := mode = 'http' or dispatch_url <> '' or export_url <> '';
  if needs_key and service_key ~ '^<.*>$' then
    raise exception 'fill in takeover.service_key at the top of cron.sql';
  end if;

  if needs_key then
    create extension if not exists pg_net;
    if exists (select 1 from vault.secrets where name = 'takeover_service_key') then
      perform vault.update_secret(
        (select id from vault.secrets where name = 'takeover_service_key'), service_key
      );
    else
      perform vault.create_secret(service_key, 'takeover_service_key');
    end if;
  end if;

  -- Overlapping runs of each job are safe: the sweep skips rows another run holds, each
  -- webhook endpoint is leased to one dispatcher at a time, an export batch to one run.
  if mode = 'database' then
    perform cron.schedule(
      'takeover-auto-resume', schedule, 'select public.takeover_sweep(1000)'
    );
  else
    perform pg_temp.takeover_http_job('takeover-auto-resume', schedule,
      'takeover_auto_resume_url', url, '{"limit": 10000}', 60000);
  end if;

  if dispatch_url <> '' then
    perform pg_temp.takeover_http_job('takeover-webhook-dispatch',
      current_setting('takeover.webhook_dispatch_schedule'), 'takeover_webhook_dispatch_url',
      dispatch_url, '{"limit": 1000}', 60000);
  elsif exists (select 1 from cron.job where jobname = 'takeover-webhook-dispatch') then
    perform cron.unschedule('takeover-webhook-dispatch');
  end if;

  if export_url <> '' then
    -- A run takes at most 1,000,000 rows (a bigger backlog: the next runs).
    perform pg_temp.takeover_http_job('takeover-audit-export',
      current_setting('takeover.audit_export_schedule'), 'takeover_audit_export_url',
      export_url, '{}', 1800000);
  elsif exists (select 1 from cron.job where jobname = 'takeover-audit-export') then
    perform cron.unschedule('takeover-audit-export');
  end if;
end
$settings$;

-- Daily: forget Idempotency-Keys past their 24 hours (each caller's new key also forgets
-- that caller's old ones; this catches callers who never come back).
select cron.schedule(
  'takeover-forget-idempotency-keys',
  '17 3 * * *',
  $job$ delete from public.idempotency_keys where created_at < now() - interval '24 hours' $job$
);

-- Daily: forget the run history of these jobs past 7 days. pg_cron records every run in
-- cron.job_run_details (the 10-second webhook dispatch alone adds 8,640 rows a day); other
-- jobs' history is theirs, and left as it is.
select cron.schedule(
  'takeover-purge-cron-history',
  '41 3 * * *',
  $job$
  delete from cron.job_run_details
  where end_time < now() - interval '7 days'
    and jobid in (select jobid from cron.job where jobname like 'takeover-%')
  $job$
);
