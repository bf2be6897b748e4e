"""Structural checks of the deployment files, so they cannot silently rot.

No Docker engine is needed: docker-compose.yml, the Dockerfile, the Prometheus
and Grafana provisioning and deploy/driftd.example.yaml are parsed and checked
against each other and against :class:`driftd.config.Settings` (a renamed
setting breaks these tests, not a deployment).
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel

from driftd.config import Settings, load_settings
from driftd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
EXAMPLE_CONFIG = ROOT / "deploy" / "driftd.example.yaml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources"

DRIFTD_SERVICES = ("driftd-collector", "driftd-api")
BACKENDS = ("kafka", "clickhouse", "postgres")
EXPECTED_SERVICES = {
    "kafka",
    "kafka-init",
    "clickhouse",
    "postgres",
    *DRIFTD_SERVICES,
    "prometheus",
    "grafana",
}
GRAFANA_PLUGINS = {"grafana-clickhouse-datasource", "yesoreyeram-infinity-datasource"}

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")


# ------------------------------------------------------------------ helpers


def _interpolate(value: Any) -> Any:
    """Resolve compose variables as with an empty environment: ``${X:-d}`` -> ``d``."""
    if isinstance(value, str):
        text = value.replace("$$", "\0")
        text = _VARIABLE.sub(lambda m: m["default"] or "", text)
        return text.replace("\0", "$")
    if isinstance(value, dict):
        return {key: _interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item) for item in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = _interpolate(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")))
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def _is_one_shot(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "no")) == "no"


def _volume_source(entry: str | dict[str, Any]) -> tuple[str, str]:
    """(kind, source) of a service volume: kind is "bind", "volume" or "anonymous"."""
    if isinstance(entry, dict):
        kind = entry.get("type", "volume")
        source = entry.get("source", "")
        return (kind if source else "anonymous"), source
    parts = entry.split(":")
    if len(parts) == 1:
        return "anonymous", ""
    source = parts[0]
    if source.startswith((".", "/", "~")):
        return "bind", source
    return "volume", source


def _published(entry: str | int | dict[str, Any]) -> tuple[str, str, str] | None:
    """(host ip, host port, protocol) of a port entry, None when nothing is published."""
    if isinstance(entry, dict):
        if "published" not in entry:
            return None
        return (
            str(entry.get("host_ip", "0.0.0.0")),
            str(entry["published"]),
            str(entry.get("protocol", "tcp")),
        )
    text = str(entry)
    text, _, protocol = text.partition("/")
    parts = text.rsplit(":", 2)
    if len(parts) == 1:  # container port only: an ephemeral host port
        return None
    ip = parts[0] if len(parts) == 3 else "0.0.0.0"
    return ip, parts[-2], protocol or "tcp"


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` -> {name: (host, port)}."""
    out = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def _setting_exists(env_key: str) -> bool:
    """Does ``DRIFTD_SECTION__KEY`` (or ``..._FILE``) name a field of :class:`Settings`?"""
    path = env_key.removeprefix("DRIFTD_").lower().split("__")
    model: type[BaseModel] = Settings
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        name = part.removesuffix("_file") if last and part not in model.model_fields else part
        field = model.model_fields.get(name)
        if field is None:
            return False
        annotation = field.annotation
        if last:
            return not (isinstance(annotation, type) and issubclass(annotation, BaseModel))
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return False


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No DRIFTD_ variable of the machine running the tests leaks into the settings."""
    for key in list(os.environ):
        if key.startswith("DRIFTD_"):
            monkeypatch.delenv(key)
    return monkeypatch


# ------------------------------------------------------------------ compose


def test_expected_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= EXPECTED_SERVICES, EXPECTED_SERVICES - set(services)


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "image" not in service:
            assert "build" in service, f"{name}: neither image nor build"
            continue
        image = service["image"]
        if "@sha256:" in image:
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"


def test_kafka_runs_kraft_without_zookeeper(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert "zookeeper" not in name.lower()
        assert "zookeeper" not in str(service.get("image", "")).lower()
    env = _env(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["CLUSTER_ID"]
    assert not any("ZOOKEEPER" in key for key in env)
    node_id = env["KAFKA_NODE_ID"]
    listeners = _listeners(env["KAFKA_LISTENERS"])
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in listeners
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:{listeners[controller][1]}"
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) <= set(protocols)
    # A single broker cannot hold internal topics with the default replication of 3.
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if _is_one_shot(service):
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name}: no healthcheck"
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        assert check["test"] != ["NONE"], f"{name}: healthcheck disabled"


def test_one_shots_are_only_the_init_services(services: dict[str, dict[str, Any]]) -> None:
    assert {name for name, svc in services.items() if _is_one_shot(svc)} == {"kafka-init"}


def test_init_creates_the_topics_driftd_reads(services: dict[str, dict[str, Any]]) -> None:
    script = " ".join(map(str, services["kafka-init"]["command"]))
    defaults = Settings().kafka
    for service in DRIFTD_SERVICES:
        env = _env(services[service])
        for key in ("predictions_topic", "outcomes_topic", "deadletter_topic"):
            topic = env.get(f"DRIFTD_KAFKA__{key.upper()}", getattr(defaults, key))
            created = re.search(rf"--topic {re.escape(topic)} --partitions (\d+)", script)
            assert created, f"kafka-init does not create {topic}"
            if key == "predictions_topic":
                replicas = services["driftd-collector"].get("deploy", {}).get("replicas", 1)
                assert int(created[1]) >= replicas, "more collectors than partitions"
    deps = services["kafka-init"]["depends_on"]
    assert deps["kafka"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", DRIFTD_SERVICES)
def test_driftd_builds_from_the_dockerfile(services: dict[str, dict[str, Any]], name: str) -> None:
    build = services[name]["build"]
    if isinstance(build, str):
        build = {"context": build}
    context = (ROOT / build.get("context", ".")).resolve()
    assert context == ROOT
    assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    assert "image" not in services[name] or ":" in services[name]["image"]


@pytest.mark.parametrize("name", DRIFTD_SERVICES)
def test_driftd_waits_for_healthy_backends(services: dict[str, dict[str, Any]], name: str) -> None:
    deps = services[name]["depends_on"]
    assert isinstance(deps, dict), "depends_on needs conditions, not a list"
    for backend in BACKENDS:
        assert deps[backend]["condition"] == "service_healthy", f"{name} -> {backend}"
    for dep, spec in deps.items():
        if _is_one_shot(services[dep]):
            assert spec["condition"] == "service_completed_successfully", f"{name} -> {dep}"


@pytest.mark.parametrize("name", DRIFTD_SERVICES)
def test_driftd_storage_points_at_the_servers(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = _env(services[name])

    clickhouse = urlsplit(env["DRIFTD_STORAGE__CLICKHOUSE_URL"])
    ch_env = _env(services["clickhouse"])
    assert clickhouse.scheme in ("http", "https")
    assert clickhouse.hostname == "clickhouse"
    assert clickhouse.port == 8123
    assert clickhouse.username == ch_env["CLICKHOUSE_USER"]
    assert clickhouse.password == ch_env["CLICKHOUSE_PASSWORD"]
    assert clickhouse.path.strip("/") == ch_env["CLICKHOUSE_DB"]

    control = urlsplit(env["DRIFTD_STORAGE__CONTROL_URL"])
    pg_env = _env(services["postgres"])
    assert control.scheme.startswith("postgresql")
    assert control.hostname == "postgres"
    assert control.port in (None, 5432)
    assert control.username == pg_env["POSTGRES_USER"]
    assert control.password == pg_env["POSTGRES_PASSWORD"]
    assert control.path.strip("/") == pg_env["POSTGRES_DB"]


@pytest.mark.parametrize("name", DRIFTD_SERVICES)
def test_driftd_kafka_points_at_a_declared_listener(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = _env(services[name])
    assert env["DRIFTD_KAFKA__ENABLED"].lower() == "true"
    kafka_env = _env(services["kafka"])
    advertised = set(_listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"]).values())
    bound_ports = {port for _, port in _listeners(kafka_env["KAFKA_LISTENERS"]).values()}
    servers = [s.strip() for s in env["DRIFTD_KAFKA__BOOTSTRAP_SERVERS"].split(",") if s.strip()]
    assert servers
    for server in servers:
        host, _, port = server.rpartition(":")
        assert host == "kafka", server
        assert (host, int(port)) in advertised, f"{server} is not an advertised listener"
        assert int(port) in bound_ports


def test_collectors_share_one_consumer_group(services: dict[str, dict[str, Any]]) -> None:
    collector = services["driftd-collector"]
    assert collector["command"] == ["run", "--role", "collector"]
    assert services["driftd-api"]["command"] == ["run", "--role", "api"]
    replicas = collector.get("deploy", {}).get("replicas", 1)
    assert replicas >= 2
    # One service, one environment: every replica joins the same group.
    assert _env(collector).get("DRIFTD_KAFKA__GROUP_ID", Settings().kafka.group_id)
    assert not collector.get("container_name"), "a container_name forbids replicas"
    assert not collector.get("ports"), "replicas cannot share a published port"


def test_driftd_env_keys_name_real_settings(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key in _env(service):
            if key == "DRIFTD_CONFIG" or not key.startswith("DRIFTD_"):
                continue
            if name in DRIFTD_SERVICES or "__" in key:
                assert _setting_exists(key), f"{name}: {key} names no setting"


def test_setting_walk_rejects_unknown_keys() -> None:
    assert _setting_exists("DRIFTD_KAFKA__GROUP_ID")
    assert _setting_exists("DRIFTD_SCRUB__HMAC_KEY_FILE")
    assert _setting_exists("DRIFTD_ENVIRONMENT")
    assert not _setting_exists("DRIFTD_KAFKA__GROUPID")
    assert not _setting_exists("DRIFTD_KAFKA")
    assert not _setting_exists("DRIFTD_KAFKA__GROUP_ID__X")


@pytest.mark.parametrize("name", DRIFTD_SERVICES)
def test_driftd_env_is_valid_settings(
    services: dict[str, dict[str, Any]],
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
) -> None:
    env = _env(services[name])
    secret = tmp_path / "hmac_key"
    secret.write_text(secrets.token_urlsafe(48) + "\n", encoding="utf-8")
    for key, value in env.items():
        clean_env.setenv(key, value)
    clean_env.setenv("DRIFTD_SCRUB__HMAC_KEY_FILE", str(secret))
    settings = load_settings()
    assert settings.kafka.enabled
    assert not settings.storage.embedded
    assert settings.api.host == "0.0.0.0"
    assert settings.scrub.hmac_key is not None


def test_hmac_key_is_a_compose_secret(
    services: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    declared = compose["secrets"]
    for name in DRIFTD_SERVICES:
        env = _env(services[name])
        assert "DRIFTD_SCRUB__HMAC_KEY" not in env, "the key belongs in a secret file"
        path = env["DRIFTD_SCRUB__HMAC_KEY_FILE"]
        secret = path.removeprefix("/run/secrets/")
        assert path.startswith("/run/secrets/") and secret in declared
        used = [s if isinstance(s, str) else s["source"] for s in services[name]["secrets"]]
        assert secret in used
    for secret, spec in declared.items():
        real = ROOT / spec["file"]
        example = real.with_name(real.name + ".example")
        assert real.exists() or example.exists(), f"{secret}: neither {real} nor an example"


def test_example_secret_is_refused_in_production(clean_env: pytest.MonkeyPatch) -> None:
    """Copying hmac_key.example without replacing it must stop a production start."""
    clean_env.setenv("DRIFTD_ENVIRONMENT", "production")
    clean_env.setenv("DRIFTD_SCRUB__HMAC_KEY_FILE", str(ROOT / "deploy/secrets/hmac_key.example"))
    with pytest.raises(ConfigError):
        load_settings()


def test_published_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    seen: list[tuple[str, str, str, str]] = []  # (ip, port, protocol, service)
    for name, service in services.items():
        replicas = service.get("deploy", {}).get("replicas", 1)
        for entry in service.get("ports") or []:
            published = _published(entry)
            if published is None:
                continue
            assert replicas == 1, f"{name}: {replicas} replicas cannot all publish {entry}"
            ip, port, protocol = published
            for other_ip, other_port, other_protocol, other in seen:
                same_ip = "0.0.0.0" in (ip, other_ip) or ip == other_ip
                clash = same_ip and (port, protocol) == (other_port, other_protocol)
                assert not clash, f"{name}: {entry} collides with {other}"
            seen.append((ip, port, protocol, name))
    assert any(port == str(Settings().api.port) for _, port, _, _ in seen), "API not published"


def test_named_volumes_are_declared_and_used(
    services: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for entry in service.get("volumes") or []:
            kind, source = _volume_source(entry)
            if kind == "volume":
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert declared == used, f"declared but unused: {declared - used}"


def test_stateful_services_keep_data_in_named_volumes(services: dict[str, dict[str, Any]]) -> None:
    data_dirs = {
        "kafka": "/var/lib/kafka/data",
        "clickhouse": "/var/lib/clickhouse",
        "postgres": "/var/lib/postgresql/data",
        "prometheus": "/prometheus",
        "grafana": "/var/lib/grafana",
    }
    for name, target in data_dirs.items():
        mounts = {
            str(entry).split(":")[1]: _volume_source(entry)[0]
            for entry in services[name].get("volumes") or []
            if isinstance(entry, str)
        }
        assert mounts.get(target) == "volume", f"{name}: {target} is not a named volume"


def test_bind_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for entry in service.get("volumes") or []:
            kind, source = _volume_source(entry)
            if kind == "bind":
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repo"


def test_prometheus_scrapes_driftd(services: dict[str, dict[str, Any]]) -> None:
    mounts = [str(v) for v in services["prometheus"].get("volumes") or []]
    assert any(m.startswith("./deploy/prometheus/prometheus.yml:") for m in mounts)
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    api_port = _env(services["driftd-api"]).get("DRIFTD_API__PORT", str(Settings().api.port))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    static_targets = {
        target
        for job in jobs.values()
        for group in job.get("static_configs", [])
        for target in group["targets"]
    }
    assert f"driftd-api:{api_port}" in static_targets
    dns = [sd for job in jobs.values() for sd in job.get("dns_sd_configs", [])]
    assert any("driftd-collector" in sd["names"] and str(sd["port"]) == api_port for sd in dns)
    for job in jobs.values():
        assert job.get("metrics_path", "/metrics") == "/metrics"


def test_grafana_has_the_three_data_sources(services: dict[str, dict[str, Any]]) -> None:
    env = _env(services["grafana"])
    wanted = ",".join(
        env.get(key, "") for key in ("GF_PLUGINS_PREINSTALL_SYNC", "GF_INSTALL_PLUGINS")
    )
    installed = {item.split("@")[0].strip() for item in wanted.split(",") if item.strip()}
    assert installed >= GRAFANA_PLUGINS

    sources = []
    for path in sorted(GRAFANA_DATASOURCES.glob("*.y*ml")):
        sources += yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    by_type = {source["type"]: source for source in sources}
    assert by_type["prometheus"]["url"] == "http://prometheus:9090"
    clickhouse = by_type["grafana-clickhouse-datasource"]["jsonData"]
    assert clickhouse["host"] == "clickhouse"
    infinity = by_type["yesoreyeram-infinity-datasource"]
    assert urlsplit(infinity["url"]).hostname == "driftd-api"
    assert infinity["url"] in infinity["jsonData"]["allowedHosts"]
    # Every $VAR the provisioning expands is given to the Grafana container.
    for source in sources:
        for value in source.get("secureJsonData", {}).values():
            for var in re.findall(r"\$\{?(\w+)", str(value)):
                assert var in env, f"grafana: provisioning reads ${var}, not set"


# ------------------------------------------------------------------ Dockerfile


def _dockerfile() -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """Global ARG defaults and the stages, each a list of (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    global_args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        if not stages:
            if instruction == "ARG" and "=" in args:
                key, _, value = args.strip().partition("=")
                global_args[key] = value
            continue
        stages[-1].append((instruction, args.strip()))
    return global_args, stages


def _from_image(args: str, global_args: dict[str, str]) -> str:
    words = [w for w in args.split() if not w.startswith("--")]
    image = words[0]
    return re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m[1], m[0]), image)


def test_dockerfile_is_multi_stage_on_pinned_bases() -> None:
    global_args, stages = _dockerfile()
    assert len(stages) >= 2
    stage_names = set()
    for stage in stages:
        _, args = stage[0]
        image = _from_image(args, global_args)
        if image in stage_names:
            continue
        assert "$" not in image, f"unresolved base image {image}"
        if "@sha256:" not in image:
            tag = image.rpartition(":")[2]
            assert tag and tag != "latest" and re.search(r"\d", tag), f"{image} is not pinned"
        words = args.split()
        if len(words) >= 3 and words[-2].upper() == "AS":
            stage_names.add(words[-1])


def test_dockerfile_final_stage_runs_unprivileged() -> None:
    _, stages = _dockerfile()
    final = stages[-1]
    users = [args for instruction, args in final if instruction == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    body = "\n".join(f"{instruction} {args}" for instruction, args in final)
    assert "10001" in body
    healthchecks = [args for instruction, args in final if instruction == "HEALTHCHECK"]
    assert healthchecks and "/readyz" in healthchecks[-1] and "127.0.0.1" in healthchecks[-1]
    assert ("EXPOSE", str(Settings().api.port)) in final
    assert any(i == "VOLUME" and "/var/lib/driftd" in a for i, a in final)
    entrypoints = [args for instruction, args in final if instruction == "ENTRYPOINT"]
    assert entrypoints and entrypoints[-1].replace(" ", "") == '["driftd"]'
    cmd = [args for instruction, args in final if instruction == "CMD"][-1]
    assert cmd.replace(" ", "") == '["run","--role","all"]'


def test_dockerfile_final_stage_has_no_build_tools() -> None:
    _, stages = _dockerfile()
    final = stages[-1]
    for instruction, args in final:
        if instruction in ("RUN", "COPY", "ADD"):
            words = {w.lower() for w in re.split(r"[\s;&|=()\"',\[\]]+", args)}
            banned = {"gcc", "g++", "build-essential", "uv", "pip"}
            assert not words & banned, f"final stage: {instruction} {args}"
    copies = [args for instruction, args in final if instruction == "COPY"]
    assert copies and all(args.split()[-2:] == ["/opt/venv", "/opt/venv"] for args in copies)


def test_dockerfile_builder_uses_the_lock() -> None:
    _, stages = _dockerfile()
    runs = " ".join(
        args for stage in stages[:-1] for instruction, args in stage if instruction == "RUN"
    )
    assert re.search(r"pip install uv==\d+\.\d+\.\d+", runs), "uv must be pinned"
    syncs = runs.split("uv sync ")[1:]
    assert len(syncs) >= 2
    assert all("--frozen" in s and "--no-dev" in s for s in syncs)
    assert "--no-install-project" in syncs[0] and "--no-editable" in syncs[-1]


def test_dockerignore_keeps_what_the_build_copies() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git"} <= ignored
    _, stages = _dockerfile()
    for stage in stages:
        for instruction, args in stage:
            if instruction == "COPY" and "--from" not in args:
                words = [w for w in shlex.split(args) if not w.startswith("--")]
                for source in words[:-1]:
                    assert source.rstrip("/") not in ignored, f"{source} is in .dockerignore"
                    assert (ROOT / source).exists(), f"COPY {source}: not in the repo"


# ------------------------------------------------------------------ example config


def test_example_config_loads_and_holds_the_defaults(clean_env: pytest.MonkeyPatch) -> None:
    loaded = load_settings(EXAMPLE_CONFIG)
    assert loaded.model_dump() == load_settings().model_dump()


def test_example_config_names_every_setting() -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    assert set(data) == set(Settings.model_fields)
    for section, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            assert set(data[section]) == set(annotation.model_fields), section
