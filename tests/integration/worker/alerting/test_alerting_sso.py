"""One-click SSO end to end: the delivery stage puts a signed link in a new-mail alert; `pipeline ingest`'s
redirector (real Ingest app, real broker) shows a confirmation page, and the click redirects to the simulator's
one-time login URL."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from aiohttp.test_utils import TestServer

from pipeline.ingest import Ingest
from pipeline.kafka import KafkaSettings
from pipeline.sim import SimConfig, run_simulator
from pipeline.sources.config import config_from_sim_credentials
from pipeline.sso import SsoLinkSigner
from pipeline.worker.delivery import to_delivery_notification

pytestmark = pytest.mark.integration
SECRET = "sso-link-secret-for-tests-0001"


async def test_alert_sso_link_redirects_to_the_simulators_login_url_and_refuses_tampering(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    (tmp_path / "sso.key").write_text(SECRET)
    async with run_simulator(SimConfig(users=20)) as sim:
        creds = tmp_path / "sim.json"
        creds.write_text(json.dumps(sim.credentials))
        cfg = config_from_sim_credentials(
            creds, kafka=KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix).model_dump(),
            sso={"secret": f"file:{tmp_path / 'sso.key'}", "path": "/sso"})
        ingest = Ingest(cfg)
        await ingest.open()
        try:
            async with TestServer(ingest.http_app()) as server:
                base = str(server.make_url("/sso"))
                signer = SsoLinkSigner(SECRET, base)
                mailbox = sim.credentials["service_mailbox"]
                note = to_delivery_notification(
                    {"receiver": "cs", "group_key": "g", "id": "n1", "title": "t",
                     "alerts": [{"labels": {"alertname": "cs_external_mail", "user": mailbox},
                                 "annotations": {"summary": "s"}, "status": "firing", "sso_user": mailbox}]},
                    sim.credentials["corp_id"], "en", signer)
                assert len(note.sso_links) == 1
                link = note.sso_links[0].url
                async with httpx.AsyncClient() as http:
                    preview = await http.get(link)  # a chat preview: a page, nothing consumed
                    assert preview.status_code == 200 and mailbox in preview.text
                    token = httpx.URL(link).params["t"]
                    first = await http.post(base, data={"t": token})
                    assert first.status_code == 303, first.text
                    login = first.headers["location"]
                    assert login.startswith(sim.base_url) and "authkey=" in login and mailbox in login
                    landed = await http.get(login)
                    assert landed.status_code == 200, landed.text
                    assert (await http.post(base, data={"t": token})).status_code == 410
                    assert (await http.get(link)).status_code == 410
                    tampered = link[:-3] + ("abc" if not link.endswith("abc") else "xyz")
                    assert (await http.get(tampered)).status_code in (400, 403)
                    expired = SsoLinkSigner(SECRET, base, ttl_seconds=60, clock=lambda: 1_000.0).link(
                        sim.credentials["corp_id"], mailbox)
                    refused = await http.get(expired)
                    assert refused.status_code == 410 and "expired" in refused.text
        finally:
            await ingest.stop()
