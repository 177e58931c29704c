"""The console's browser tests: real processes (simulator, ingest, worker with the console) on the real broker,
and headless Chromium from Debian's `chromium` package driven by Selenium through Debian's `chromedriver`
(no browser is downloaded: both paths are given, and Selenium Manager runs offline).

One stack per module (starting it costs most of the time); each test logs in as the role it needs.
Screenshots go to .state/screenshots/ (ignored by git), one per test, named after it.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from pipeline.demo._config import build_config, write_config, write_secret
from pipeline.demo._processes import Child, free_port
from pipeline.kafka import TopicNames, ensure_topics

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / ".state" / "screenshots"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ROLES = ("viewer", "operator", "approver", "admin")


@dataclass
class Stack:
    run_dir: Path
    bootstrap: str
    names: TopicNames
    creds: dict[str, Any]
    worker_url: str
    ingest_url: str
    tokens: dict[str, str]
    children: list[Child] = field(default_factory=list)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))

    @property
    def console(self) -> str:
        return f"{self.worker_url}/console"

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The simulator's /_sim/ admin API (GET without a body, POST with one)."""
        url = f"{self.creds['admin_base']}{path}"
        r = self.http.get(url) if body is None else self.http.post(url, json=body)
        r.raise_for_status()
        return r.json() if r.content else {}

    def alive(self) -> None:
        for child in self.children:
            if not child.alive():
                raise AssertionError(f"{child.name} exited ({child.returncode}):\n{child.tail(3000)}")


def _wait_http(stack: Stack, child: Child, url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.alive()
        try:
            if stack.http.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{child.name} not healthy at {url}:\n{child.tail(3000)}")


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (ops/setup.sh installs them)")
    run_dir = tmp_path_factory.mktemp("console-stack")
    prefix = f"t{uuid.uuid4().hex[:10]}."
    ensure_topics(kafka_bootstrap, prefix=prefix, partitions=1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    creds_path = run_dir / "sim.json"
    sim = Child("sim", ["sim", "--port", "0", "--seed", "7", "--users", "30", "--speed", "1", "--history-hours",
                        "1", "--credentials-out", str(creds_path), "--log-level", "WARNING"], run_dir / "sim.log", env)
    stack = Stack(run_dir, kafka_bootstrap, TopicNames(prefix), {}, "", "", {})
    stack.children.append(sim)
    sim.start()
    try:
        deadline = time.monotonic() + 60
        while not creds_path.exists():
            stack.alive()
            assert time.monotonic() < deadline, "the simulator wrote no credentials"
            time.sleep(0.1)
        stack.creds = json.loads(creds_path.read_text())
        ingest_port, worker_port = free_port(), free_port()
        config = build_config(creds_path=creds_path, creds=stack.creds, run_dir=run_dir, bootstrap=kafka_bootstrap,
                              prefix=prefix, partitions=1, app_id=f"{prefix}worker", ingest_port=ingest_port,
                              worker_port=worker_port)
        secret_dir = run_dir / "secrets"
        stack.tokens = {role: secrets.token_urlsafe(32) for role in ROLES}
        config["auth"] = {"tokens": [{"name": f"{role}-person", "roles": [role],
                                      "token": write_secret(secret_dir, f"{role}_token", value)}
                                     for role, value in stack.tokens.items()]}
        config["worker"]["agents"] = ["normalize", "audit", "alerting", "delivery", "actions"]
        config["worker"].pop("siem", None)
        config["ingest"]["poll"]["intervals"]["login_log"] = 2.0
        approval_key = write_secret(secret_dir, "approval_key", secrets.token_urlsafe(32))
        config["actions"] = {"dry_run": False, "hr": {"approval": True}, "approval": {"secret": approval_key}}
        path = run_dir / "pipeline.yaml"
        write_config(path, config)
        stack.worker_url, stack.ingest_url = f"http://127.0.0.1:{worker_port}", f"http://127.0.0.1:{ingest_port}"
        worker = Child("worker", ["worker", "--config", str(path), "--loglevel", "WARNING"], run_dir / "worker.log",
                       env)
        ingest = Child("ingest", ["ingest", "--config", str(path)], run_dir / "ingest.log", env)
        stack.children += [worker, ingest]
        worker.start()
        ingest.start()
        _wait_http(stack, ingest, f"{stack.ingest_url}/healthz")
        _wait_http(stack, worker, f"{stack.worker_url}/healthz")
        answer = stack.admin("callback", {"url": f"{stack.ingest_url}/exmail/callback/sim", "verify": True})
        assert answer.get("errcode") == 0, answer
        yield stack
    finally:
        for child in reversed(stack.children):
            child.stop(30)
        stack.http.close()
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        doomed = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        if doomed:
            for fut in admin.delete_topics(doomed, operation_timeout=30).values():
                fut.exception()


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    from selenium import webdriver  # imported here: only the browser tests need selenium
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1440,1000", "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def login(stack: Stack, browser: Any) -> Callable[[str], None]:
    """login(role): a fresh session through the login form, as the person holding that role."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def go(role: str) -> None:
        browser.get(f"{stack.console}/login")
        browser.delete_all_cookies()
        browser.get(f"{stack.console}/alerts")  # no session: the guard sends the browser to the login page
        assert "/console/login" in browser.current_url
        browser.find_element(By.ID, "token").send_keys(stack.tokens[role])
        browser.find_element(By.ID, "login-submit").click()
        WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "principal"))
        assert browser.find_element(By.ID, "principal").text == f"{role}-person"

    return go


@pytest.fixture
def screenshot(browser: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    def shoot(suffix: str = "") -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{request.node.name}{suffix}.png"
        browser.save_screenshot(str(target))
        return target

    return shoot
