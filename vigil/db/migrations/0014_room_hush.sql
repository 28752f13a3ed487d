-- Kitchen hush (issue 16): "cooking, confirmed by phone" from the console. A row asks the
-- detector stage to hush one room of a household (its smoke-only alarms; never heat, never CO,
-- never another room) until `until`; the stage reads the active rows at every registry change,
-- so an insert bumps the registry version like any registry edit.
create table room_hushes (
    id            bigint generated always as identity primary key,
    household_id  text not null references households (id),
    room          text not null,                       -- a registry room name or class
    started_at    timestamptz not null default now(),
    until         timestamptz not null,
    actor         text not null,                       -- the console user
    incident_id   bigint references incidents (id),
    note          text,
    check (until > started_at and until <= started_at + interval '30 minutes')
);
create index room_hushes_active on room_hushes (until);

create trigger room_hushes_changed after insert on room_hushes
    for each statement execute function bump_registry_version();
