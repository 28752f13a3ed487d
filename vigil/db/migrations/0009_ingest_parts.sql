-- Ingest commits each batch on several connections in parallel, split by device (ingest/parts.py),
-- so a message is claimed once per part: (message, part of parts). A claim then says that this
-- part's readings of the message are stored, and a crash between two parts' commits leaves the
-- other part unclaimed, to be stored when the message is redelivered. `parts` is part of the key
-- because the devices of part 1 of 2 are not those of part 1 of 3. Claims made before this
-- migration were whole messages: part 0 of 1.
alter table ingested_messages add column part smallint not null default 0;
alter table ingested_messages add column parts smallint not null default 1;
alter table ingested_messages drop constraint ingested_messages_pkey;
alter table ingested_messages add primary key (gateway_id, gateway_seq, sent, parts, part);
