-- The auto-resume schedule on a Supabase project: every minute, as the contract's cron.
-- Run once in the SQL editor (or `psql "$SUPABASE_DB_URL" -f sql/cron.sql`) after
-- replacing the two placeholders; running it again updates the jobs in place.
--
-- Lazy expiry already ends an expired pause the moment anything touches the conversation;
-- the cron makes the inbox see it (through Realtime) even when nothing does.

create extension if not exists pg_cron;
create extension if not exists pg_net;

-- The functions' base URL and the service role key live in Vault, not in the job's text.
-- Placeholders: <functions base URL> is where the functions are served, e.g.
-- https://<project-ref>.supabase.co or your Cloud Run URL; <service role key> is the
-- project's service_role key (Settings -> API).
do $$
begin
  if not exists (select 1 from vault.secrets where name = 'takeover_functions_url') then
    perform vault.create_secret('<functions base URL>', 'takeover_functions_url');
  end if;
  if not exists (select 1 from vault.secrets where name = 'takeover_service_role_key') then
    perform vault.create_secret('<service role key>', 'takeover_service_role_key');
  end if;
end
$$;

-- Every minute: POST /functions/v1/auto-resume with the service key (what the contract's
-- cron does). Overlapping runs are safe: the sweep skips rows another run holds.
select cron.schedule(
  'takeover-auto-resume',
  '* * * * *',
  $job$
  select net.http_post(
    url := (select decrypted_secret from vault.decrypted_secrets
            where name = 'takeover_functions_url') || '/functions/v1/auto-resume',
    headers := jsonb_build_object(
      'Content-Type', 'application/json',
      'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets
                                     where name = 'takeover_service_role_key')),
    body := '{"limit": 10000}'::jsonb,
    timeout_milliseconds := 10000
  )
  $job$
);

-- Every 10 seconds (pg_cron 1.5+ takes seconds): POST /functions/v1/webhook-dispatch, which
-- sends the webhook deliveries that are due. Overlapping runs are safe: each endpoint is
-- leased to one run at a time, and a run held up by an endpoint that does not answer leaves
-- the next run to the others.
select cron.schedule(
  'takeover-webhook-dispatch',
  '10 seconds',
  $job$
  select net.http_post(
    url := (select decrypted_secret from vault.decrypted_secrets
            where name = 'takeover_functions_url') || '/functions/v1/webhook-dispatch',
    headers := jsonb_build_object(
      'Content-Type', 'application/json',
      'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets
                                     where name = 'takeover_service_role_key')),
    body := '{"limit": 1000}'::jsonb,
    timeout_milliseconds := 60000
  )
  $job$
);

-- Daily: forget Idempotency-Keys past their 24 hours (each caller's new key also forgets
-- that caller's old ones; this catches callers who never come back).
select cron.schedule(
  'takeover-forget-idempotency-keys',
  '17 3 * * *',
  $job$ delete from public.idempotency_keys where created_at < now() - interval '24 hours' $job$
);
