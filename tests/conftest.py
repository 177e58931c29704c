"""Session-wide services: a real Kafka broker and PostgreSQL, started by the project's ops scripts (or reused
when already running) and stopped at the end if this session started them."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address of a real broker; starts ops/kafka when none is running."""
    if os.environ.get("EXMAIL_KAFKA_BOOTSTRAP"):
        yield os.environ["EXMAIL_KAFKA_BOOTSTRAP"]
        return
    script = str(ROOT / "ops" / "kafka" / "kafka.sh")
    started = _run(script, "status").returncode != 0
    if started:
        res = _run(script, "start")
        if res.returncode != 0:
            pytest.fail(f"ops/kafka/kafka.sh start failed:\n{res.stderr[-3000:]}")
    from pipeline.kafka import bootstrap_from_env

    try:
        yield bootstrap_from_env()
    finally:
        if started and not os.environ.get("EXMAIL_KEEP_SERVICES"):
            _run(script, "stop")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a real PostgreSQL; starts ops/postgres when none is running."""
    if os.environ.get("EXMAIL_POSTGRES_DSN"):
        yield os.environ["EXMAIL_POSTGRES_DSN"]
        return
    script = str(ROOT / "ops" / "postgres" / "postgres.sh")
    started = _run(script, "status").returncode != 0
    if started:
        res = _run(script, "start")
        if res.returncode != 0:
            pytest.fail(f"ops/postgres/postgres.sh start failed:\n{res.stderr[-3000:]}")
    dsn = _run(script, "dsn").stdout.strip()
    try:
        yield dsn
    finally:
        if started and not os.environ.get("EXMAIL_KEEP_SERVICES"):
            _run(script, "stop")


@pytest.fixture
def topic_prefix() -> str:
    """A fresh topic-name prefix so tests never see each other's records."""
    return f"t{uuid.uuid4().hex[:10]}."


# CI runs hypothesis deterministically (the same examples every run); local runs keep exploring new ones.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")


class ApiTokens:
    """One bearer token per role, and `secure(app)` to put the production auth guard in front of an app
    (tests that serve a sub-application on its own)."""

    def __init__(self) -> None:
        import secrets as _secrets

        from pipeline.auth import Role

        self.tokens = {role.value: f"{role.value}-{_secrets.token_urlsafe(24)}" for role in Role}

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def secure(self, app: Any, process: str = "test") -> Any:
        from pipeline.auth import AuthConfig, Authenticator, Role, secure_app

        auth = Authenticator(AuthConfig(), extra_tokens=[
            (f"{role}-user", frozenset({Role(role)}), value) for role, value in self.tokens.items()])
        return secure_app(app, auth, process=process, host="127.0.0.1")


@pytest.fixture
def api_tokens() -> ApiTokens:
    return ApiTokens()
