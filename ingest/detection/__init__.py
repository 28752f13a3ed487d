"""The detector stage inside ingest: committed batches scored by the numba engine (`detectors`),
its state checkpointed and caught up after a crash, its alerts written as `alerts` rows."""
