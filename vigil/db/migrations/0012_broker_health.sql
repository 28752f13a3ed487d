-- What the broker says about its own queues (ingest/broker_watch.py), for the console's
-- device-health page: a session queue at its byte limit sheds messages (telemetry first: events
-- have their own session), and the operators must see that it happened.
create table broker_health (
    broker        text primary key,           -- host:port
    dropped       bigint not null default 0,  -- messages the broker dropped since it started
    store_bytes   bigint,                     -- bytes it holds in queues and retained messages
    last_drop_at  timestamptz,                -- when the count last went up
    updated_at    timestamptz not null default now()
);
