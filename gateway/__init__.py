"""The gateway: device frames in over a local socket, batched MQTT messages out, nothing lost."""
