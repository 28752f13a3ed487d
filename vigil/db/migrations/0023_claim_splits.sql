-- The splits claims were made under (issue 23). A message part is claimed as (message, part of
-- parts) (migration 0009); a claim of the same message under another `parts` says that some of
-- it may be stored, so ingest probed `ingested_messages` once per claimed message for one:
-- with a week of claims, two thirds of the claim's PostgreSQL CPU (docs/performance.md). Now
-- each split keeps here, per kind of message (its topic's tail: telemetry and events are
-- claimed by lanes with different splits), at least the newest `sent` it claimed less an hour,
-- raised in the claim's own statement. A batch's messages can have a claim under another split
-- only if that split's `newest` is at most an hour before the batch's oldest `sent`; otherwise
-- the probes are skipped. Rows stay: a split unused for an hour costs nothing.
create table claim_splits (
    kind    text not null check (kind in ('up/telemetry', 'up/event')),
    parts   smallint not null check (parts >= 1),
    newest  timestamptz not null,
    primary key (kind, parts)
);

-- Claims made so far do not say their kind: both kinds, each split's newest.
insert into claim_splits (kind, parts, newest)
select k.kind, m.parts, max(m.sent)
from ingested_messages m, (values ('up/telemetry'), ('up/event')) as k(kind)
group by k.kind, m.parts;
