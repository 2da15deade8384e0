-- The demo workspace: two teams (Sales keeps long pauses, Support inherits the workspace's
-- 30 minutes), an attendant, an admin, and a few conversations. A second workspace shows
-- that members of one never see the other. Ids match functions/local/demo.py.

insert into public.workspaces (id, name, default_duration_minutes) values
  ('7a1c0000-0000-4000-8000-000000000001', 'Acme Support', 30),
  ('7a1c0000-0000-4000-8000-000000000002', 'Globex Help Desk', 60);

insert into public.teams (id, workspace_id, name, inherits_default, default_duration_minutes) values
  ('7a1c0000-0000-4000-8000-0000000000a1', '7a1c0000-0000-4000-8000-000000000001', 'Sales', false, 120),
  ('7a1c0000-0000-4000-8000-0000000000a2', '7a1c0000-0000-4000-8000-000000000001', 'Support', true, null);

insert into public.workspace_members (workspace_id, user_id, role) values
  ('7a1c0000-0000-4000-8000-000000000001', '7a1c0000-0000-4000-8000-0000000000b1', 'attendant'),
  ('7a1c0000-0000-4000-8000-000000000001', '7a1c0000-0000-4000-8000-0000000000b2', 'admin'),
  ('7a1c0000-0000-4000-8000-000000000002', '7a1c0000-0000-4000-8000-0000000000b9', 'admin');

insert into public.conversations (id, workspace_id, team_id) values
  ('7a1c0000-0000-4000-8000-0000000000c1', '7a1c0000-0000-4000-8000-000000000001', '7a1c0000-0000-4000-8000-0000000000a2'),
  ('7a1c0000-0000-4000-8000-0000000000c2', '7a1c0000-0000-4000-8000-000000000001', '7a1c0000-0000-4000-8000-0000000000a2'),
  ('7a1c0000-0000-4000-8000-0000000000c3', '7a1c0000-0000-4000-8000-000000000001', '7a1c0000-0000-4000-8000-0000000000a1'),
  ('7a1c0000-0000-4000-8000-0000000000c4', '7a1c0000-0000-4000-8000-000000000001', '7a1c0000-0000-4000-8000-0000000000a1'),
  ('7a1c0000-0000-4000-8000-0000000000c5', '7a1c0000-0000-4000-8000-000000000001', null),
  ('7a1c0000-0000-4000-8000-0000000000c9', '7a1c0000-0000-4000-8000-000000000002', null);
