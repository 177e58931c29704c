"""The client side of the guarded operator APIs, for the thin CLIs (`pipeline silence`, `pipeline actions`):
one request helper so both send the bearer token and report failures the same way."""

from __future__ import annotations

from typing import Any

import click
import httpx


def call_api(method: str, base: str, path: str, api_token: str | None, body: dict[str, Any] | None = None,
             *, api: str, timeout: float = 30.0) -> Any:
    """The JSON answer of `method base+path`; a ClickException naming `api` when it cannot be reached or
    answers an error (its `error` field, never the token)."""
    headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    try:
        response = httpx.request(method, base.rstrip("/") + path, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {api} at {base}: {type(exc).__name__}") from None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code >= 400:
        detail = payload.get("error") if isinstance(payload, dict) else response.text[:200]
        raise click.ClickException(f"{method} {path.split('?')[0]}: HTTP {response.status_code}: {detail}")
    return payload
