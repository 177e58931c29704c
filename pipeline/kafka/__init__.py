"""Kafka plumbing shared by every unit: topic specs, the idempotent producer, consumer helpers."""

from pipeline.kafka.producer import DeliveryError, EventProducer, producer_config
from pipeline.kafka.settings import KafkaSettings, bootstrap_from_env
from pipeline.kafka.topics import TOPICS, TopicNames, TopicSpec, ensure_topics, grow_topics, partition_counts

__all__ = [
    "TOPICS",
    "DeliveryError",
    "EventProducer",
    "KafkaSettings",
    "TopicNames",
    "TopicSpec",
    "bootstrap_from_env",
    "ensure_topics",
    "grow_topics",
    "partition_counts",
    "producer_config",
]
