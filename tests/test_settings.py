"""The one settings object: names from the README, secrets that never print."""

from __future__ import annotations

import pytest

from ico_core.errors import ConfigError
from ico_core.settings import Settings


def test_environment_names_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTS_PER_MINUTE", "750")
    monkeypatch.setenv("DATA_QUALITY_ISSUES", "false")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.setenv("ALERT_FORWARDER_METRICS_PORT", "9101")
    settings = Settings()
    assert settings.alert_forwarder_metrics_port == 9101
    assert settings.generator_metrics_port is None
    assert settings.events_per_minute == 750
    assert settings.data_quality_issues is False
    assert settings.ico_websites_count == 20
    assert settings.kafka_enabled
    assert settings.postgres_url() is None  # nothing configured
    with pytest.raises(ConfigError, match="no database configured: set DATABASE_URL"):
        settings.require_postgres_url()


def test_postgres_parts_compose_a_url_and_database_url_wins() -> None:
    parts = Settings(POSTGRES_HOST="db", POSTGRES_USER="ico", POSTGRES_PASSWORD="p@ss:word/")
    assert parts.postgres_url() == "postgresql://ico:p%40ss%3Aword%2F@db:5432/ico_analytics"
    both = Settings(POSTGRES_HOST="db", DATABASE_URL="postgresql://u@elsewhere/x")
    assert both.postgres_url() == "postgresql://u@elsewhere/x"


def test_postgres_sslmode_goes_into_the_url_built_from_the_parts() -> None:
    tls = Settings(POSTGRES_HOST="db", POSTGRES_USER="ico", POSTGRES_SSLMODE="require")
    assert tls.postgres_url() == "postgresql://ico@db:5432/ico_analytics?sslmode=require"
    with pytest.raises(ValueError, match="POSTGRES_SSLMODE"):
        Settings(POSTGRES_HOST="db", POSTGRES_SSLMODE="on")


def test_secrets_never_print() -> None:
    settings = Settings(
        DATABASE_URL="postgresql://u:hunter2@h/db",
        POSTGRES_PASSWORD="hunter2",
        PII_HMAC_KEY="k3y!",
        CRM_EMAIL_KEY="crm-k3y!",
    )
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert "hunter2" not in text and "k3y!" not in text
    assert settings.crm_key() == settings.production_crm_key() == b"crm-k3y!"


def test_the_dataflow_refuses_the_public_crm_key() -> None:
    with pytest.raises(ConfigError, match="CRM_EMAIL_KEY is not set"):
        Settings(PII_HMAC_KEY="k3y!").production_crm_key()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.events_per_minute = 1  # type: ignore[misc]


def test_one_kafka_connection_configures_every_client() -> None:
    plain = Settings(KAFKA_BOOTSTRAP_SERVERS="b1:9092, b2:9092").kafka
    assert plain.brokers == ["b1:9092", "b2:9092"]
    assert plain.client_config() == {
        "bootstrap.servers": "b1:9092, b2:9092",
        "security.protocol": "PLAINTEXT",
    }
    secure = Settings(
        KAFKA_BOOTSTRAP_SERVERS="kafka:9093",
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        KAFKA_SASL_USERNAME="dataflow",
        KAFKA_SASL_PASSWORD="s3cret",
        KAFKA_SSL_CA_LOCATION="/etc/kafka/ca.crt",
    ).kafka
    assert secure.client_config() == {
        "bootstrap.servers": "kafka:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "dataflow",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/kafka/ca.crt",
    }
    # Bytewax's KafkaSink takes the brokers apart from the rest.
    assert "bootstrap.servers" not in secure.security_config()
    assert "s3cret" not in repr(secure)


def test_kafka_connection_refuses_half_a_sasl_setup() -> None:
    with pytest.raises(ConfigError, match="needs KAFKA_SASL_MECHANISM"):
        _ = Settings(KAFKA_BOOTSTRAP_SERVERS="k:9093", KAFKA_SECURITY_PROTOCOL="SASL_SSL").kafka
    with pytest.raises(ConfigError, match="use SASL_SSL"):
        _ = Settings(KAFKA_BOOTSTRAP_SERVERS="k:9092", KAFKA_SASL_MECHANISM="PLAIN").kafka
    with pytest.raises(ConfigError, match="bootstrap servers"):
        _ = Settings().kafka
