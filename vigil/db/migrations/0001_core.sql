-- The core schema: the registry (who lives where, with which devices), time series as
-- hypertables, incidents with their timeline, the notification outbox, users and the audit log.

create extension if not exists timescaledb;

-- ---------------------------------------------------------------- registry
create table sites (
    id          text primary key check (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    name        text not null,
    name_en     text,
    district    text,
    created_at  timestamptz not null default now(),
    retired_at  timestamptz
);

create table grids (
    id          text primary key,
    site_id     text not null references sites (id),
    name        text not null,
    name_en     text,
    geometry    jsonb,                 -- GeoJSON polygon of the grid, for the district map
    created_at  timestamptz not null default now(),
    retired_at  timestamptz
);

create table buildings (
    id          text primary key,
    grid_id     text not null references grids (id),
    name        text not null,
    address     text not null,
    lat         double precision check (lat between -90 and 90),
    lon         double precision check (lon between -180 and 180),
    floors      smallint check (floors > 0),
    created_at  timestamptz not null default now(),
    retired_at  timestamptz
);

create table households (
    id            text primary key,
    building_id   text not null references buildings (id),
    unit          text not null,                 -- flat number within the building
    living_alone  boolean not null default false,
    away_until    timestamptz,                   -- inactivity checks pause while away
    notes         text,
    created_at    timestamptz not null default now(),
    retired_at    timestamptz
);

create table residents (
    id             bigint generated always as identity primary key,
    household_id   text not null references households (id),
    name           text not null,
    birth_year     smallint check (birth_year between 1900 and 2100),
    phone          text,
    language       text not null default 'zh' check (language in ('zh', 'en')),
    medical_notes  text,                         -- never in SMS; hidden from installers
    created_at     timestamptz not null default now(),
    retired_at     timestamptz
);

create table contacts (
    id           bigint generated always as identity primary key,
    resident_id  bigint not null references residents (id),
    name         text not null,
    relation     text,
    phone        text not null check (phone ~ '^\+?[0-9]{5,20}$'),
    language     text not null default 'zh' check (language in ('zh', 'en')),
    priority     smallint not null default 1,
    created_at   timestamptz not null default now(),
    retired_at   timestamptz
);

create table gateways (
    id             text primary key check (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
    site_id        text not null references sites (id),
    building_id    text references buildings (id),
    mqtt_username  text not null unique,
    status         text not null default 'unknown' check (status in ('unknown', 'online', 'offline')),
    last_seen      timestamptz,
    created_at     timestamptz not null default now(),
    revoked_at     timestamptz,
    retired_at     timestamptz
);

create table devices (
    id             text primary key check (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
    device_type    text not null,
    gateway_id     text not null references gateways (id),
    household_id   text references households (id),
    room           text,
    installed_at   timestamptz not null default now(),
    retired_at     timestamptz,
    replaced_by    text references devices (id),
    last_seen      timestamptz,
    battery_v      real
);
create index devices_gateway on devices (gateway_id) where retired_at is null;
create index devices_household on devices (household_id) where retired_at is null;

-- Registry changes bump a counter that ingest polls to refresh its cache.
create table registry_version (
    id       boolean primary key default true check (id),
    version  bigint not null default 0
);
insert into registry_version default values;

create function bump_registry_version() returns trigger language plpgsql as $$
begin
    update registry_version set version = version + 1;
    perform pg_notify('vigil_registry', '');
    return null;
end $$;

create trigger devices_changed after insert or update or delete on devices
    for each statement execute function bump_registry_version();
create trigger gateways_changed after insert or update or delete on gateways
    for each statement execute function bump_registry_version();
create trigger households_changed after insert or update or delete on households
    for each statement execute function bump_registry_version();

-- ---------------------------------------------------------------- time series
create table readings (
    time        timestamptz not null,          -- the device's timestamp
    device_id   text not null,
    metric      text not null,
    value       double precision not null,
    seq         bigint not null,               -- the device's sequence number
    gateway_ts  timestamptz not null           -- when the gateway received it
);
select create_hypertable('readings', by_range('time', interval '1 day'));
create index readings_device_time on readings (device_id, time desc);

create table device_events (
    time        timestamptz not null,
    device_id   text not null,
    kind        text not null,                 -- alarm, button, tamper, self_test, fault, ...
    value       double precision,
    seq         bigint not null,
    gateway_ts  timestamptz not null,
    detail      jsonb
);
select create_hypertable('device_events', by_range('time', interval '7 days'));
create index device_events_device_time on device_events (device_id, time desc);

-- Whole uplink messages already stored, so a redelivery is recognised in the same transaction.
create table ingested_messages (
    gateway_id   text not null,
    gateway_seq  bigint not null,
    received_at  timestamptz not null default now(),
    primary key (gateway_id, gateway_seq)
);

create table dead_letters (
    id           bigint generated always as identity primary key,
    received_at  timestamptz not null default now(),
    topic        text not null,
    reason       text not null,
    detail       text,
    payload      bytea not null check (octet_length(payload) <= 65536)
);
create index dead_letters_reason on dead_letters (reason, received_at desc);

-- ---------------------------------------------------------------- users, roles, audit
create table roles (
    name         text primary key,
    description  text not null
);
insert into roles (name, description) values
    ('operator',    'command-centre console operator'),
    ('supervisor',  'command-centre supervisor: reports, escalation settings'),
    ('grid_member', 'grid member: sees and acts on their own grid only'),
    ('installer',   'device installer: registry and commissioning, no incidents'),
    ('admin',       'administrator: users and everything else');

create table users (
    id             bigint generated always as identity primary key,
    username       text not null unique,
    display_name   text not null,
    password_hash  text not null,
    role           text not null references roles (name),
    grid_id        text references grids (id),
    phone          text,
    language       text not null default 'zh' check (language in ('zh', 'en')),
    created_at     timestamptz not null default now(),
    disabled_at    timestamptz,
    check (role <> 'grid_member' or grid_id is not null)
);

create table audit_log (
    id           bigint generated always as identity primary key,
    at           timestamptz not null default now(),
    user_id      bigint references users (id),
    username     text,
    action       text not null,
    target       text,
    detail       jsonb,
    remote_addr  inet
);
create index audit_log_at on audit_log (at desc);

-- ---------------------------------------------------------------- alerts and incidents
create table incidents (
    id             bigint generated always as identity primary key,
    household_id   text references households (id),
    cause          text not null,                 -- fire, smoke, heat, panic, inactivity, offline ...
    signal         text not null check (signal in ('alarm', 'supervisory', 'trouble')),
    severity       smallint not null check (severity between 1 and 5),
    state          text not null default 'new' check (state in
                     ('new', 'acknowledged', 'dispatched', 'on_site', 'resolved', 'false_alarm', 'test')),
    opened_at      timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    closed_at      timestamptz,
    assigned_to    bigint references users (id),
    escalation_tier smallint not null default 0,
    hops           jsonb not null default '{}'    -- per-hop timestamps for latency
);
-- One open incident per household and cause.
create unique index incidents_one_open on incidents (household_id, cause)
    where state not in ('resolved', 'false_alarm', 'test');

create table alerts (
    id            bigint generated always as identity primary key,
    incident_id   bigint references incidents (id),
    device_id     text not null,
    household_id  text,
    kind          text not null,
    signal        text not null check (signal in ('alarm', 'supervisory', 'trouble')),
    severity      smallint not null check (severity between 1 and 5),
    score         double precision not null,
    reason        text not null,
    evidence      jsonb not null default '{}',
    ts            timestamptz not null,           -- the triggering reading's device time
    received_at   timestamptz not null,           -- when the triggering reading reached ingest
    decided_at    timestamptz not null default now()
);
create index alerts_incident on alerts (incident_id);

create table incident_timeline (
    id           bigint generated always as identity primary key,
    incident_id  bigint not null references incidents (id),
    at           timestamptz not null default now(),
    actor        text not null,                   -- a username, 'system' or 'sms:<phone>'
    action       text not null,
    from_state   text,
    to_state     text,
    note         text
);
create index incident_timeline_incident on incident_timeline (incident_id, at);

-- ---------------------------------------------------------------- notifications
create table notification_outbox (
    id               bigint generated always as identity primary key,
    idempotency_key  text not null unique,
    incident_id      bigint references incidents (id),
    channel          text not null check (channel in ('console', 'sms', 'grid_member')),
    recipient        text not null,
    language         text not null default 'zh' check (language in ('zh', 'en')),
    body             text not null,
    status           text not null default 'pending' check (status in
                       ('pending', 'sending', 'sent', 'delivered', 'failed')),
    attempts         integer not null default 0,
    next_attempt_at  timestamptz not null default now(),
    last_error       text,
    provider_id      text,
    receipt          jsonb,
    created_at       timestamptz not null default now(),
    sent_at          timestamptz,
    delivered_at     timestamptz
);
create index notification_outbox_due on notification_outbox (next_attempt_at)
    where status in ('pending', 'sending');
