"""The one typed settings object. Nothing else in the project reads ``os.environ``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ico_core.errors import ConfigError
from ico_core.injections import Injection, parse_injections
from ico_core.kafka import KafkaConnection, SaslMechanism, SecurityProtocol

#: libpq's sslmode values (https://www.postgresql.org/docs/current/libpq-ssl.html).
PostgresSslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

#: The public key `demo` and the tests pseudonymise with; never good enough for real data.
DEV_PII_KEY = "ico-analytics-dev-key"
#: Likewise for the CRM emails of consenting leads.
DEV_CRM_KEY = "ico-analytics-dev-crm-key"


class Settings(BaseSettings):
    """Configuration read from the environment (names in the README's configuration table).

    Frozen, so a value cannot drift between the parts of one process. Secrets are
    ``SecretStr`` and print as ``**********``.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # Kafka path; empty bootstrap servers selects the embedded in-process source.
    kafka_bootstrap_servers: str = Field("", alias="KAFKA_BOOTSTRAP_SERVERS")
    schema_registry_url: str = Field("", alias="SCHEMA_REGISTRY_URL")
    kafka_security_protocol: SecurityProtocol = Field(
        SecurityProtocol.PLAINTEXT, alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(None, alias="KAFKA_SASL_MECHANISM")
    kafka_sasl_username: str | None = Field(None, alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(None, alias="KAFKA_SASL_PASSWORD")
    kafka_ssl_ca_location: str | None = Field(None, alias="KAFKA_SSL_CA_LOCATION")
    kafka_ssl_certificate_location: str | None = Field(None, alias="KAFKA_SSL_CERTIFICATE_LOCATION")
    kafka_ssl_key_location: str | None = Field(None, alias="KAFKA_SSL_KEY_LOCATION")

    # Generator.
    events_per_minute: int = Field(500, ge=0, alias="EVENTS_PER_MINUTE")
    ico_websites_count: int = Field(20, ge=1, le=20, alias="ICO_WEBSITES_COUNT")
    data_quality_issues: bool = Field(True, alias="DATA_QUALITY_ISSUES")

    # PostgreSQL: DATABASE_URL wins; else the POSTGRES_* parts; else none is configured.
    database_url: SecretStr | None = Field(None, alias="DATABASE_URL")
    postgres_host: str | None = Field(None, alias="POSTGRES_HOST")
    postgres_port: int = Field(5432, alias="POSTGRES_PORT")
    postgres_db: str = Field("ico_analytics", alias="POSTGRES_DB")
    postgres_user: str = Field("postgres", alias="POSTGRES_USER")
    postgres_password: SecretStr = Field(SecretStr(""), alias="POSTGRES_PASSWORD")
    # libpq sslmode of the URL built from the parts (None: libpq's default, prefer).
    postgres_sslmode: PostgresSslMode | None = Field(None, alias="POSTGRES_SSLMODE")

    # Prometheus endpoint of `ico-analytics generate` (None: off). The dataflow's metrics are
    # Bytewax's own /metrics (BYTEWAX_DATAFLOW_API_ENABLED, port 3030).
    generator_metrics_port: int | None = Field(None, alias="GENERATOR_METRICS_PORT")
    # Prometheus endpoint of `ico-analytics alerts forward` (None: off).
    alert_forwarder_metrics_port: int | None = Field(None, alias="ALERT_FORWARDER_METRICS_PORT")
    # Loopback by default; a pod sets 0.0.0.0 so Prometheus can scrape it.
    metrics_bind_address: str = Field("127.0.0.1", alias="METRICS_BIND_ADDRESS")
    # Alertmanager(s) that `alerts forward` posts the anomaly alerts to, comma-separated.
    alertmanager_url: str = Field("", alias="ALERTMANAGER_URL")

    # Key of the HMAC that pseudonymises email, IP, wallet addresses and social handles before
    # storage, and from which the dead letters' sealing key is derived. The default is public:
    # fine for `demo` and tests, refused by the production flow (``production_pii_key``).
    pii_hmac_key: SecretStr = Field(SecretStr(DEV_PII_KEY), alias="PII_HMAC_KEY")
    # Key from which the sealing key of consenting leads' emails (analytics.leads) is derived:
    # held by the dataflow (to seal) and the CRM export (to open), never by the dashboards. A
    # key of its own, so the CRM's readers need not hold the key of every pseudonym. The same
    # public default and refusal as PII_HMAC_KEY (``production_crm_key``).
    crm_email_key: SecretStr = Field(SecretStr(DEV_CRM_KEY), alias="CRM_EMAIL_KEY")

    # Where the local services of `demo` and `dev` keep their data and downloads; relative
    # paths are taken from the working directory (in a checkout: git-ignored folders).
    data_dir: Path = Field(Path(".dev"), alias="ICO_ANALYTICS_DATA_DIR")
    cache_dir: Path = Field(Path(".cache"), alias="ICO_ANALYTICS_CACHE_DIR")

    # Dataflow tuning.
    window_lateness_seconds: int = Field(3 * 3600, ge=0, alias="WINDOW_LATENESS_SECONDS")
    dedupe_ttl_seconds: int = Field(120, ge=1, alias="DEDUPE_TTL_SECONDS")
    aggregate_flush_seconds: float = Field(1.0, gt=0, alias="AGGREGATE_FLUSH_SECONDS")
    anomaly_z_threshold: float = Field(4.0, gt=0, alias="ANOMALY_Z_THRESHOLD")
    # The users' Revenue Drop rule: 24-hour revenue below this share of its baseline.
    anomaly_revenue_drop_ratio: float = Field(0.8, gt=0, lt=1, alias="ANOMALY_REVENUE_DROP_RATIO")
    sessions_refresh_seconds: float = Field(30.0, gt=0, alias="SESSIONS_REFRESH_SECONDS")
    generator_events: int | None = Field(None, ge=0, alias="GENERATOR_EVENTS")
    generator_seed: int | None = Field(None, alias="GENERATOR_SEED")
    # Anomalies the generator injects, "project:kind:start:size,..." (ico_core.injections).
    generator_anomalies: str = Field("", alias="GENERATOR_ANOMALIES")
    # Relative lift in sign-ups the generator gives variant B of each landing-page experiment.
    experiment_lift: float = Field(0.10, ge=-0.5, le=2.0, alias="EXPERIMENT_LIFT")
    # Simulated clock start of the embedded generator (epoch ms); None = now.
    generator_start_ms: int | None = Field(None, alias="GENERATOR_START_MS")
    # False: the Kafka source stops at the end of each partition (tests, backfills).
    kafka_source_tail: bool = Field(True, alias="KAFKA_SOURCE_TAIL")
    # Bytewax's own: where the recovery partitions are (read to refuse an accidental fresh start).
    recovery_directory: Path | None = Field(None, alias="BYTEWAX_RECOVERY_DIRECTORY")
    # True: start from the topics' beginning even though the database already holds data.
    allow_fresh_start: bool = Field(False, alias="ALLOW_FRESH_START")

    @field_validator("generator_anomalies")
    @classmethod
    def _injections_parse(cls, text: str) -> str:
        try:
            parse_injections(text)
        except ConfigError as e:
            raise ValueError(str(e)) from e
        return text

    @property
    def injections(self) -> tuple[Injection, ...]:
        """``GENERATOR_ANOMALIES``, parsed."""
        return parse_injections(self.generator_anomalies)

    def postgres_url(self) -> str | None:
        """The configured database URL, or None when none is configured."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.postgres_host:
            password = quote(self.postgres_password.get_secret_value(), safe="")
            user = quote(self.postgres_user, safe="")
            auth = f"{user}:{password}" if password else user
            url = (
                f"postgresql://{auth}@{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"
            )
            if self.postgres_sslmode is not None:
                url += f"?sslmode={self.postgres_sslmode}"
            return url
        return None

    def require_postgres_url(self) -> str:
        """The configured database URL; a ``ConfigError`` saying how to set one otherwise."""
        url = self.postgres_url()
        if url is None:
            raise ConfigError(
                "no database configured: set DATABASE_URL (or POSTGRES_HOST and friends); "
                "on a laptop, `ico-analytics dev up` starts one and writes it to .dev/env"
            )
        return url

    def pii_key(self) -> bytes:
        return self.pii_hmac_key.get_secret_value().encode()

    def production_pii_key(self) -> bytes:
        """The PII key, refused when it is the public development default."""
        if self.pii_hmac_key.get_secret_value() == DEV_PII_KEY:
            raise ConfigError(
                "PII_HMAC_KEY is not set: the dataflow will not store personal data under the "
                "public development key (`ico-analytics dev up` writes a key of its own to "
                ".dev/env; `demo` needs none)"
            )
        return self.pii_key()

    def crm_key(self) -> bytes:
        return self.crm_email_key.get_secret_value().encode()

    def production_crm_key(self) -> bytes:
        """The CRM email key, refused when it is the public development default."""
        if self.crm_email_key.get_secret_value() == DEV_CRM_KEY:
            raise ConfigError(
                "CRM_EMAIL_KEY is not set: the dataflow will not store leads' emails under the "
                "public development key (`ico-analytics dev up` writes a key of its own to "
                ".dev/env; `demo` needs none)"
            )
        return self.crm_key()

    @property
    def kafka_enabled(self) -> bool:
        return bool(self.kafka_bootstrap_servers)

    @property
    def kafka(self) -> KafkaConnection:
        """The Kafka connection every client uses; ``ConfigError`` when Kafka is not set up."""
        return KafkaConnection(
            self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ssl_ca_location=self.kafka_ssl_ca_location,
            ssl_certificate_location=self.kafka_ssl_certificate_location,
            ssl_key_location=self.kafka_ssl_key_location,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings()
