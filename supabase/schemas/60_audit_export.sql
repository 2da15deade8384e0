-- The audit export (function audit-export): ai_pause_logs copied to object storage, every
-- row exactly once, without a gap.
--
-- Ids do not say what is exported: a transaction can commit a lower id after a higher one
-- was exported. Transactions do: each row records the transaction that wrote it (txid), and
-- a run exports the rows of the transactions that had ended in its snapshot and not in the
-- previous run's. Ended transactions never write again, so each row falls in exactly one
-- such difference; a still-open transaction's rows wait for the first run after it ends.

-- ai_pause_logs.txid, which this export reads, is declared with the table
-- (10_types_and_tables.sql).

-- ===========================================================================
-- Export state: one row
-- ===========================================================================

create table takeover_private.audit_export_state (
  singleton boolean primary key default true check (singleton),
  -- Every row of a transaction that had ended in this snapshot is exported (null: none).
  exported_snapshot pg_snapshot,
  -- The snapshot being worked towards: the rows of the transactions that ended between
  -- the two, in (txid, id) order, exported up to the position.
  target_snapshot pg_snapshot,
  position_txid xid8,
  position_id bigint,
  -- The batch reserved and being uploaded: those rows above the position up to
  -- (batch_end_txid, batch_end_id). Fixed once reserved (its rows are final), so a run that
  -- died after uploading is repeated by the next into the same keys with the same bytes.
  batch_end_txid xid8,
  batch_end_id bigint,
  -- The run holding the batch, until its lease expires; then another run takes it over.
  batch_token uuid,
  batch_expires_at timestamptz,
  last_exported_at timestamptz,
  check ((target_snapshot is null) = (position_txid is null)
    and (position_txid is null) = (position_id is null)),
  check ((batch_end_txid is null) = (batch_end_id is null)
    and (batch_end_id is null) = (batch_token is null)
    and (batch_token is null) = (batch_expires_at is null)
    and (batch_token is null or target_snapshot is not null))
);
comment on table takeover_private.audit_export_state is
  'The audit export''s progress: the snapshots exported and aimed at, the position between '
  'them, and the batch in flight.';

-- ===========================================================================
-- Functions: reserve a batch, read its rows, commit it, release it (service_role only)
-- ===========================================================================

create function public.takeover_audit_export_reserve(p_limit integer, p_lease_seconds integer)
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
        -- Every transaction before the exported snapshot's xmin had ended in it, so its
        -- rows are exported: the walk starts there, not at the log's first row.
        v_state.position_txid := coalesce(pg_snapshot_xmin(v_state.exported_snapshot), '0');
        v_state.position_id := 0;
      end if;
      select last.txid, last.id into v_end_txid, v_end_id
      from (
        select l.txid, l.id from public.ai_pause_logs l
        where (l.txid, l.id) > (v_state.position_txid, v_state.position_id)
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
  -- Each row as log_events gives it (every column but txid, in the table's order, times in
  -- UTC whatever the session's time zone): a repeated batch gives the same bytes. In object
  -- order: by workspace, UTC day, id.
  return query
  select l.id, l.event::text
  from takeover_private.log_events l
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

create function public.takeover_audit_export_commit(p_token uuid)
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

create function public.takeover_audit_export_release(p_token uuid)
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

revoke all on table takeover_private.audit_export_state from public, anon, authenticated,
  service_role;
