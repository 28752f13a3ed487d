-- Grid members in the field (issue 21): the mobile app's actions, each exactly once per action
-- id; photos kept with their SHA-256; arrivals with the phone's position when the member agreed;
-- the outcome a responder reported; Web Push subscriptions per user.

-- Every action a phone sends carries an id it made itself. The first answer is kept, so a
-- replay after a lost response (or an offline queue sent twice) gets the same answer and
-- changes nothing.
create table field_actions (
    user_id      bigint not null references users (id),
    action_id    text not null check (action_id ~ '^[A-Za-z0-9_-]{8,64}$'),
    incident_id  bigint not null references incidents (id),
    kind         text not null,
    status_code  smallint not null,
    response     jsonb not null,
    taken_at     timestamptz,                     -- when the phone says the member acted
    received_at  timestamptz not null default now(),
    primary key (user_id, action_id)
);
create index field_actions_incident on field_actions (incident_id);

-- Photos from the scene. The bytes stay in the database (a phone's resized photo is ~100 kB),
-- so a backup holds the evidence with its hash.
create table incident_evidence (
    id            bigint generated always as identity primary key,
    incident_id   bigint not null references incidents (id),
    user_id       bigint references users (id),
    content_type  text not null check (content_type in ('image/jpeg', 'image/png', 'image/webp')),
    sha256        text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes    integer not null check (size_bytes > 0),
    data          bytea not null,
    taken_at      timestamptz,
    received_at   timestamptz not null default now()
);
create index incident_evidence_incident on incident_evidence (incident_id, id);

-- Where the member was on arrival (only with the phone's consent) and how far from the building.
create table incident_arrivals (
    id           bigint generated always as identity primary key,
    incident_id  bigint not null references incidents (id),
    user_id      bigint not null references users (id),
    at           timestamptz not null,
    lat          double precision check (lat between -90 and 90),
    lon          double precision check (lon between -180 and 180),
    accuracy_m   double precision check (accuracy_m >= 0),
    distance_m   double precision check (distance_m >= 0)
);
create index incident_arrivals_incident on incident_arrivals (incident_id);

-- Who accepted the task, and what they found (fire_out, cooking, false_press ...).
alter table incidents
    add column accepted_at  timestamptz,
    add column accepted_by  bigint references users (id),
    add column outcome      text;

-- Web Push subscriptions (RFC 8030/8291): one row per browser a user signed in on.
create table push_subscriptions (
    id          bigint generated always as identity primary key,
    user_id     bigint not null references users (id),
    endpoint    text not null unique,
    p256dh      text not null,
    auth        text not null,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);
create index push_subscriptions_user on push_subscriptions (user_id) where revoked_at is null;

-- Web Push is an outbox channel like SMS: one row per subscription, sent by the notifier.
alter table notification_outbox drop constraint notification_outbox_channel_check;
alter table notification_outbox add constraint notification_outbox_channel_check
    check (channel in ('console', 'sms', 'grid_member', 'voice', 'wecom', 'webpush'));
