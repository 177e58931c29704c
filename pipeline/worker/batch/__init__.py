"""The batch path of the worker: confluent-kafka consumer-group members that read, process and commit a batch
at a time (normalize, audit, SIEM sinks), next to the faust agents that need tables (rules, dispatch)."""

from pipeline.worker.batch.consumer import BatchConsumer, ConsumeConfig, ConsumerProgress, PartitionProgress
from pipeline.worker.batch.output import produce_all

__all__ = ["BatchConsumer", "ConsumeConfig", "ConsumerProgress", "PartitionProgress", "produce_all"]
