"""Every Prometheus metric the pipeline exports, defined in one place so dashboards and alerts have one list.

Labels never carry secrets or unbounded values (no userids, no URLs with keys): corp, stream, kind, receiver
names come from config.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_LAT = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# --- Exmail API client
API_REQUESTS = Counter("exmail_api_requests_total", "Exmail API calls by endpoint and outcome",
                       ["corp", "app", "endpoint", "outcome"], registry=REGISTRY)
API_ERRORS = Counter("exmail_api_errors_total", "Exmail API errors by errcode", ["corp", "endpoint", "errcode"],
                     registry=REGISTRY)
API_LATENCY = Histogram("exmail_api_request_seconds", "Exmail API call latency", ["corp", "endpoint"],
                        buckets=_LAT, registry=REGISTRY)
API_RETRIES = Counter("exmail_api_retries_total", "Exmail API retries by reason", ["corp", "endpoint", "reason"],
                      registry=REGISTRY)
TOKEN_REFRESHES = Counter("exmail_token_refreshes_total", "access_token fetches", ["corp", "app"],
                          registry=REGISTRY)
RATE_LIMIT_WAIT = Histogram("exmail_rate_limit_wait_seconds", "time spent waiting on client-side token buckets",
                            ["corp", "bucket"], buckets=_LAT, registry=REGISTRY)

# --- sources
POLL_LATENCY = Histogram("exmail_poll_seconds", "duration of one poll run", ["corp", "stream"], buckets=_LAT,
                         registry=REGISTRY)
POLL_LAG = Gauge("exmail_poll_lag_seconds", "now minus the end of the last fully delivered poll window",
                 ["corp", "stream"], registry=REGISTRY)
LAST_POLL_SUCCESS = Gauge("exmail_poll_last_success_timestamp_seconds", "unix time of the last successful poll",
                          ["corp", "stream"], registry=REGISTRY)
RECORDS_PRODUCED = Counter("exmail_records_produced_total", "records delivered to Kafka by sources",
                           ["corp", "stream"], registry=REGISTRY)
DEDUP_HITS = Counter("exmail_dedup_hits_total", "records skipped because their fingerprint was already emitted",
                     ["corp", "stream"], registry=REGISTRY)
SOURCE_ERRORS = Counter("exmail_source_errors_total", "poll/ingest errors", ["corp", "stream", "reason"],
                        registry=REGISTRY)
CALLBACK_REQUESTS = Counter("exmail_callback_requests_total", "callback pushes by outcome",
                            ["corp", "msg_type", "outcome"], registry=REGISTRY)
CALLBACK_REJECTIONS = Counter("exmail_callback_rejections_total", "callback pushes refused, by reason",
                              ["reason"], registry=REGISTRY)
DEDUP_STATE_ENTRIES = Gauge("exmail_dedup_state_entries", "fingerprints held for open windows",
                            ["corp", "stream"], registry=REGISTRY)

# --- transforms
TRANSFORM_RECORDS = Counter("exmail_transform_records_total", "records processed by a transform",
                            ["transform", "outcome"], registry=REGISTRY)
TRANSFORM_LATENCY = Histogram("exmail_transform_seconds", "per-record transform time", ["transform"],
                              buckets=_LAT, registry=REGISTRY)
CONSUMER_LAG = Gauge("exmail_consumer_lag_records", "high watermark minus committed offset", ["group", "topic"],
                     registry=REGISTRY)
CONSUMER_STALLS = Counter("exmail_consumer_stalls_total",
                          "partitions found stalled: lag and no committed progress for the stall window",
                          ["group", "topic"], registry=REGISTRY)
CONSUMER_STALLED = Gauge("exmail_consumer_stalled_partitions", "assigned partitions stalled right now", ["group"],
                         registry=REGISTRY)
REBALANCES = Counter("exmail_consumer_rebalances_total", "partition assignments and revocations seen",
                     ["group", "event"], registry=REGISTRY)
EVENT_LOOP_BLOCKS = Counter("exmail_event_loop_blocks_total",
                            "times the process's event loop stopped turning for longer than the watchdog threshold",
                            registry=REGISTRY)
AGENT_CRASHES = Counter("exmail_agent_crashes_total", "stream agents that raised and were restarted", ["agent"],
                        registry=REGISTRY)
DLQ_RECORDS = Counter("exmail_dlq_records_total", "records dead-lettered", ["stage", "error_type"],
                      registry=REGISTRY)

# --- alerting
ALERTS = Counter("exmail_alerts_total", "alerts raised by rule", ["rule", "severity"], registry=REGISTRY)
NOTIFICATIONS = Counter("exmail_notifications_total", "notifications emitted by reason", ["receiver", "reason"],
                        registry=REGISTRY)
ALERTS_SUPPRESSED = Counter("exmail_alerts_suppressed_total", "alerts muted", ["reason"], registry=REGISTRY)
DELIVERIES = Counter("exmail_deliveries_total", "delivery outcomes", ["receiver", "kind", "outcome"],
                     registry=REGISTRY)
DELIVERY_LATENCY = Histogram("exmail_delivery_seconds", "send latency per receiver (all attempts)",
                             ["receiver", "kind"], buckets=_LAT, registry=REGISTRY)
DELIVERY_RETRIES = Counter("exmail_delivery_retries_total", "delivery retries by reason", ["receiver", "reason"],
                           registry=REGISTRY)
DELIVERY_BACKLOG = Gauge("exmail_delivery_backlog_notifications",
                         "notifications taken for a receiver and not yet finished (queued + in flight)", ["receiver"],
                         registry=REGISTRY)
DELIVERY_BACKLOG_AGE = Gauge("exmail_delivery_backlog_oldest_seconds",
                             "age of a receiver's oldest unfinished notification (0 when none)", ["receiver"],
                             registry=REGISTRY)
DELIVERY_COALESCED = Counter("exmail_delivery_coalesced_total",
                             "queued notifications replaced by a newer one of the same group (latest state sent)",
                             ["receiver"], registry=REGISTRY)
DELIVERY_RESUMED = Counter("exmail_delivery_resumed_total",
                           "notifications continued at their next undelivered part after a restart", ["receiver"],
                           registry=REGISTRY)
TOKEN_BUCKET_WAIT = Histogram("exmail_token_bucket_wait_seconds", "time a send waited for its destination's bucket",
                              ["receiver"], buckets=_LAT, registry=REGISTRY)

# --- sinks
SINK_RECORDS = Counter("exmail_sink_records_total", "records written by a sink", ["sink", "outcome"],
                       registry=REGISTRY)
SINK_BATCH_SIZE = Histogram("exmail_sink_batch_records", "records per sink batch", ["sink"],
                            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000), registry=REGISTRY)
SINK_LATENCY = Histogram("exmail_sink_batch_seconds", "time to make one batch durable", ["sink"], buckets=_LAT,
                         registry=REGISTRY)
SINK_RETRIES = Counter("exmail_sink_retries_total", "sink batch retries", ["sink", "reason"], registry=REGISTRY)

# --- actions
ACTIONS = Counter("exmail_actions_total", "automated actions by kind and outcome", ["action", "outcome"],
                  registry=REGISTRY)

# --- SSO gateway (pipeline/sso_gateway): reason is "" for allowed logins, else a refusal reason code
SSO_GATEWAY_LOGINS = Counter("exmail_sso_gateway_logins_total", "SSO gateway logins by method, outcome and reason",
                             ["method", "outcome", "reason"], registry=REGISTRY)

# --- audit storage and SIEM sinks (pipeline/sinks/_batching.py)
SINK_QUEUE_RECORDS = Gauge("exmail_sink_queue_records", "records a sink holds (queued + in flight, not yet acked)",
                           ["sink"], registry=REGISTRY)

# --- delivery sinks (pipeline/sinks/delivery): why notifications were not delivered
DELIVERY_FAILURES = Counter("exmail_delivery_failures_total",
                            "notifications failed or dead-lettered, by the last error's reason",
                            ["receiver", "kind", "outcome", "reason"], registry=REGISTRY)

# --- SSE stream for custom clients (pipeline/sinks/sse)
SSE_CLIENTS = Gauge("exmail_sse_clients", "SSE streams currently open", registry=REGISTRY)
SSE_EVENTS = Counter("exmail_sse_events_total", "records sent to SSE clients, by kind",
                     ["stream"], registry=REGISTRY)
SSE_DROPPED_CLIENTS = Counter(
    "exmail_sse_dropped_clients_total", "SSE streams the server ended: overflow (slow client), kafka_error, "
    "shutdown, error", ["reason"], registry=REGISTRY)

# --- operator surfaces (pipeline/auth)
AUTH_FAILURES = Counter("exmail_auth_failures_total",
                        "HTTP requests refused by authentication/authorization: missing, invalid, forbidden, "
                        "rate_limited, undeclared (a route without an access declaration)",
                        ["process", "reason"], registry=REGISTRY)
SSO_LINKS = Counter("exmail_sso_links_total", "SSO link clicks by outcome: redirected, preview, refused reason",
                    ["outcome"], registry=REGISTRY)
