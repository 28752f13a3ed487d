-- Devices from foreign sources (a zigbee2mqtt hub, a DC-09 alarm receiver, an NB-IoT platform):
-- where they come from, what they are, the id the source knows them by, and how often they must
-- be heard from. They report every few hours to once a day, so each device may carry its own
-- supervision interval, which replaces its type's heartbeat in offline supervision.
alter table devices
    add column source        text not null default 'vigil'
        check (source ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    add column model         text check (length(model) <= 200),
    add column external_id   text check (length(external_id) between 1 and 200),
    add column supervision_s double precision check (supervision_s > 0);

-- One live device per id of a source (IEEE address, IMEI, DC-09 account and zone).
create unique index devices_source_external on devices (source, external_id)
    where retired_at is null and external_id is not null;
