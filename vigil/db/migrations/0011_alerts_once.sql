-- An alert is written once: the detector stage runs before ingest acknowledges a message, so a
-- worker killed in between sees the message again and decides the same alert again (same
-- device, kind and device timestamp). alerting.intake skips such a repeat; this index finds it.
create index alerts_device_ts on alerts (device_id, ts);
