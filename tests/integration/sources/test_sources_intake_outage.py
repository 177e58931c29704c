"""Pushes during a broker outage, against a real `pipeline ingest` process and a private broker we stop:
the push is answered 503 (with Retry-After) within the configured bound and is not in Kafka; the same push
retried (new timestamp, nonce and signature each time, as Exmail does) lands exactly once, also when ingest
restarted in between."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from pipeline.envelope import fingerprint
from pipeline.exmail.crypto import MailEvent, WXBizMsgCrypt, generate_aes_key
from pipeline.kafka.reader import scan
from tests.integration._private_kafka import PrivateKafka

CORP = "wwintakeoutage0001"
TOKEN = "intake-token-1"
AES = generate_aes_key(bytes(range(32)))
ANSWER_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def broker() -> Iterator[PrivateKafka]:
    kafka = PrivateKafka()
    kafka.start()
    yield kafka
    kafka.remove()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Ingest:
    """`pipeline ingest` with one corp's callback endpoint and no pollers; `restart()` stops and starts it."""

    def __init__(self, broker: PrivateKafka, tmp_path: Path, topic_prefix: str) -> None:
        self.port = _free_port()
        os.environ["EXMAIL_TEST_CB_TOKEN"], os.environ["EXMAIL_TEST_CB_AES"] = TOKEN, AES
        cfg = {"kafka": {"bootstrap": broker.bootstrap, "topic_prefix": topic_prefix, "partitions": 1},
               "http": {"host": "127.0.0.1", "port": self.port},
               "intake": {"answer_timeout_seconds": ANSWER_TIMEOUT},
               "corps": [{"name": "acme", "corp_id": CORP, "streams": [],
                          "callback": {"token": "env:EXMAIL_TEST_CB_TOKEN", "aes_key": "env:EXMAIL_TEST_CB_AES"}}]}
        self.config = tmp_path / "ingest.yaml"
        self.config.write_text(yaml.safe_dump(cfg))
        self.log = tmp_path / "ingest.log"
        self.url = f"http://127.0.0.1:{self.port}/exmail/callback/acme"
        self.topic = topic_prefix + "exmail.raw.new_mail"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ingest", "--config",
                                          str(self.config)], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("ingest did not start:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def ingest(broker: PrivateKafka, tmp_path: Path, topic_prefix: str) -> Iterator[Ingest]:
    process = Ingest(broker, tmp_path, topic_prefix)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        print(process.log.read_text()[-4000:])


def _push(url: str, event: MailEvent) -> tuple[int, float, dict[str, str]]:
    """One push attempt, encrypted afresh (new timestamp, nonce, signature), as Exmail's retries are."""
    crypt = WXBizMsgCrypt(TOKEN, AES, CORP)
    msg = crypt.encrypt(event.to_xml(), timestamp=int(time.time()))
    params = {"msg_signature": msg.signature, "timestamp": msg.timestamp, "nonce": msg.nonce}
    start = time.monotonic()
    resp = httpx.post(url, params=params, content=crypt.push_body(msg), timeout=30)
    return resp.status_code, time.monotonic() - start, dict(resp.headers)


def _ids(bootstrap: str, topic: str) -> list[str]:
    out: list[str] = []
    scan(bootstrap, topic, lambda _k, v: out.append(orjson.loads(v)["id"]) if v else None)
    return out


def _mail(n: int) -> MailEvent:
    return MailEvent(corp_id=CORP, mail_id=f"outage-{n}", to_user_id="cs@acme.com", from_user="x@partner.com",
                     title=f"mail {n}", time=int(time.time()), new_count=n)


def test_push_during_outage_is_refused_fast_and_its_retries_land_once(
        broker: PrivateKafka, ingest: Ingest) -> None:
    url, topic = ingest.url, ingest.topic
    before = _mail(1)
    assert _push(url, before)[0] == 200

    during = _mail(2)
    during_id = fingerprint("new_mail", CORP, "Mail", during.mail_id)
    broker.kill()
    answers: list[tuple[int, float, dict[str, str]]] = []
    try:
        for _ in range(3):  # three of the five tries fall into the outage
            answers.append(_push(url, during))
    finally:
        broker.start()
    for status, elapsed, headers in answers:
        assert status == 503 and int(headers["retry-after"]) > 0
        assert elapsed <= ANSWER_TIMEOUT, f"503 took {elapsed:.2f}s, bound {ANSWER_TIMEOUT}s"
    time.sleep(5)  # anything the producer still held would have gone out by now
    assert during_id not in _ids(broker.bootstrap, topic), "a refused push reached Kafka"

    retries = [_push(url, during) for _ in range(2)]  # tries four and five, after the broker is back
    assert [r[0] for r in retries] == [200, 200]
    assert _ids(broker.bootstrap, topic).count(during_id) == 1

    ingest.stop()  # the seen-set is rebuilt from the topic: a retry after a restart is still recognised
    ingest.start()
    assert _push(url, during)[0] == 200
    ids = _ids(broker.bootstrap, topic)
    assert ids.count(during_id) == 1
    assert ids.count(fingerprint("new_mail", CORP, "Mail", before.mail_id)) == 1
