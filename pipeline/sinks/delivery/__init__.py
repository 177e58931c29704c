"""Shared pieces of the delivery sinks (WeCom robot/app, webhook, DingTalk, Feishu): the Notification input,
the DeliveryOutcome record, token buckets, the retry policy, error classification, UTF-8 byte splitting,
templates and the DeliverySink base. Build sinks from config with `pipeline.sinks.delivery.factory`."""

from pipeline.clock import SYSTEM_CLOCK, Clock, ManualClock
from pipeline.ratelimit import BucketGroup, KeyedBuckets, TokenBucket
from pipeline.sinks.delivery.errors import AttemptResult, ErrorClass
from pipeline.sinks.delivery.notification import AlertItem, Notification, NotificationError, SsoLink
from pipeline.sinks.delivery.outcome import DELIVERY_SCHEMA, DeliveryOutcome, dead_letter_for
from pipeline.sinks.delivery.retry import RetryPolicy, RetrySettings
from pipeline.sinks.delivery.sink import DeliverySink, EncodeError, Sink
from pipeline.sinks.delivery.splitting import Part, split_utf8, truncate_utf8

__all__ = [
    "DELIVERY_SCHEMA", "SYSTEM_CLOCK", "AlertItem", "AttemptResult", "BucketGroup", "Clock", "DeliveryOutcome",
    "DeliverySink", "EncodeError", "ErrorClass", "KeyedBuckets", "ManualClock", "Notification",
    "NotificationError", "Part", "RetryPolicy", "RetrySettings", "Sink", "SsoLink", "TokenBucket",
    "dead_letter_for", "split_utf8", "truncate_utf8",
]
