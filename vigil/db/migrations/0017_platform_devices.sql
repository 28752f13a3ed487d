-- NB-IoT devices reporting through a carrier's IoT platform (CTWing, OneNET): how the platform
-- names them (IMEI, the platform's device id), which product they are and which vendor profile
-- reads their messages (docs/platforms.md). The device itself is an ordinary `devices` row,
-- behind the platform receiver's gateway.
create table platform_devices (
    device_id    text primary key references devices (id),
    source       text not null check (source in ('ctwing', 'onenet')),
    imei         text check (imei ~ '^[0-9]{14,17}$'),
    platform_id  text check (length(platform_id) between 1 and 128),
    product      text not null default '',
    profile      text,
    created_at   timestamptz not null default now(),
    check (imei is not null or platform_id is not null)
);
create unique index platform_devices_imei on platform_devices (source, imei);
create unique index platform_devices_platform_id on platform_devices (source, platform_id);

create trigger platform_devices_changed after insert or update or delete on platform_devices
    for each statement execute function bump_registry_version();
