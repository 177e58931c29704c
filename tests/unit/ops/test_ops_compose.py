"""docker-compose.yml and examples/pipeline.docker.yaml against the code: services, healthchecks, one config
file, commands the real CLI accepts, ports, the simulator's credentials, secrets only by reference, and
`docker compose config` where a compose client is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import orjson
import pytest
import yaml

CONFIG_IN_CONTAINER = "/etc/exmail/pipeline.yaml"
PIPELINE_IMAGE = "exmail-pipeline:latest"
ONE_SHOTS = {"topics", "sim-credentials"}
Mounts = Callable[[dict[str, Any]], dict[str, Any]]
Option = Callable[[list[str], str], str]


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _pipeline_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in _services(compose).items() if s.get("image") == PIPELINE_IMAGE}


def _healthcheck_text(service: dict[str, Any]) -> str:
    return " ".join(service["healthcheck"]["test"])


def _published(service: dict[str, Any]) -> dict[int, str]:
    """container port -> host binding of each published port ("127.0.0.1:8080:8080")."""
    found = {}
    for spec in service.get("ports", []):
        host_ip, host_port, container_port = str(spec).split(":")
        found[int(container_port)] = f"{host_ip}:{host_port}"
    return found


def test_the_stack_has_every_service(compose: dict[str, Any]) -> None:
    assert set(_services(compose)) == {"kafka", "postgres", "topics", "sim", "sim-credentials", "ingest",
                                       "worker", "prometheus", "grafana"}
    assert "version" not in compose


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        if name in ONE_SHOTS:
            assert service["restart"] == "no" and "healthcheck" not in service, name
            continue
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
        assert service.get("restart") == "unless-stopped", name


def test_dependencies_wait_for_health_or_completion(compose: dict[str, Any]) -> None:
    services = _services(compose)
    waited_for: set[str] = set()
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            waited_for.add(target)
            expected = "service_completed_successfully" if target in ONE_SHOTS else "service_healthy"
            assert rule["condition"] == expected, f"{name} -> {target}"
    assert waited_for >= ONE_SHOTS
    assert set(services["ingest"]["depends_on"]) == {"kafka", "topics", "sim", "sim-credentials"}
    assert set(services["worker"]["depends_on"]) == {"kafka", "postgres", "topics"}


def test_pipeline_services_share_the_image_and_the_config_file(compose: dict[str, Any],
                                                               volume_mounts: Mounts) -> None:
    pipeline = _pipeline_services(compose)
    assert set(pipeline) == {"topics", "sim", "sim-credentials", "ingest", "worker"}
    for name, service in pipeline.items():
        assert service["build"] == {"context": "."}, name
        config = volume_mounts(service)["./examples/pipeline.docker.yaml"]
        assert config.target == CONFIG_IN_CONTAINER and config.read_only, name
        assert volume_mounts(service)["shared"].target == "/shared", name
    for name in ("ingest", "worker"):
        command = pipeline[name]["command"]
        assert command[:2] == ["pipeline", name]
        assert command[command.index("--config") + 1] == CONFIG_IN_CONTAINER


def test_pipeline_commands_parse_with_the_real_cli(compose: dict[str, Any], repo: Path,
                                                   volume_mounts: Mounts) -> None:
    """Each `pipeline ...` command is parsed by the click command it names (mounted files map to the repo)."""
    from pipeline.cli import main

    for name, service in _pipeline_services(compose).items():
        command = service["command"]
        if command[0] != "pipeline":
            continue
        host_paths = {m.target: str(repo / m.source) for m in volume_mounts(service).values()
                      if m.source.startswith("./")}
        args = [host_paths.get(arg, arg) for arg in command[1:]]
        sub = main.get_command(click.Context(main), args[0])
        assert sub is not None, f"{name}: no subcommand {args[0]!r}"
        with sub.make_context(args[0], args[1:], resilient_parsing=False) as ctx:
            assert ctx.params, name


def test_the_one_shot_splits_the_credentials_with_the_project_function(compose: dict[str, Any]) -> None:
    from pipeline.sources import config as sources_config

    command = _services(compose)["sim-credentials"]["command"]
    assert command[:2] == ["python", "-c"]
    compile(command[2], "sim-credentials", "exec")
    assert "from pipeline.sources.config import config_from_sim_credentials" in command[2]
    assert callable(sources_config.config_from_sim_credentials)
    sim = _services(compose)["sim"]["command"]
    assert f"('{sim[sim.index('--credentials-out') + 1]}')" in command[2]


def test_config_matches_the_simulator_the_stack_runs(compose: dict[str, Any], docker_config_path: Path,
                                                     command_option: Option, tmp_path: Path) -> None:
    """Corp id, domain, mailbox, base URLs and every secret file of the config are what the simulator of
    the compose file (its seed, port and credentials path) and the one-shot's split produce."""
    from pipeline.sim._server import Simulator
    from pipeline.sim.config import SimConfig
    from pipeline.sources.config import IngestConfig, config_from_sim_credentials

    sim_cmd = _services(compose)["sim"]["command"]
    seed, port = int(command_option(sim_cmd, "--seed")), int(command_option(sim_cmd, "--port"))
    credentials_out = Path(command_option(sim_cmd, "--credentials-out"))
    sim = Simulator(SimConfig(seed=seed, port=port))
    local = tmp_path / credentials_out.name
    local.write_bytes(orjson.dumps(sim.credentials))
    split = config_from_sim_credentials(local)

    config = IngestConfig.from_file(docker_config_path)
    (corp,) = config.corps
    (sim_corp,) = split.corps
    assert corp.corp_id == sim_corp.corp_id == sim.corp.corp_id
    assert corp.domains == sim_corp.domains
    assert corp.newcount.mailboxes == sim_corp.newcount.mailboxes
    assert corp.base_url == f"http://sim:{port}/cgi-bin/"
    assert config.clock.kind == "sim" and config.clock.sim_admin_url == f"http://sim:{port}/_sim/"

    def in_container(ref: str | None) -> str | None:
        return ref and ref.replace(f"file:{tmp_path}/", f"file:{credentials_out.parent}/")

    assert corp.secrets.model_dump() == {k: in_container(v) for k, v in sim_corp.secrets.model_dump().items()}
    assert corp.callback is not None and sim_corp.callback is not None
    assert corp.callback.token == in_container(sim_corp.callback.token)
    assert corp.callback.aes_key == in_container(sim_corp.callback.aes_key)
    callback_url = command_option(sim_cmd, "--callback-url")
    assert callback_url == f"http://ingest:{config.http.port}{corp.callback_path}"


def test_config_sections_load_with_the_process_models(docker_config_path: Path) -> None:
    from pipeline.config import PipelineConfig, load_config
    from pipeline.sources.config import IngestConfig

    raw = yaml.safe_load(docker_config_path.read_text(encoding="utf-8"))
    assert set(raw) <= set(PipelineConfig.model_fields)
    config = load_config(docker_config_path)
    ingest = IngestConfig.from_file(docker_config_path)
    assert ingest.kafka == config.kafka
    assert config.worker.http_host == ingest.http.host == "0.0.0.0"


def test_ports_are_the_code_defaults_and_agree_everywhere(compose: dict[str, Any],
                                                         service_ports: dict[str, int], repo: Path) -> None:
    from pipeline.sources.config import HttpSettings
    from pipeline.worker.config import WorkerSection

    assert service_ports["ingest"] == HttpSettings().port
    assert service_ports["worker"] == WorkerSection().http_port
    services = _services(compose)
    dockerfile = (repo / "Dockerfile").read_text(encoding="utf-8")
    exposed = {int(port) for line in dockerfile.splitlines() if line.startswith("EXPOSE")
               for port in line.split()[1:]}
    for name, port in service_ports.items():
        assert _published(services[name]) == {port: f"127.0.0.1:{port}"}, name
        assert f"127.0.0.1:{port}/" in _healthcheck_text(services[name]), name
        assert port in exposed, name


def test_kafka_is_apache_kafka_4_in_kraft_mode(compose: dict[str, Any], docker_config_path: Path,
                                               command_option: Option) -> None:
    from pipeline.config import load_config

    kafka = _services(compose)["kafka"]
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", kafka["image"])
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert not any("ZOOKEEPER" in key for key in env)
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    config = load_config(docker_config_path)
    assert advertised["PLAINTEXT"] == config.kafka.bootstrap
    assert advertised["HOST"] == "127.0.0.1:19092"
    for name, service in _pipeline_services(compose).items():
        assert service["environment"]["EXMAIL_KAFKA_BOOTSTRAP"] == config.kafka.bootstrap, name
    topics = _services(compose)["topics"]["command"]
    partitions = int(command_option(topics, "--partitions"))
    assert partitions == config.kafka.partitions == env["KAFKA_NUM_PARTITIONS"]
    assert "kafka-broker-api-versions.sh" in _healthcheck_text(kafka)


def test_secrets_are_references_never_inline(compose: dict[str, Any], docker_config_path: Path) -> None:
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|DSN|KEY", re.IGNORECASE)
    for name, service in _services(compose).items():
        for key, value in (service.get("environment") or {}).items():
            if secretish.search(key):
                assert re.search(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), f"{name}.{key} holds an inline secret"

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and secretish.search(str(key)) and key != "max_body_bytes":
                    assert value.startswith(("env:", "file:")), f"{path}.{key} is not a secret reference"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(yaml.safe_load(docker_config_path.read_text(encoding="utf-8")), "<config>")


def test_worker_audit_dsn_reaches_the_compose_postgres(compose: dict[str, Any],
                                                       docker_config_path: Path) -> None:
    from pipeline.config import load_config

    audit = load_config(docker_config_path).worker.audit
    assert audit.kind == "postgres" and audit.dsn is not None
    variable = audit.dsn.removeprefix("env:")
    postgres = _services(compose)["postgres"]["environment"]
    dsn = _services(compose)["worker"]["environment"][variable]
    user, db = postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]
    password = r"\$\{EXMAIL_POSTGRES_PASSWORD:\?[^}]+\}"
    assert re.fullmatch(rf"postgresql://{user}:{password}@postgres:5432/{db}", dsn)
    assert "EXMAIL_POSTGRES_PASSWORD" in postgres["POSTGRES_PASSWORD"]


def test_prometheus_and_grafana_get_the_ops_files(compose: dict[str, Any], volume_mounts: Mounts,
                                                  repo: Path) -> None:
    prometheus = _services(compose)["prometheus"]
    config_flag = next(arg for arg in prometheus["command"] if arg.startswith("--config.file="))
    mount = volume_mounts(prometheus)["./ops/prometheus"]
    assert mount.read_only and config_flag == f"--config.file={mount.target}/prometheus.yml"
    assert (repo / "ops/prometheus/prometheus.yml").is_file()
    assert prometheus["image"].startswith("prom/prometheus:")
    assert _services(compose)["grafana"]["image"].startswith("grafana/grafana:")


def _compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        plugin = subprocess.run([docker, "compose", "version"], capture_output=True, check=False, timeout=60)
        if plugin.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_accepts_the_file(repo: Path, tmp_path: Path) -> None:
    client = _compose_client()
    if client is None:
        pytest.skip("no compose client: neither the docker compose plugin nor docker-compose (Debian package "
                    "'docker-compose') is installed")
    env_file = tmp_path / "compose.env"
    env_file.write_text("EXMAIL_POSTGRES_PASSWORD=test-password\nGRAFANA_ADMIN_PASSWORD=test-password\n")
    base = [*client, "--project-directory", str(repo), "-f", str(repo / "docker-compose.yml")]
    res = subprocess.run([*base, "--env-file", str(env_file), "config", "-q"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr

    empty = tmp_path / "empty.env"
    empty.write_text("")
    res = subprocess.run([*base, "--env-file", str(empty), "config", "-q"], capture_output=True, text=True,
                         timeout=120, check=False, env={"PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert res.returncode != 0
    assert "EXMAIL_POSTGRES_PASSWORD" in res.stdout + res.stderr
