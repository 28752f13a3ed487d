-- The narrow row (issue 23): a reading costs 24 bytes of data instead of ~70, one small index
-- instead of a (text, timestamptz) B-tree. Devices and metrics become small integer keys (the
-- registry's `devices.key`, the codes of `vigil/device_types.toml` in `metrics`), the device's
-- sequence number its low 32 bits, the gateway's receive time a saturated offset from the
-- device's time, the value a 4-byte float read back at its metric's resolution. The view
-- `readings` keeps the readable shape (device id, metric name, value, seq, gateway_ts) for
-- people, reports and tests; ingest writes `reading_rows` directly. docs/performance.md,
-- "The narrow row", has the layout, the arithmetic and each query's plan.

-- ---------------------------------------------------------------- the vocabulary as keys
-- Metric codes follow device_types.toml (appended, never reordered); `vigil.db.migrate` brings
-- this table up to date with the file after every migration run. `scale` = 10^decimals.
create table metrics (
    code   smallint primary key check (code >= 0),
    name   text not null unique,
    unit   text not null,
    scale  double precision not null check (scale >= 1)
);
insert into metrics (code, name, unit, scale) values
    (0, 'smoke_obscuration', '%/m', 1000),
    (1, 'temperature', '°C', 100),
    (2, 'co', 'ppm', 10),
    (3, 'battery', 'V', 1000),
    (4, 'tamper', '', 1),
    (5, 'button', '', 1),
    (6, 'motion', '', 1),
    (7, 'door', '', 1),
    (8, 'self_test', '', 1),
    (9, 'smoke_alarm', '', 1),
    (10, 'heat_alarm', '', 1),
    (11, 'co_alarm', '', 1),
    (12, 'gas_alarm', '', 1),
    (13, 'water_leak', '', 1),
    (14, 'low_battery', '', 1),
    (15, 'fault', '', 1),
    (16, 'availability', '', 1),
    (17, 'battery_pct', '%', 10),
    (18, 'link_quality', '', 10),
    (19, 'rsrp', 'dBm', 10),
    (20, 'snr', 'dB', 10),
    (21, 'csq', '', 1),
    (22, 'gas_lel', '%LEL', 10),
    (23, 'hush', '', 1);

-- A device's key, for the life of its registry row (a device deleted and added again under the
-- same id gets a new key; the old rows stay under the old one, out of the view).
alter table devices add column key integer generated always as identity unique;

-- ---------------------------------------------------------------- the narrow row
-- Columns in alignment order: 8 + 4 + 4 + 4 + 2 + 2 = 24 bytes, no padding.
create table reading_rows (
    time    timestamptz not null,          -- the device's timestamp
    device  integer not null,              -- devices.key
    value   real not null,                 -- read back as round(value * scale) / scale
    seq     integer not null,              -- the device's sequence number, low 32 bits
    metric  smallint not null,             -- metrics.code
    rx_cs   smallint not null              -- gateway receive time - time, in 10 ms, saturated
);
select create_hypertable('reading_rows', by_range('time', interval '1 day'),
                         create_default_indexes => false);
-- Per-device queries (console, reports, the dedup look-up) find a device's rows by its key:
-- B-tree deduplication keeps one key per run of equal keys, ~6 bytes per reading. Time-range
-- scans (catch-up, rollups) use BRIN: rows arrive in time order.
create index reading_rows_device on reading_rows (device);
create index reading_rows_time_brin on reading_rows using brin (time) with (autosummarize = on);

-- The stored forms, for SQL writers (the view's trigger, this migration). Ingest computes the
-- same in numpy (ingest/copy_binary.py): seq modulo 2^32 as a signed integer; the receive-time
-- offset rounded half to even to 10 ms and saturated at +-32767 (+-327.67 s).
create function reading_seq(seq bigint) returns integer
    language sql immutable strict parallel safe
    return ((seq & 4294967295) - case when (seq & 4294967295) >= 2147483648
                                      then 4294967296 else 0 end)::integer;

create function reading_rx_cs(t timestamptz, gateway_ts timestamptz) returns smallint
    language sql immutable strict parallel safe
    return greatest(-32767, least(32767,
               round(extract(epoch from gateway_ts - t)::float8 * 100)))::smallint;

-- ---------------------------------------------------------------- existing data
alter table readings rename to readings_0020;

-- The community edition's rollup is a continuous aggregate on the old table: its minutes are
-- kept as a plain table (`vigil.db.timescale` puts them back under `readings_1m`).
do $$
begin
    if exists (select 1 from pg_class where relname = 'readings_1m' and relkind = 'v') then
        create table readings_1m_0020 as select * from readings_1m;
        drop materialized view readings_1m;
    end if;
end $$;

insert into reading_rows (time, device, value, seq, metric, rx_cs)
select r.time, d.key, r.value, reading_seq(r.seq), m.code, reading_rx_cs(r.time, r.gateway_ts)
from readings_0020 r
join devices d on d.id = r.device_id
join metrics m on m.name = r.metric;

-- Rows of a device no longer in the registry, or of a metric no longer known, have no key:
-- they are kept as they were, not dropped.
do $$
declare
    left_over bigint;
begin
    select count(*) into left_over from readings_0020 r
    where not exists (select 1 from devices d where d.id = r.device_id)
       or not exists (select 1 from metrics m where m.name = r.metric);
    if left_over > 0 then
        create table readings_unkeyed as
        select * from readings_0020 r
        where not exists (select 1 from devices d where d.id = r.device_id)
           or not exists (select 1 from metrics m where m.name = r.metric);
        raise notice 'readings: % rows without a device or metric key kept in readings_unkeyed',
            left_over;
    end if;
end $$;

drop table readings_0020;

-- ---------------------------------------------------------------- the readable shape
create view readings as
select r.time,
       d.id as device_id,
       m.name as metric,
       round(r.value * m.scale) / m.scale as value,
       r.seq::int8 & 4294967295 as seq,
       r.time + r.rx_cs * interval '10 milliseconds' as gateway_ts
from reading_rows r
join devices d on d.key = r.device
join metrics m on m.code = r.metric;

-- Writes through the view, for people and tests; ingest COPYs into reading_rows.
create function readings_write() returns trigger language plpgsql as $$
declare
    device_key integer;
    metric_code smallint;
begin
    select key into device_key from devices where id = coalesce(new.device_id, old.device_id);
    select code into metric_code from metrics where name = coalesce(new.metric, old.metric);
    if tg_op = 'DELETE' then
        delete from reading_rows
        where device = device_key and metric = metric_code and time = old.time
          and seq = reading_seq(old.seq);
        return old;
    end if;
    if device_key is null or metric_code is null then
        raise foreign_key_violation using message = format(
            'readings: no key for device %L or metric %L', new.device_id, new.metric);
    end if;
    insert into reading_rows (time, device, value, seq, metric, rx_cs)
    values (new.time, device_key, new.value, reading_seq(new.seq), metric_code,
            reading_rx_cs(new.time, new.gateway_ts));
    return new;
end $$;

create trigger readings_write instead of insert or delete on readings
    for each row execute function readings_write();
