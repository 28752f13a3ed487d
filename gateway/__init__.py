"""MQTT gateways: bridge many devices onto the broker with store-and-forward."""
