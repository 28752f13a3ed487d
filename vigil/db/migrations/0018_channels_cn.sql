-- Issue 20: the channels a Chinese district uses. SMS through Alibaba Cloud or Tencent Cloud
-- (template parameters beside the text), a voice call to the family after an unacknowledged
-- SMS, the grid's WeCom group robot.

alter table notification_outbox drop constraint notification_outbox_channel_check;
alter table notification_outbox add constraint notification_outbox_channel_check
    check (channel in ('console', 'sms', 'grid_member', 'voice', 'wecom'));
alter table notification_outbox drop constraint notification_outbox_kind_check;
alter table notification_outbox add constraint notification_outbox_kind_check
    check (kind in ('family_alarm', 'family_closed', 'responder', 'console', 'family_call',
                    'grid_wecom'));
-- 'cancelled': a call the family's acknowledgement made moot before it was placed.
alter table notification_outbox drop constraint notification_outbox_status_check;
alter table notification_outbox add constraint notification_outbox_status_check
    check (status in ('pending', 'sending', 'sent', 'delivered', 'failed', 'cancelled'));
alter table notification_outbox
    add column params       jsonb,        -- template parameters, for providers that send templates
    add column call_order   smallint;     -- a family call: the contact's place in calling order
create index notification_outbox_calls on notification_outbox (incident_id, call_order)
    where channel = 'voice';

-- The grid's WeCom (企业微信) group robot: the key of its webhook URL. A secret: whoever has it
-- can post to the group.
alter table grids add column wecom_key text;

-- What a call's receipts said: answered, the key pressed, how it ended.
create table voice_events (
    id           bigint generated always as identity primary key,
    received_at  timestamptz not null default now(),
    provider     text not null,
    call_id      text not null,
    status_code  text not null,
    dtmf         text,
    raw          jsonb not null default '{}',
    applied_at   timestamptz
);
create index voice_events_call on voice_events (provider, call_id);

-- Claims of a row: a row claimed before may have reached the provider though we never heard
-- (its notifier died mid-send, the answer was lost), so a provider that can be asked
-- (Alibaba Cloud's QuerySendDetails) is asked before sending again.
alter table notification_outbox add column claims integer not null default 0;

-- Outbound webhooks: other systems (the 12345 hotline platform, a building's management
-- system) subscribe to incident events of some kinds and grids; each delivery is signed with
-- the subscriber's secret and retried until it is taken (at least once, one delivery id).
create table webhook_subscribers (
    id           bigint generated always as identity primary key,
    name         text not null unique,
    url          text not null check (url ~ '^https?://'),
    secret       text not null check (length(secret) >= 16),
    causes       text[] not null default '{}',     -- empty: every cause
    grids        text[] not null default '{}',     -- empty: every grid
    created_at   timestamptz not null default now(),
    disabled_at  timestamptz
);

create table webhook_outbox (
    id               bigint generated always as identity primary key,
    delivery_id      uuid not null unique default gen_random_uuid(),
    event_key        text not null,                -- the timeline entry that caused it
    subscriber_id    bigint not null references webhook_subscribers (id),
    incident_id      bigint references incidents (id),
    event            text not null,
    payload          jsonb not null,
    status           text not null default 'pending'
                       check (status in ('pending', 'sending', 'delivered', 'failed')),
    attempts         integer not null default 0,
    next_attempt_at  timestamptz not null default now(),
    lease_until      timestamptz,
    last_error       text,
    created_at       timestamptz not null default now(),
    delivered_at     timestamptz,
    unique (subscriber_id, event_key)
);
create index webhook_outbox_due on webhook_outbox (next_attempt_at)
    where status in ('pending', 'sending');
