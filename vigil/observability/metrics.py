"""The metrics Vigil services export, defined once so dashboards and alert rules can rely on names.

Every metric is created unregistered and belongs to the group of the part that updates it. A
process exports only the groups it runs (`registry_for(INGEST, DETECTORS)` in an ingest worker,
which scores its batches in process), so the console does not publish an ingest lag of zero that
would drag down an average across services. Exported names carry the `vigil_` prefix;
docs/observability.md lists them with their labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
)
from prometheus_client.registry import Collector

NAMESPACE = "vigil"

# One database transaction of a batch; ingest's deadline is 0.1 s, so the buckets centre there.
COMMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Our bar is well under one second; the standards' figures (10 s GB 26875.1, 90 s and 180 s
# NFPA 72 / telecare practice) are the upper buckets, so a breach of each shows on its own.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 90.0, 180.0,
)  # fmt: skip

# The hops an alarm takes, in order; `end_to_end` is the device's timestamp to the operator's
# screen. A closed set keeps the label's cardinality fixed and catches typos at the call site.
ALARM_HOPS = (
    "device_to_gateway",
    "gateway_to_ingest",
    "ingest_to_commit",
    "commit_to_alert",
    "alert_to_incident",
    "incident_to_console",
    "incident_to_notification",
    "end_to_end",
)


@dataclass(frozen=True)
class MetricGroup:
    """The metrics one part of Vigil updates."""

    name: str
    metrics: tuple[Collector, ...]


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
    return Counter(name, doc, labels, namespace=NAMESPACE, registry=None)


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
    return Gauge(name, doc, labels, namespace=NAMESPACE, registry=None)


def _histogram(
    name: str, doc: str, buckets: tuple[float, ...], labels: tuple[str, ...] = ()
) -> Histogram:
    return Histogram(name, doc, labels, namespace=NAMESPACE, registry=None, buckets=buckets)


# ---- every service
BUILD_INFO = Info("build", "the running Vigil version", namespace=NAMESPACE, registry=None)
HEALTH_CHECK_UP = _gauge("health_check_up", "1 while the named health check passes", ("check",))
CLOCK_SKEW_TOTAL = _counter(
    "alarm_hop_clock_skew", "hop latencies that came out negative (clocks disagree)", ("hop",)
)

# ---- ingest
INGEST_MESSAGES_TOTAL = _counter(
    "ingest_messages",
    "uplink messages, by outcome: committed, duplicate, dead_letter",
    ("outcome",),
)
INGEST_READINGS_TOTAL = _counter(
    "ingest_readings", "readings, by outcome: stored, duplicate", ("outcome",)
)
INGEST_EVENTS_TOTAL = _counter(
    "ingest_events", "device events, by outcome: stored, duplicate", ("outcome",)
)
INGEST_DEAD_LETTERS_TOTAL = _counter(
    "ingest_dead_letters", "dead-letter rows written, by reason", ("reason",)
)
INGEST_COMMIT_SECONDS = _histogram(
    "ingest_commit_seconds", "duration of one batch transaction", COMMIT_BUCKETS
)
INGEST_LAG_SECONDS = _gauge(
    "ingest_lag_seconds",
    "now minus the gateway send time of the newest committed message "
    "(use set_function so a stalled worker shows a growing lag)",
)
INGEST_PENDING_MESSAGES = _gauge(
    "ingest_pending_messages", "messages received but not yet committed and acknowledged"
)
INGEST_PARTITION_HELD = _gauge(
    "ingest_partition_held",
    "1 for each partition this claiming worker holds, else 0",
    ("partition",),
)
INGEST_WORKERS = _gauge(
    "ingest_workers", "live claiming workers this one sees sharing its partitions (itself included)"
)
INGEST_PARTITION_CHANGES_TOTAL = _counter(
    "ingest_partition_changes",
    "partitions claimed or let go, by change: claimed, released, fenced, failed, stopped",
    ("change",),
)
BROKER_DROPPED_MESSAGES = _gauge(
    "broker_dropped_messages",
    "messages the broker dropped from full session queues since it started ($SYS)",
)
BROKER_STORE_BYTES = _gauge(
    "broker_store_bytes", "bytes the broker holds in session queues and retained messages ($SYS)"
)

# ---- gateways
GATEWAY_QUEUE_DEPTH = _gauge(
    "gateway_queue_depth", "uplink messages buffered for the broker", ("gateway",)
)
GATEWAY_DROPPED_TELEMETRY_TOTAL = _counter(
    "gateway_dropped_telemetry",
    "telemetry messages dropped from a full buffer (events are never dropped)",
    ("gateway",),
)
GATEWAY_PUBLISHED_TOTAL = _counter(
    "gateway_published",
    "uplink messages the broker acknowledged, by kind: telemetry, event",
    ("gateway", "kind"),
)
GATEWAY_REJECTED_FRAMES_TOTAL = _counter(
    "gateway_rejected_frames", "device frames refused by validation", ("gateway",)
)

# ---- detectors
DETECTOR_READINGS_TOTAL = _counter("detector_readings", "readings scored by the detectors")
DETECTOR_ALERTS_TOTAL = _counter(
    "detector_alerts", "alerts raised, by detector kind and signal class", ("kind", "signal")
)
DETECTOR_BATCH_SECONDS = _histogram(
    "detector_batch_seconds", "scoring one decoded batch", COMMIT_BUCKETS
)

# ---- alerting
INCIDENTS = _gauge(
    "incidents", "incidents in each state, as last read from the database", ("state",)
)
ALERTING_ALERTS_CLAIMED_TOTAL = _counter(
    "alerting_alerts_claimed", "detector alerts claimed and joined to an incident"
)
ALERTING_ESCALATIONS_TOTAL = _counter(
    "alerting_escalations", "escalations, by the tier reached", ("tier",)
)
ALARM_HOP_LATENCY_SECONDS = _histogram(
    "alarm_hop_latency_seconds", "time an alarm spent on each hop", LATENCY_BUCKETS, ("hop",)
)

# ---- notifier
NOTIFICATIONS_SENT_TOTAL = _counter(
    "notifications_sent", "notifications the channel accepted", ("channel",)
)
NOTIFICATIONS_FAILED_TOTAL = _counter(
    "notifications_failed", "notification attempts that failed", ("channel",)
)
NOTIFICATION_OUTBOX_PENDING = _gauge(
    "notification_outbox_pending", "outbox rows waiting to be sent", ("channel",)
)

# ---- console
CONSOLE_LIVE_CLIENTS = _gauge("console_live_clients", "open live-stream connections")
CONSOLE_ACTIONS_TOTAL = _counter(
    "console_actions", "operator actions on incidents, by action", ("action",)
)

# ---- the broker login check (EMQX, vigil/broker_login.py)
BROKER_SESSION_ENDS_TOTAL = _counter(
    "broker_session_ends",
    "a revoked, retired or re-keyed gateway's live session on EMQX, by what its API answered "
    "(unconfirmed: no answer after the retries, the session may live until it reconnects)",
    ("outcome",),
)
BROKER_LOGINS_TOTAL = _counter(
    "broker_logins",
    "logins EMQX asked about, by outcome: allowed, bad_password, foreign_client_id (a takeover "
    "attempt), unknown_user, bad_request (no secret, not EMQX's form), registry_error",
    ("outcome",),
)

COMMON = MetricGroup("common", (BUILD_INFO, HEALTH_CHECK_UP, CLOCK_SKEW_TOTAL))
INGEST = MetricGroup(
    "ingest",
    (
        INGEST_MESSAGES_TOTAL,
        INGEST_READINGS_TOTAL,
        INGEST_EVENTS_TOTAL,
        INGEST_DEAD_LETTERS_TOTAL,
        INGEST_COMMIT_SECONDS,
        INGEST_LAG_SECONDS,
        INGEST_PENDING_MESSAGES,
        INGEST_PARTITION_HELD,
        INGEST_WORKERS,
        INGEST_PARTITION_CHANGES_TOTAL,
        BROKER_DROPPED_MESSAGES,
        BROKER_STORE_BYTES,
    ),
)
GATEWAY = MetricGroup(
    "gateway",
    (
        GATEWAY_QUEUE_DEPTH,
        GATEWAY_DROPPED_TELEMETRY_TOTAL,
        GATEWAY_PUBLISHED_TOTAL,
        GATEWAY_REJECTED_FRAMES_TOTAL,
    ),
)
DETECTORS = MetricGroup(
    "detectors", (DETECTOR_READINGS_TOTAL, DETECTOR_ALERTS_TOTAL, DETECTOR_BATCH_SECONDS)
)
ALERTING = MetricGroup(
    "alerting",
    (
        INCIDENTS,
        ALERTING_ALERTS_CLAIMED_TOTAL,
        ALERTING_ESCALATIONS_TOTAL,
        ALARM_HOP_LATENCY_SECONDS,
    ),
)
NOTIFIER = MetricGroup(
    "notifier", (NOTIFICATIONS_SENT_TOTAL, NOTIFICATIONS_FAILED_TOTAL, NOTIFICATION_OUTBOX_PENDING)
)
CONSOLE = MetricGroup(
    "console", (CONSOLE_LIVE_CLIENTS, CONSOLE_ACTIONS_TOTAL, BROKER_SESSION_ENDS_TOTAL)
)
BROKER_LOGIN = MetricGroup("broker_login", (BROKER_LOGINS_TOTAL,))
GROUPS = (COMMON, INGEST, GATEWAY, DETECTORS, ALERTING, NOTIFIER, CONSOLE, BROKER_LOGIN)


def _vigil_version() -> str:
    try:
        return version("vigil")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


BUILD_INFO.info({"version": _vigil_version()})


def registry_for(*groups: MetricGroup, process: bool = True) -> CollectorRegistry:
    """A registry with the common metrics, the given groups and (by default) the process's own.

    The process collectors (CPU, memory, open files, GC) are the ones prometheus_client keeps
    in its default registry; they are shared, read-only views, so several registries may hold them.
    """
    registry = CollectorRegistry()
    seen: set[str] = set()
    for group in (COMMON, *groups):
        if group.name in seen:
            continue
        seen.add(group.name)
        for metric in group.metrics:
            registry.register(metric)
    if process:
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    return registry


def observe_hop(hop: str, seconds: float) -> None:
    """Record one hop of one alarm; a negative time (clock skew) is counted, not observed."""
    if hop not in ALARM_HOPS:
        raise ValueError(f"unknown alarm hop {hop!r}; the hops are {', '.join(ALARM_HOPS)}")
    if seconds < 0:
        CLOCK_SKEW_TOTAL.labels(hop=hop).inc()
        return
    ALARM_HOP_LATENCY_SECONDS.labels(hop=hop).observe(seconds)
