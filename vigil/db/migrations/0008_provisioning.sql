-- Provisioning: commissioning tests (did a device's test signal arrive end to end, and how fast),
-- and finding a gateway's dead letters quickly (shown to the installer).

-- One row per `vigil device test`: the pass or the hop where the signal stopped, with per-hop
-- times, so a district's commissioning can be audited afterwards.
create table commissioning_tests (
    id           bigint generated always as identity primary key,
    device_id    text not null references devices (id),
    gateway_id   text,
    started_by   text not null,
    started_at   timestamptz not null default now(),
    mode         text not null check (mode in ('press', 'command')),
    finished_at  timestamptz,
    outcome      text check (outcome in ('pass', 'fail')),
    stopped_at   text,                 -- unknown_device, no_gateway, gateway_offline, ...
    latency_ms   double precision,     -- device timestamp to the last hop seen
    detail       jsonb not null default '{}'
);
create index commissioning_tests_device on commissioning_tests (device_id, started_at desc);

-- The gateway id is the fourth level of an uplink topic (vigil/v1/{site}/{gateway}/...).
create index dead_letters_gateway on dead_letters ((split_part(topic, '/', 4)), received_at desc);
