-- Alerting: the lifecycle's timestamps on incidents, escalation timers that survive restarts,
-- the outbox's lease and retry bookkeeping, SMS replies, and the demo SMS provider's log.

-- ---------------------------------------------------------------- incidents
alter table incidents
    add column grid_id           text references grids (id),
    add column district          text,
    add column stage_started_at  timestamptz not null default now(),
    add column acknowledged_at   timestamptz,
    add column dispatched_at     timestamptz,
    add column arrived_at        timestamptz,
    add column escalated_at      timestamptz,
    add column sources           text[] not null default '{}';   -- "device:kind" seen so far
create index incidents_open_grid on incidents (grid_id)
    where state not in ('resolved', 'false_alarm', 'test');
create index incidents_opened_at on incidents (opened_at);

-- The department a user reports for, for the monthly responder scores.
alter table users add column department text;

-- Alerts the alerting service has looked at; an alert it could not use keeps its reason.
alter table alerts
    add column triaged_at    timestamptz,
    add column triage_error  text;
create index alerts_untriaged on alerts (id) where incident_id is null and triaged_at is null;

-- ---------------------------------------------------------------- escalation timers
-- At most one running timer per incident: the deadline of its current stage for its current
-- tier. The supervisor claims due rows with `for update skip locked`, so each fires once.
create table escalation_timers (
    id            bigint generated always as identity primary key,
    incident_id   bigint not null references incidents (id),
    stage         text not null check (stage in ('acknowledge', 'dispatch', 'arrive')),
    tier          smallint not null check (tier >= 0),
    due_at        timestamptz not null,
    created_at    timestamptz not null default now(),
    fired_at      timestamptz,
    cancelled_at  timestamptz,
    check (fired_at is null or cancelled_at is null)
);
create unique index escalation_timers_one_running on escalation_timers (incident_id)
    where fired_at is null and cancelled_at is null;
create index escalation_timers_due on escalation_timers (due_at)
    where fired_at is null and cancelled_at is null;

-- ---------------------------------------------------------------- notifications
alter table notification_outbox
    add column kind              text not null default 'responder'
        check (kind in ('family_alarm', 'family_closed', 'responder', 'console')),
    add column tier              smallint,
    add column user_id           bigint references users (id),
    add column provider          text,
    add column first_attempt_at  timestamptz,
    add column lease_until       timestamptz;     -- a 'sending' row is reclaimed after this
create index notification_outbox_incident on notification_outbox (incident_id);
create index notification_outbox_provider_id on notification_outbox (provider, provider_id);
create index notification_outbox_sms_recipient on notification_outbox (recipient, created_at desc)
    where channel = 'sms';

-- Delivery receipts as they arrive; one that comes before its message is marked sent is
-- applied when the notifier next reconciles.
create table sms_receipts (
    id           bigint generated always as identity primary key,
    received_at  timestamptz not null default now(),
    provider     text not null,
    provider_id  text not null,
    delivered    boolean not null,
    failed       boolean not null,
    raw          jsonb not null default '{}',
    applied_at   timestamptz
);
create index sms_receipts_unapplied on sms_receipts (provider, provider_id) where applied_at is null;

-- Replies and other mobile-originated messages, whatever the provider.
create table sms_inbound (
    id           bigint generated always as identity primary key,
    received_at  timestamptz not null default now(),
    provider     text not null,
    provider_id  text,
    sender       text not null,
    recipient    text,
    body         text not null,
    incident_id  bigint references incidents (id),
    outcome      text not null               -- acknowledged, no_incident, not_an_ack
);
create unique index sms_inbound_provider_id on sms_inbound (provider, provider_id)
    where provider_id is not null;

-- The demo provider "sends" by writing here; the console shows these messages.
create table sms_demo_messages (
    id               bigint generated always as identity primary key,
    idempotency_key  text not null unique,
    recipient        text not null,
    body             text not null,
    sent_at          timestamptz not null default now()
);
