"""Transport security settings: Kafka TLS/SASL for both clients, TLS in storage URLs."""

from __future__ import annotations

import pytest

from driftd.collector.kafka_source import security_options
from driftd.config import load_settings
from driftd.errors import ConfigError


def test_sasl_needs_credentials_and_maps_to_kafka_python(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="sasl_password"):
        load_settings(None, kafka={"security_protocol": "SASL_SSL", "sasl_username": "u"})
    monkeypatch.setenv("DRIFTD_KAFKA__SASL_PASSWORD", "s3cret-password")
    s = load_settings(
        None,
        kafka={"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
               "sasl_username": "driftd", "ssl_cafile": "/etc/ca.pem"},
    )  # fmt: skip
    assert security_options(s.kafka) == {
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "ssl_cafile": "/etc/ca.pem",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "driftd",
        "sasl_plain_password": "s3cret-password",
    }
    assert "s3cret-password" not in repr(s)


def test_tls_storage_urls_are_accepted() -> None:
    s = load_settings(
        None,
        storage={"clickhouse_url": "https://u:p@ch.example:8443/driftd",
                 "control_url": "postgresql+psycopg://u@pg.example/driftd?sslmode=verify-full"},
    )  # fmt: skip
    assert s.storage.clickhouse_url.startswith("https://")
    assert "sslmode=verify-full" in s.storage.control_url


def test_api_tls_needs_both_files() -> None:
    with pytest.raises(ConfigError, match="ssl_keyfile"):
        load_settings(None, api={"ssl_certfile": "/c.pem"})


def test_sasl_and_tls_map_to_librdkafka(monkeypatch: pytest.MonkeyPatch) -> None:
    from driftd.collector.confluent_source import confluent_config

    monkeypatch.setenv("DRIFTD_KAFKA__SASL_PASSWORD", "s3cret-password")
    s = load_settings(
        None,
        kafka={"client": "confluent", "security_protocol": "SASL_SSL",
               "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "driftd",
               "ssl_cafile": "/etc/ca.pem", "ssl_check_hostname": False},
    )  # fmt: skip
    config = confluent_config(s.kafka)
    assert {k: v for k, v in config.items() if k.startswith(("s", "ssl"))} == {
        "security.protocol": "SASL_SSL",
        "ssl.endpoint.identification.algorithm": "none",
        "ssl.ca.location": "/etc/ca.pem",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "driftd",
        "sasl.password": "s3cret-password",
        "session.timeout.ms": s.kafka.session_timeout_ms,
    }
    assert config["enable.auto.commit"] is False
    assert config["enable.auto.offset.store"] is False
    assert config["auto.offset.reset"] == "earliest"


def test_confluent_client_without_the_extra_names_the_key_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "confluent_kafka" else real(name, *args),
    )
    with pytest.raises(ConfigError) as info:
        load_settings(None, kafka={"client": "confluent"})
    [(key, _, fix)] = info.value.problems
    assert key == "kafka.client"
    assert "driftd[confluent]" in fix and "kafka-python" in fix
    assert load_settings(None, kafka={"client": "kafka-python"}).kafka.client == "kafka-python"
