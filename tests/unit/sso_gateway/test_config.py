"""`ingest.sso_gateway` in `pipeline check-config`: the example passes; mistakes are named with their path."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import check_config, load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "pipeline.example.yaml"


def test_example_gateway_section_is_complete() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.ingest is not None and cfg.ingest.sso_gateway is not None
    gw = cfg.ingest.sso_gateway
    assert gw.methods == ["oidc", "ldap"] and gw.method == "oidc"
    assert gw.redirect_uri == "https://ingest.acme.example.com/sso/oidc/callback"
    assert cfg.ingest.gateway_corp().name == "acme"


def write(tmp_path: Path, gateway: dict[str, object], corp_secrets: dict[str, str] | None = None) -> Path:
    corp = {"name": "acme", "corp_id": "wm1", "secrets": corp_secrets or {"sso": "env:SSO"}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"ingest": {"corps": [corp], "sso_gateway": gateway}}))
    return path


GOOD: dict[str, object] = {
    "public_url": "https://gw.example.com", "secret": "env:GW", "domains": ["example.com"],
    "oidc": {"issuer": "https://idp.example.com", "client_id": "c", "client_secret": "env:CS"},
}


def test_mistakes_are_named(tmp_path: Path) -> None:
    assert check_config(write(tmp_path, GOOD)) == []
    cases: list[tuple[dict[str, object], str]] = [
        ({**GOOD, "oidc": None}, "at least one login method"),
        ({**GOOD, "secret": "plain-text-secret"}, "secret reference"),
        ({**GOOD, "oidc": {**GOOD["oidc"], "client_secret": "inline"}}, "secret reference"),  # type: ignore[dict-item]
        ({**GOOD, "oidc": {**GOOD["oidc"], "algorithms": ["HS256"]}}, "ID token algorithms"),  # type: ignore[dict-item]
        ({**GOOD, "oidc": {**GOOD["oidc"], "scopes": ["email"]}}, "openid"),  # type: ignore[dict-item]
        ({**GOOD, "shared": [{"mailbox": "cs@other.com", "groups": ["cs"]}]}, "outside domains"),
        ({**GOOD, "shared": [{"mailbox": "cs@example.com", "groups": []}]}, "at least 1"),
        ({**GOOD, "default_method": "ldap"}, "not configured"),
        ({**GOOD, "corp": "nope"}, "not in corps"),
        ({**GOOD, "ldap": {"url": "ldap://x", "bind_dn": "cn=r", "bind_password": "env:P", "user_base": "o=x",
                           "group_base": "o=x", "user_filter": "(uid={user})"}}, "{username}"),
    ]
    for gateway, words in cases:
        issues = check_config(write(tmp_path, gateway))
        assert any(words in i.message and i.path.startswith("ingest") for i in issues), (words, issues)
    issues = check_config(write(tmp_path, GOOD, corp_secrets={"contact": "env:C"}))
    assert any("secrets.sso" in i.message for i in issues)


def test_cli_resolves_the_gateway_secrets(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name in ("SSO", "GW", "CS"):
        monkeypatch.delenv(name, raising=False)
    path = write(tmp_path, GOOD)
    result = CliRunner().invoke(main, ["check-config", str(path), "--resolve-secrets"])
    assert result.exit_code == 1
    for where in ("ingest.sso_gateway.secret", "ingest.sso_gateway.oidc.client_secret"):
        assert where in result.output


def test_short_gateway_secret_is_named(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name, value in (("SSO", "x"), ("GW", "too-short"), ("CS", "y")):
        monkeypatch.setenv(name, value)
    issues = check_config(write(tmp_path, GOOD), resolve_secrets=True)
    assert [(i.path, "32 characters" in i.message) for i in issues] == [("ingest.sso_gateway.secret", True)]
    monkeypatch.setenv("GW", "g" * 32)
    assert check_config(write(tmp_path, GOOD), resolve_secrets=True) == []
