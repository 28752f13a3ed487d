"""What every Vigil service shares for operations: metrics, health, structured logs.

A service that is not a FastAPI app starts it like this::

    configure_logging("ingest", settings.log_level)
    health = Health("ingest", {"broker": flag(lambda: counters.broker_up, "broker unreachable")})
    server = serve(settings, health, INGEST, DETECTORS)   # None when VIGIL_METRICS_PORT=0

and the console includes `vigil.observability.router.observability_router(registry, health)`
(kept out of this package's namespace so workers do not import FastAPI).
"""

from vigil.observability.health import Check, Health, HealthReport, Heartbeat, flag
from vigil.observability.logs import JsonFormatter, configure_logging
from vigil.observability.metrics import (
    ALARM_HOP_LATENCY_SECONDS,
    ALARM_HOPS,
    ALERTING,
    ALERTING_ALERTS_CLAIMED_TOTAL,
    ALERTING_ESCALATIONS_TOTAL,
    CONSOLE,
    CONSOLE_ACTIONS_TOTAL,
    CONSOLE_LIVE_CLIENTS,
    DETECTOR_ALERTS_TOTAL,
    DETECTOR_BATCH_SECONDS,
    DETECTOR_READINGS_TOTAL,
    DETECTORS,
    GATEWAY,
    GATEWAY_DROPPED_TELEMETRY_TOTAL,
    GATEWAY_PUBLISHED_TOTAL,
    GATEWAY_QUEUE_DEPTH,
    GATEWAY_REJECTED_FRAMES_TOTAL,
    GROUPS,
    INCIDENTS,
    INGEST,
    INGEST_COMMIT_SECONDS,
    INGEST_DEAD_LETTERS_TOTAL,
    INGEST_EVENTS_TOTAL,
    INGEST_LAG_SECONDS,
    INGEST_MESSAGES_TOTAL,
    INGEST_PARTITION_CHANGES_TOTAL,
    INGEST_PARTITION_HELD,
    INGEST_PENDING_MESSAGES,
    INGEST_READINGS_TOTAL,
    INGEST_WORKERS,
    NOTIFICATION_OUTBOX_PENDING,
    NOTIFICATIONS_FAILED_TOTAL,
    NOTIFICATIONS_SENT_TOTAL,
    NOTIFIER,
    MetricGroup,
    observe_hop,
    registry_for,
)
from vigil.observability.server import ObservabilityServer, serve

__all__ = [
    "ALARM_HOPS",
    "ALARM_HOP_LATENCY_SECONDS",
    "ALERTING",
    "ALERTING_ALERTS_CLAIMED_TOTAL",
    "ALERTING_ESCALATIONS_TOTAL",
    "CONSOLE",
    "CONSOLE_ACTIONS_TOTAL",
    "CONSOLE_LIVE_CLIENTS",
    "DETECTORS",
    "DETECTOR_ALERTS_TOTAL",
    "DETECTOR_BATCH_SECONDS",
    "DETECTOR_READINGS_TOTAL",
    "GATEWAY",
    "GATEWAY_DROPPED_TELEMETRY_TOTAL",
    "GATEWAY_PUBLISHED_TOTAL",
    "GATEWAY_QUEUE_DEPTH",
    "GATEWAY_REJECTED_FRAMES_TOTAL",
    "GROUPS",
    "INCIDENTS",
    "INGEST",
    "INGEST_COMMIT_SECONDS",
    "INGEST_DEAD_LETTERS_TOTAL",
    "INGEST_EVENTS_TOTAL",
    "INGEST_LAG_SECONDS",
    "INGEST_MESSAGES_TOTAL",
    "INGEST_PARTITION_CHANGES_TOTAL",
    "INGEST_PARTITION_HELD",
    "INGEST_PENDING_MESSAGES",
    "INGEST_READINGS_TOTAL",
    "INGEST_WORKERS",
    "NOTIFICATIONS_FAILED_TOTAL",
    "NOTIFICATIONS_SENT_TOTAL",
    "NOTIFICATION_OUTBOX_PENDING",
    "NOTIFIER",
    "Check",
    "Health",
    "HealthReport",
    "Heartbeat",
    "JsonFormatter",
    "MetricGroup",
    "ObservabilityServer",
    "configure_logging",
    "flag",
    "observe_hop",
    "registry_for",
    "serve",
]
