"""Stream gateway batches from MQTT into TimescaleDB, acknowledged only once committed."""
