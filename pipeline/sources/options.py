"""Settings poller: useroption/get for every user of the directory, diffed into exmail.raw.options, with drift
from the configured desired policy (the company default `desired_options` / `policy.default`, refined per
department, mail group and user by `policy`, pipeline/policy) flagged per event with the rule it violates.

An event is emitted the first time a user is seen (previous = null: the baseline, which already shows drift),
and whenever the user's options or their drift change (a policy change in the config re-flags users). The last
values are kept in exmail.state.directory under "<corp_id>/useroption/<userid>". Calls are made in batches
of `poll.options_batch_size`, paced by the client's per-corp/per-app buckets and per-user concurrency cap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.exmail import NotFound
from pipeline.policy import DEFAULT_RULE, Desired, PolicyResolver
from pipeline.records import RAW_SCHEMAS
from pipeline.sources._emit import Outgoing
from pipeline.sources._runtime import CorpRuntime, Poller, RunFailed, Runtime

log = logging.getLogger(__name__)


def drift_from(desired: Mapping[int, str | Desired], options: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every desired option whose actual value differs (missing counts as differing), with the policy rule
    that wants it ("default", "department:<path>", "group:<groupid>", "user:<userid>")."""
    out = []
    for t, want in sorted(desired.items()):
        value, rule = (want.value, want.rule) if isinstance(want, Desired) else (want, DEFAULT_RULE)
        if options.get(str(t)) != value:
            out.append({"type": t, "desired": value, "actual": options.get(str(t)), "rule": rule})
    return out


def option_changes(previous: Mapping[str, str] | None, options: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    if previous is None:
        return {}
    keys = sorted(set(previous) | set(options), key=lambda k: (len(k), k))
    return {k: {"from": previous.get(k), "to": options.get(k)} for k in keys if previous.get(k) != options.get(k)}


class OptionsPoller(Poller):
    stream = "options"

    def __init__(self, rt: Runtime, corp: CorpRuntime, interval: float | None = None) -> None:
        super().__init__(rt, corp, interval if interval is not None else rt.poll.intervals.of("options"))
        self.topic = rt.names.raw("options")
        self.known: dict[str, dict[str, Any]] = {}

    def _key(self, userid: str) -> str:
        return f"{self.corp_id}/useroption/{userid}"

    async def prepare(self) -> None:
        prefix = self._key("")
        state = await self.rt.state.load(prefix)
        self.known = {key[len(prefix):]: value for key, value in state.items()}

    def resolver(self) -> PolicyResolver:
        """The corp's policy over the directory as the directory poller last saw it."""
        view, config = self.corp.directory, self.corp.config
        return PolicyResolver(config.policy, config.desired_options, view.departments, view.groups)

    def event(self, userid: str, options: dict[str, str], observed: str,
              desired: Mapping[int, str | Desired] | None = None) -> Outgoing | None:
        """The event for this observation, or None when nothing changed. `desired` defaults to the company
        default (the poll passes each member's resolved policy)."""
        drift = drift_from(self.corp.config.desired_options if desired is None else desired, options)
        prev_state = self.known.get(userid)
        previous: dict[str, str] | None = prev_state.get("options") if prev_state else None
        if prev_state is not None and previous == options and prev_state.get("drift") == drift:
            return None
        data = {"userid": userid, "options": options, "previous": previous,
                "changed": option_changes(previous, options), "drift": drift}
        env = Envelope(
            schema=RAW_SCHEMAS["options"],
            id=fingerprint("options", self.corp_id, userid, previous, options, drift),
            corp_id=self.corp_id, source="exmail-ingest/options", occurred_at=observed, data=data,
        )
        return Outgoing(self.topic, record_key(self.corp_id, userid), env)

    async def _read(self, userid: str) -> dict[str, str] | None:
        try:
            opts = await self.corp.client.useroption_get(userid)
        except NotFound:
            return None
        return {str(int(o.type)): str(o.value) for o in opts}

    async def poll_once(self) -> None:
        await self.corp.directory.ready.wait()
        users = self.corp.directory.userids()
        resolver = self.resolver()
        batch_size = self.rt.poll.options_batch_size
        first_error: BaseException | None = None
        emitted = 0
        for i in range(0, len(users), batch_size):
            batch = users[i : i + batch_size]
            results = await asyncio.gather(*(self._read(u) for u in batch), return_exceptions=True)
            observed = utc_iso(self.rt.clock.now())
            items: list[Outgoing] = []
            writes: list[tuple[str, dict[str, Any] | None]] = []
            for userid, result in zip(batch, results, strict=True):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                if isinstance(result, BaseException):
                    first_error = first_error or result
                    continue
                if result is None:
                    continue
                member = self.corp.directory.users.get(userid) or {}
                item = self.event(userid, result, observed, resolver.desired(userid, member.get("department") or []))
                if item is not None:
                    items.append(item)
                    writes.append((self._key(userid), {"options": result, "drift": item.envelope.data["drift"]}))
            await self.rt.emitter.deliver_all(items, corp=self.corp_id, stream=self.stream)
            await self.rt.state.put_many(writes)
            for key, value in writes:
                if value is not None:
                    self.known[key[len(self._key("")):]] = value
            emitted += len(items)
        gone = sorted(set(self.known) - set(users))
        if gone:
            await self.rt.state.put_many([(self._key(u), None) for u in gone])
            for u in gone:
                self.known.pop(u, None)
        log.info("%s: options of %d users read, %d events", self.corp_id, len(users), emitted)
        if first_error is not None:
            raise RunFailed(f"useroption/get failed for some users: {first_error}") from first_error
