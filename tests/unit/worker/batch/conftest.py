"""The batch consumer tests run against the in-process mock cluster defined once in tests/unit/kafka/conftest.py."""

from ...kafka.conftest import mock_kafka

__all__ = ["mock_kafka"]
