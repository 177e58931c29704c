"""Moved to pipeline.ratelimit (the project's one token bucket); kept so the delivery runtime's imports keep
working while it is rewritten. New code imports pipeline.ratelimit."""

from pipeline.ratelimit import (
    COLD_WINDOW_S,
    SHARED_BUCKETS,
    BucketGroup,
    BucketRegistry,
    KeyedBuckets,
    TokenBucket,
    acquire_all,
    window_bucket_factory,
)

__all__ = ["COLD_WINDOW_S", "SHARED_BUCKETS", "BucketGroup", "BucketRegistry", "KeyedBuckets", "TokenBucket",
           "acquire_all", "window_bucket_factory"]
