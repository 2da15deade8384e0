-- The audit export on a schedule (daily), with pg_cron and pg_net on a Supabase project:
-- pg_cron POSTs to the audit-export function's own URL with the service key, kept in
-- Vault. (The export itself runs in the function: it needs boto3 and the bucket's keys.
-- Without pg_net: Cloud Scheduler or any cron POSTing to the same URL; docs/audit-export.md.)
--
-- Fill in the settings just below, then run the whole file in the SQL editor, or
--   psql "$DATABASE_DIRECT_URL" -v ON_ERROR_STOP=1 -f sql/audit_export_cron.sql
-- Running it again updates the job and the Vault secrets in place. A value still reading
-- '<...>' is refused: nothing is scheduled.

-- ---------------------------------------------------------------------------
-- Settings (for this session only)
-- ---------------------------------------------------------------------------
select set_config('takeover.audit_export_schedule', '23 2 * * *', false);  -- daily, 02:23 UTC
-- The audit-export function's own URL, e.g.
--   https://REGION-PROJECT.cloudfunctions.net/audit_export  (Cloud Run functions, a target)
--   https://SERVICE-HASH-REGION.a.run.app/functions/v1/audit-export  (the container)
select set_config('takeover.audit_export_url', '<audit-export URL>', false);
-- The service key (an sb_secret_... key, or the legacy service_role JWT).
select set_config('takeover.service_key', '<service key>', false);

-- ---------------------------------------------------------------------------
-- The schedule
-- ---------------------------------------------------------------------------
create extension if not exists pg_cron;
create extension if not exists pg_net;

do $settings$
declare
  schedule text := current_setting('takeover.audit_export_schedule');
  url text := current_setting('takeover.audit_export_url');
  service_key text := current_setting('takeover.service_key');
begin
  if schedule ~ '^<.*>$' or url ~ '^<.*>$' or service_key ~ '^<.*>$' then
    raise exception 'fill in the settings at the top of audit_export_cron.sql';
  end if;
  if url !~ '^https?://' then
    raise exception 'takeover.audit_export_url must be an https:// URL, not %', url;
  end if;
  -- The URL and the key live in Vault, not in the job's text; a re-run replaces them.
  if exists (select 1 from vault.secrets where name = 'takeover_audit_export_url') then
    perform vault.update_secret(
      (select id from vault.secrets where name = 'takeover_audit_export_url'), url
    );
  else
    perform vault.create_secret(url, 'takeover_audit_export_url');
  end if;
  if exists (select 1 from vault.secrets where name = 'takeover_service_key') then
    perform vault.update_secret(
      (select id from vault.secrets where name = 'takeover_service_key'), service_key
    );
  else
    perform vault.create_secret(service_key, 'takeover_service_key');
  end if;

  -- A run takes at most 1,000,000 rows (a bigger backlog: the next runs). Overlapping runs
  -- are safe: a batch in flight is leased to one run.
  perform cron.schedule(
    'takeover-audit-export',
    schedule,
    $job$
    select net.http_post(
      url := (select decrypted_secret from vault.decrypted_secrets
              where name = 'takeover_audit_export_url'),
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets
                                       where name = 'takeover_service_key')),
      body := '{}'::jsonb,
      timeout_milliseconds := 600000
    )
    $job$
  );
end
$settings$;
