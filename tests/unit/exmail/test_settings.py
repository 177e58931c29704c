"""Client settings: defaults, validation with field names, secrets kept in SecretStr, configurable base URL."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr
from pydantic import ValidationError as ConfigError

from pipeline.exmail import DEFAULT_BASE_URL, App, AppSecrets, ExmailClient, ExmailSettings, RetrySettings


def test_defaults_point_at_the_real_api_with_bounded_budgets() -> None:
    settings = ExmailSettings(corp_id="wm0123456789abcdef")
    assert settings.base_url == DEFAULT_BASE_URL == "https://api.exmail.qq.com/cgi-bin/"
    assert settings.log_span_days == 30
    assert settings.retry.max_attempts >= 1 and settings.retry.max_total_seconds > 0
    assert settings.token_refresh_margin_seconds > 0 and settings.per_user_concurrency >= 1


def test_base_url_gets_a_trailing_slash_and_must_be_http() -> None:
    assert ExmailSettings(corp_id="c", base_url="http://127.0.0.1:8080/cgi-bin").base_url == (
        "http://127.0.0.1:8080/cgi-bin/"
    )
    with pytest.raises(ConfigError, match="base_url"):
        ExmailSettings(corp_id="c", base_url="ftp://example.com/")


def test_unknown_setting_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigError, match="contact_secret"):
        ExmailSettings(corp_id="c", contact_secret="x")  # type: ignore[call-arg]


def test_the_five_app_secrets_are_secret_strings_hidden_in_reprs() -> None:
    secrets = AppSecrets(**{app.value: f"value-of-{app.value}" for app in App})
    for app in App:
        secret = secrets.for_app(app)
        assert isinstance(secret, SecretStr) and secret.get_secret_value() == f"value-of-{app.value}"
    assert "value-of" not in repr(secrets) and "value-of" not in repr(ExmailSettings(corp_id="c", secrets=secrets))


def test_retry_max_delay_must_not_be_below_base_delay() -> None:
    with pytest.raises(ConfigError, match="max_delay_seconds"):
        ExmailSettings(corp_id="c", retry=RetrySettings(base_delay_seconds=5, max_delay_seconds=1))


@pytest.mark.parametrize("field", ["per_user_concurrency", "max_connections"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ExmailSettings(corp_id="c", **{field: 0})


async def test_client_sends_to_the_configured_base_url(
    settings_factory: Callable[..., ExmailSettings],
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.scheme}://{request.url.host}:{request.url.port}{request.url.path}")
        if request.url.path.endswith("gettoken"):
            return httpx.Response(200, json={"errcode": 0, "access_token": "T" * 64, "expires_in": 7200})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "taglist": []})

    settings = settings_factory(base_url="http://127.0.0.1:18080/sim/cgi-bin")
    async with ExmailClient(settings, transport=httpx.MockTransport(handler)) as client:
        await client.tag_list()
    assert seen == ["http://127.0.0.1:18080/sim/cgi-bin/gettoken", "http://127.0.0.1:18080/sim/cgi-bin/tag/list"]
