"""``ico-analytics dev up|down|status``: Kafka, schema registry and PostgreSQL on loopback.

Every service runs detached with its state (pid, port) under ``data_dir``, so ``up`` is
idempotent, ``down`` works from a fresh process, and tests drive the same machinery.

This is also the one place a laptop gets a database without configuring one
(``local_database_url``): ``demo`` and ``dev up`` use it; the production flow never does.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from ico_analytics.services.dataflow import stack_env
from ico_analytics.services.kafka import KafkaServer
from ico_analytics.services.postgres import LocalPostgres
from ico_analytics.services.registry import SchemaRegistryServer
from ico_core.codec import RegistrySchemas
from ico_core.db import migrate
from ico_core.settings import Settings
from ico_core.topics import ensure_topics


def local_database_url(settings: Settings) -> str:
    """The laptop fallback: the dev stack's PostgreSQL, started if stopped, migrated."""
    return DevStack.from_settings(settings).database()


@dataclass(frozen=True)
class DevStack:
    data_dir: Path
    cache_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> DevStack:
        return cls(settings.data_dir, settings.cache_dir)

    @property
    def env_file(self) -> Path:
        return self.data_dir / "env"

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.data_dir / "postgres")

    @property
    def kafka(self) -> KafkaServer:
        return KafkaServer(self.data_dir / "kafka", self.cache_dir)

    @property
    def registry(self) -> SchemaRegistryServer:
        return SchemaRegistryServer(self.data_dir / "registry", self.cache_dir)

    def pii_key(self) -> str:
        """The stack's own PII key, made once and kept (readable by its owner only)."""
        return self._key("pii-hmac-key")

    def crm_key(self) -> str:
        """The stack's own CRM email key, made and kept like the PII key."""
        return self._key("crm-email-key")

    def _key(self, file_name: str) -> str:
        path = self.data_dir / file_name
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(32))
        return path.read_text().strip()

    def database(self) -> str:
        """PostgreSQL in ``data_dir/postgres``, started if stopped and migrated; its URL."""
        postgres = self.postgres
        postgres.start()
        migrate(postgres.url)
        return postgres.url

    def up(self, *, kafka: bool = True) -> dict[str, str]:
        """Start what is not running, apply migrations, create topics, register schemas.

        ``kafka=False`` starts PostgreSQL alone, for the embedded source (no Java needed).
        """
        database_url = self.database()
        env = {
            "DATABASE_URL": database_url,
            "PII_HMAC_KEY": self.pii_key(),
            "CRM_EMAIL_KEY": self.crm_key(),
        }
        if kafka:
            broker, registry = self.kafka, self.registry
            broker.start()
            ensure_topics(broker.connection)
            registry.start()
            RegistrySchemas(registry.url, register=True).register_all()
            env = stack_env(
                broker.bootstrap_servers,
                registry.url,
                database_url,
                self.pii_key(),
                self.crm_key(),
            )
        self.env_file.parent.mkdir(parents=True, exist_ok=True)
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        return env

    def down(self) -> None:
        """Stop every service cleanly; data stays in ``data_dir`` for the next ``up``."""
        self.registry.stop()
        self.kafka.stop()
        self.postgres.stop()
        self.env_file.unlink(missing_ok=True)

    def status(self) -> dict[str, str]:
        postgres, kafka, registry = self.postgres, self.kafka, self.registry
        services = {
            "postgres": (postgres.is_running(), postgres.url),
            "kafka": (kafka.is_running(), kafka.bootstrap_servers),
            "schema-registry": (registry.is_running(), registry.url),
        }
        return {
            name: f"running at {where}" if running else "stopped"
            for name, (running, where) in services.items()
        }
