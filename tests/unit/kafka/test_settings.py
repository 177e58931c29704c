"""Where the broker is: EXMAIL_KAFKA_BOOTSTRAP, then the env file ops/kafka/kafka.sh writes, then the default."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.kafka.settings import DEFAULT_BOOTSTRAP, KafkaSettings, bootstrap_from_env


def test_environment_wins_over_the_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "env").write_text("OTHER=1\nEXMAIL_KAFKA_BOOTSTRAP=10.0.0.5:9092\n")
    monkeypatch.setenv("EXMAIL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("EXMAIL_KAFKA_BOOTSTRAP", "broker:1234")
    assert bootstrap_from_env() == "broker:1234"
    monkeypatch.delenv("EXMAIL_KAFKA_BOOTSTRAP")
    assert bootstrap_from_env() == "10.0.0.5:9092"
    assert KafkaSettings().bootstrap == "10.0.0.5:9092"


def test_default_when_neither_is_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXMAIL_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("EXMAIL_KAFKA_BOOTSTRAP", raising=False)
    assert bootstrap_from_env() == DEFAULT_BOOTSTRAP


def test_settings_refuse_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError, match="bootstrap_servers"):
        KafkaSettings.model_validate({"bootstrap_servers": "x:1"})
    with pytest.raises(ValidationError, match="compression"):
        KafkaSettings(bootstrap="x:1", compression="brotli")
    with pytest.raises(ValidationError, match="partitions"):
        KafkaSettings(bootstrap="x:1", partitions=0)
