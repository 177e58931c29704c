"""Secrets never leave the process: scrubbing (keys, text, live values, links) and secret references."""

from __future__ import annotations

import pytest

from pipeline.secrets import REDACTED, SecretResolutionError, is_masked, resolve_secret, scrub, scrub_text


def test_scrub_masks_secret_keys_at_any_depth() -> None:
    out = scrub({"corpsecret": "S3CRET", "nested": [{"access_token": "TOK", "userid": "a@x.com"}],
                 "EncodingAESKey": "K" * 43})
    assert out == {"corpsecret": REDACTED, "nested": [{"access_token": REDACTED, "userid": "a@x.com"}],
                   "EncodingAESKey": REDACTED}


@pytest.mark.parametrize(("text", "leak"), [
    ("GET /cgi-bin/user/get?access_token=abc123&userid=x", "abc123"),
    ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=ROBOTKEY", "ROBOTKEY"),
    ("Authorization: Bearer eyJhbGciOi.x.y", "eyJhbGciOi"),
    ("Authorization: Splunk 1111-2222", "1111-2222"),
    ("postgresql://exmail:pa55word@127.0.0.1:15432/exmail", "pa55word"),
])
def test_scrub_text_masks_secrets_in_urls_headers_and_dsns(text: str, leak: str) -> None:
    out = scrub_text(text)
    assert leak not in out and REDACTED in out


def test_scrub_replaces_known_live_secret_values_anywhere() -> None:
    assert scrub({"note": "the key is Zz9"}, frozenset({"Zz9"})) == {"note": f"the key is {REDACTED}"}


def test_resolve_secret_from_env_and_file(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EXMAIL_TEST_SECRET", "from-env")
    f = tmp_path / "s"
    f.write_text("from-file\n")
    assert resolve_secret("env:EXMAIL_TEST_SECRET") == "from-env"
    assert resolve_secret(f"file:{f}") == "from-file"


def test_resolve_secret_refuses_inline_and_names_missing_reference_without_value(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("EXMAIL_NOPE", raising=False)
    with pytest.raises(SecretResolutionError, match="EXMAIL_NOPE"):
        resolve_secret("env:EXMAIL_NOPE")
    with pytest.raises(SecretResolutionError, match="not inline") as exc:
        resolve_secret("plain-secret-value")
    assert "plain-secret-value" not in str(exc.value)


@pytest.mark.parametrize("text,leak", [
    ("open https://pipeline.example/sso?t=eyJjIjoid20xIiwidSI6ImFAeC5jb20ifQ.q2Vb0mNf7Tn3xYc9LrA1s2D3", "q2Vb0mNf"),
    ("POST https://open.feishu.cn/open-apis/bot/v2/hook/6f1c2a3b-9d8e-4c7b-a6f5-0e1d2c3b4a59 failed", "6f1c2a3b"),
    ("https://hooks.slack.com/services/T0001/B0002/AbCdEfGh1234 said 404", "AbCdEfGh1234"),
    ("X-HR-Signature: sha256=" + "9f" * 32, "9f9f9f9f"),
    ("approve https://w/actions/api/actions/abc/approve?token=1700000000.deadbeefcafe", "deadbeefcafe"),
    ("https://oapi.dingtalk.com/robot/send?access_token=abcd1234&timestamp=1&sign=Zm9vYmFy", "Zm9vYmFy"),
    ('errmsg: echo body={"timestamp": "1700000000", "sign": "q8Zx+1k/2Lm="}', "q8Zx+1k"),
])
def test_scrub_text_masks_links_path_tokens_and_signatures(text: str, leak: str) -> None:
    out = scrub_text(text)
    assert leak not in out and REDACTED in out


def test_scrub_text_keeps_ordinary_text_and_paths() -> None:
    plain = "GET /cgi-bin/webhook/send?debug=1 took t=5s; see /hooks/readme"
    assert scrub_text(plain) == plain


def test_is_masked_finds_masked_values_at_any_depth() -> None:
    assert is_masked({"a": [{"url": f"https://x/sso?t={REDACTED}"}]})
    assert not is_masked({"a": ["fine"], "n": 3})
