-- Whole-message deduplication that can be pruned: ingested_messages becomes a hypertable on the
-- gateway's send time, so remembering a day of messages costs one chunk and forgetting it costs
-- a drop_chunks, not a DELETE of millions of rows. A redelivery carries the same payload, hence
-- the same `sent`; keying on it as well also keeps a gateway whose counter restarted (a wiped
-- disk) from having its new messages taken for old ones.

alter table ingested_messages rename to ingested_messages_0001;
alter table ingested_messages_0001 rename constraint ingested_messages_pkey to ingested_messages_0001_pkey;

create table ingested_messages (
    gateway_id   text not null,
    gateway_seq  bigint not null,
    sent         timestamptz not null,           -- the gateway's send time, from the message
    received_at  timestamptz not null default now(),
    primary key (gateway_id, gateway_seq, sent)
);
select create_hypertable(
    'ingested_messages', by_range('sent', interval '1 day'), create_default_indexes => false
);

insert into ingested_messages (gateway_id, gateway_seq, sent, received_at)
select gateway_id, gateway_seq, received_at, received_at from ingested_messages_0001;

drop table ingested_messages_0001;

-- Raw readings arrive in time order, so a BRIN index serves time-range scans (rollup refresh)
-- at a fraction of a B-tree's insert cost: measured with binary COPY into `readings`, the
-- default B-tree on time took more of the insert time than the (device_id, time) index that
-- per-device queries need (docs/performance.md).
drop index if exists readings_time_idx;
create index readings_time_brin on readings using brin (time) with (autosummarize = on);
