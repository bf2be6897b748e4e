"""Transport security settings: Kafka TLS/SASL for kafka-python, TLS in storage URLs."""

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
