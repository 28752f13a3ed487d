-- The console: sign-in sessions, departments for the response-time reports, and indexes for the
-- audit log and registry search.

-- A session is an opaque bearer token; only its SHA-256 is stored, so a leaked table cannot be
-- replayed. Revoked or expired rows are kept for the audit trail and swept by age.
create table console_sessions (
    token_hash   bytea primary key check (octet_length(token_hash) = 32),
    user_id      bigint not null references users (id),
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    last_seen    timestamptz not null default now(),
    remote_addr  inet,
    user_agent   text,
    revoked_at   timestamptz
);
create index console_sessions_user on console_sessions (user_id) where revoked_at is null;

-- Which department a responder belongs to (community, fire, medical, police ...): the monthly
-- scoring reports response times per grid and per department. 0006 (alerting) adds it too.
alter table users add column if not exists department text;

create index audit_log_user on audit_log (user_id, at desc);
create index residents_household on residents (household_id) where retired_at is null;
create index contacts_resident on contacts (resident_id) where retired_at is null;
create index households_building on households (building_id) where retired_at is null;
create index buildings_grid on buildings (grid_id) where retired_at is null;
