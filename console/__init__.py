"""The console: its REST API, web client and live stream, served by `vigil console run`."""
