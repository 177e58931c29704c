"""Exmail event pipeline: Tencent Enterprise Email events into Kafka, out to alerts and audit storage."""

from pipeline.envelope import Envelope, fingerprint

__version__ = "0.1.0"

__all__ = ["Envelope", "__version__", "fingerprint"]
