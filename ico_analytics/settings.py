"""The one typed settings object. Nothing else in the project reads ``os.environ``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ico_analytics import REPO_ROOT


class Settings(BaseSettings):
    """Configuration read from the environment (names as in DESIGN.md).

    Frozen, so a value cannot drift between the parts of one process. Secrets are
    ``SecretStr`` and print as ``**********``.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # Kafka path; empty bootstrap servers selects the embedded in-process source.
    kafka_bootstrap_servers: str = Field("", alias="KAFKA_BOOTSTRAP_SERVERS")
    schema_registry_url: str = Field("", alias="SCHEMA_REGISTRY_URL")

    # Generator.
    events_per_minute: int = Field(500, ge=0, alias="EVENTS_PER_MINUTE")
    ico_websites_count: int = Field(20, ge=1, le=20, alias="ICO_WEBSITES_COUNT")
    data_quality_issues: bool = Field(True, alias="DATA_QUALITY_ISSUES")

    # PostgreSQL: DATABASE_URL wins; else the POSTGRES_* parts; else the embedded server.
    database_url: SecretStr | None = Field(None, alias="DATABASE_URL")
    postgres_host: str | None = Field(None, alias="POSTGRES_HOST")
    postgres_port: int = Field(5432, alias="POSTGRES_PORT")
    postgres_db: str = Field("ico_analytics", alias="POSTGRES_DB")
    postgres_user: str = Field("postgres", alias="POSTGRES_USER")
    postgres_password: SecretStr = Field(SecretStr(""), alias="POSTGRES_PASSWORD")

    # Prometheus endpoint of `ico-analytics generate` (None: off). The dataflow's metrics are
    # Bytewax's own /metrics (BYTEWAX_DATAFLOW_API_ENABLED, port 3030).
    generator_metrics_port: int | None = Field(None, alias="GENERATOR_METRICS_PORT")
    # Loopback by default; a pod sets 0.0.0.0 so Prometheus can scrape it.
    metrics_bind_address: str = Field("127.0.0.1", alias="METRICS_BIND_ADDRESS")

    # Key of the HMAC that pseudonymises email, IP and wallet addresses before storage.
    pii_hmac_key: SecretStr = Field(SecretStr("ico-analytics-dev-key"), alias="PII_HMAC_KEY")

    # Where embedded services keep their data and downloads (git-ignored).
    data_dir: Path = Field(REPO_ROOT / ".dev", alias="ICO_ANALYTICS_DATA_DIR")
    cache_dir: Path = Field(REPO_ROOT / ".cache", alias="ICO_ANALYTICS_CACHE_DIR")

    # Dataflow tuning.
    window_lateness_seconds: int = Field(3 * 3600, ge=0, alias="WINDOW_LATENESS_SECONDS")
    dedupe_ttl_seconds: int = Field(120, ge=1, alias="DEDUPE_TTL_SECONDS")
    aggregate_flush_seconds: float = Field(1.0, gt=0, alias="AGGREGATE_FLUSH_SECONDS")
    generator_events: int | None = Field(None, ge=0, alias="GENERATOR_EVENTS")
    generator_seed: int | None = Field(None, alias="GENERATOR_SEED")
    # Simulated clock start of the embedded generator (epoch ms); None = now.
    generator_start_ms: int | None = Field(None, alias="GENERATOR_START_MS")
    # False: the Kafka source stops at the end of each partition (tests, backfills).
    kafka_source_tail: bool = Field(True, alias="KAFKA_SOURCE_TAIL")

    def postgres_url(self) -> str | None:
        """The configured database URL, or None when the embedded server should be used."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.postgres_host:
            password = quote(self.postgres_password.get_secret_value(), safe="")
            user = quote(self.postgres_user, safe="")
            auth = f"{user}:{password}" if password else user
            return (
                f"postgresql://{auth}@{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"
            )
        return None

    @property
    def kafka_enabled(self) -> bool:
        return bool(self.kafka_bootstrap_servers)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings()
