-- SIA DC-09 alarm receiving (docs/dc09.md): the panels' accounts, each one a device of the
-- receiver's gateway, with its key and polling interval, and the panels' zones and users
-- mapped to rooms and residents.

create table dc09_accounts (
    account      text primary key check (account ~ '^[0-9A-F]{3,16}$'),
    device_id    text not null unique references devices (id),
    household_id text references households (id),
    building_id  text references buildings (id),
    receiver     text check (receiver ~ '^[0-9A-F]{1,6}$'),
    line         text check (line ~ '^[0-9A-F]{1,6}$'),
    -- AES-128/192/256 key as bytes; key_format records how the installer gave it (hex text, or
    -- the characters themselves as some panels take it) so it is shown back the same way.
    key          bytea check (key is null or octet_length(key) in (16, 24, 32)),
    key_format   text check (key_format in ('hex', 'raw')),
    poll_s       double precision check (poll_s is null or poll_s > 0),
    created_at   timestamptz not null default now(),
    retired_at   timestamptz,
    check ((household_id is null) <> (building_id is null)),
    check ((key is null) = (key_format is null))
);

create table dc09_zones (
    account  text not null references dc09_accounts (account),
    zone     text not null check (zone ~ '^[0-9A-F]{1,4}$'),   -- leading zeros taken off
    room     text not null check (length(room) between 1 and 200),
    primary key (account, zone)
);

create table dc09_users (
    account      text not null references dc09_accounts (account),
    user_no      text not null check (user_no ~ '^[0-9A-F]{1,4}$'),
    resident_id  bigint references residents (id),
    name         text not null check (length(name) between 1 and 200),
    primary key (account, user_no)
);

-- The receiver reloads its accounts when this changes (like ingest's registry cache).
create trigger dc09_accounts_changed after insert or update or delete on dc09_accounts
    for each statement execute function bump_registry_version();
create trigger dc09_zones_changed after insert or update or delete on dc09_zones
    for each statement execute function bump_registry_version();
create trigger dc09_users_changed after insert or update or delete on dc09_users
    for each statement execute function bump_registry_version();
