"""An httpx client for the simulator's /_sim/ admin API (what tests and the demo drive the simulator with)."""

from __future__ import annotations

from typing import Any

import httpx


class SimAdminError(RuntimeError):
    """The admin API refused a request; the message carries its error text."""


class SimAdminClient:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=f"{self.base_url}/_sim/", timeout=timeout)

    def __repr__(self) -> str:
        return f"SimAdminClient({self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        resp = await self._http.request(method, path, json=json, params=params)
        if resp.status_code >= 400:
            raise SimAdminError(f"{method} /_sim/{path} -> HTTP {resp.status_code}: {resp.text[:500]}")
        return resp.json()

    # clock
    async def clock(self) -> dict[str, Any]:
        return await self._call("GET", "clock")

    async def set_clock(self, time: float | str) -> dict[str, Any]:
        return await self._call("POST", "clock/set", {"time": time})

    async def advance(self, seconds: float) -> dict[str, Any]:
        return await self._call("POST", "clock/advance", {"seconds": seconds})

    async def pause(self) -> dict[str, Any]:
        return await self._call("POST", "clock/pause")

    async def resume(self) -> dict[str, Any]:
        return await self._call("POST", "clock/resume")

    async def set_speed(self, speed: float) -> dict[str, Any]:
        return await self._call("POST", "clock/speed", {"speed": speed})

    # truth and state
    async def truth(self, kind: str, date: str | None = None, visible_only: bool = False,
                    userid: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"visible": "visible" if visible_only else "all"}
        if date:
            params["date"] = date
        if userid:
            params["userid"] = userid
        body = await self._call("GET", f"truth/{kind}", params=params)
        return body["records"]

    async def directory(self) -> dict[str, Any]:
        return await self._call("GET", "state/directory")

    async def options(self) -> dict[str, Any]:
        return await self._call("GET", "state/options")

    async def stats(self) -> dict[str, Any]:
        return await self._call("GET", "stats")

    async def agreement(self) -> dict[str, Any]:
        """The agreement checker's verdict now: operation log vs directory vs mail/login logs."""
        return await self._call("GET", "agreement")

    async def set_choices(self, **choices: Any) -> dict[str, Any]:
        return await self._call("POST", "choices", choices)

    # faults and tokens
    async def add_fault(self, **rule: Any) -> dict[str, Any]:
        body = await self._call("POST", "faults", rule)
        return body["added"][0]

    async def clear_faults(self) -> None:
        await self._call("DELETE", "faults")

    async def expire_tokens(self, mode: str = "expire", app: str | None = None) -> int:
        body = await self._call("POST", "tokens/expire", {"mode": mode, "app": app})
        return int(body["affected"])

    # callback and mail
    async def register_callback(self, url: str, verify: bool = False, **options: Any) -> dict[str, Any]:
        return await self._call("POST", "callback", {"url": url, "verify": verify, **options})

    async def verify_callback(self) -> dict[str, Any]:
        return await self._call("POST", "callback/verify")

    async def pushes(self, wait: bool = True, max_wait: float = 10.0) -> list[dict[str, Any]]:
        if wait:
            body = await self._call("POST", "pushes/wait", {"timeout": max_wait})
        else:
            body = await self._call("GET", "pushes")
        return body["records"]

    async def deliver_mail(self, userid: str, **fields: Any) -> dict[str, Any]:
        return await self._call("POST", "mail/deliver", {"userid": userid, **fields})

    async def read_mail(self, userid: str, mail_id: str | None = None) -> dict[str, Any]:
        return await self._call("POST", "mail/read", {"userid": userid, "mail_id": mail_id})

    async def generate(self, day: str, **counts: Any) -> dict[str, Any]:
        return await self._call("POST", "generate", {"day": day, **counts})

    async def inject_log(self, kind: str, record: dict[str, Any], visible_at: int | None = None,
                         userid: str | None = None) -> dict[str, Any]:
        body = {"kind": kind, "record": record, "visible_at": visible_at, "userid": userid}
        return await self._call("POST", "logs", body)

    async def received(self, surface: str | None = None) -> Any:
        return await self._call("GET", f"received/{surface}" if surface else "received")
