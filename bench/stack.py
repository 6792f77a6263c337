"""The services a benchmark runs against: the user's ``dev up`` stack, or a private one.

Every measurement gets a fresh database (dropped afterwards) and, where it reads Kafka, topics
holding only its own input, so the figures never depend on what a previous run left behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from psycopg import sql
from rich.console import Console

from ico_analytics.devstack import DevStack
from ico_analytics.services.kafka import KafkaServer
from ico_analytics.services.postgres import LocalPostgres
from ico_analytics.services.registry import SchemaRegistryServer
from ico_core.db import migrate
from ico_core.kafka import KafkaConnection
from ico_core.settings import get_settings
from ico_core.topics import TOPIC_PARTITIONS, ensure_topics

console = Console(stderr=True)


@dataclass(frozen=True)
class Stack:
    """Addresses of the services; Kafka ones are empty when only PostgreSQL was needed."""

    origin: str  # "dev" (``ico-analytics dev up``) or "private" (started by the benchmark)
    postgres_url: str  # any database on the server; only its host, port and user are used
    bootstrap: str = ""
    registry_url: str = ""

    @property
    def kafka(self) -> KafkaConnection:
        return KafkaConnection(self.bootstrap)

    def database_url(self, name: str) -> str:
        parts = urlsplit(self.postgres_url)
        return urlunsplit(parts._replace(path=f"/{name}"))


def _dev_env() -> dict[str, str]:
    """``.dev/env`` as a dict, or {} when ``dev up`` was not run."""
    env_file = DevStack.from_settings(get_settings()).env_file
    if not env_file.exists():
        return {}
    pairs = (line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _dev_stack_answers(env: dict[str, str]) -> bool:
    try:
        bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        registry = env["SCHEMA_REGISTRY_URL"]
        database = env["DATABASE_URL"]
    except KeyError:
        return False
    try:
        if (
            not AdminClient(KafkaConnection(bootstrap).client_config())
            .list_topics(timeout=5)
            .brokers
        ):
            return False
        if httpx.get(registry + "/subjects", timeout=5).status_code != 200:
            return False
        with psycopg.connect(database, connect_timeout=5):
            return True
    except (KafkaException, httpx.HTTPError, psycopg.Error):
        return False


@contextmanager
def open_stack(*, need_kafka: bool, private: bool = False) -> Iterator[Stack]:
    """The running ``dev up`` stack if all its services answer (and not ``private``), else a
    private one in a temp dir (only PostgreSQL unless ``need_kafka``), stopped and deleted on
    exit."""
    env = {} if private else _dev_env()
    if env and _dev_stack_answers(env):
        console.print("[bold]stack:[/] the running `ico-analytics dev up` services (.dev/env)")
        yield Stack(
            "dev", env["DATABASE_URL"], env["KAFKA_BOOTSTRAP_SERVERS"], env["SCHEMA_REGISTRY_URL"]
        )
        return
    # Not a TemporaryDirectory under pytest-like 0700 parents: as root, PostgreSQL runs as
    # another user that must be able to enter the data dir.
    root = Path(tempfile.mkdtemp(prefix="ico-analytics-bench-"))
    cache = get_settings().cache_dir
    postgres = LocalPostgres(root / "postgres")
    kafka = KafkaServer(root / "kafka", cache) if need_kafka else None
    registry = SchemaRegistryServer(root / "registry", cache) if need_kafka else None
    began = time.monotonic()
    try:
        with console.status("starting a private stack (PostgreSQL, Kafka, schema registry)"):
            postgres.start()
            if kafka is not None and registry is not None:
                kafka.start()
                registry.start()
        console.print(f"[bold]stack:[/] private, started in {time.monotonic() - began:.1f}s")
        yield Stack(
            "private",
            postgres.url,
            kafka.bootstrap_servers if kafka else "",
            registry.url if registry else "",
        )
    finally:
        for service in (registry, kafka, postgres):
            if service is not None:
                with suppress(Exception):  # stop the others even if one fails
                    service.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def fresh_database(stack: Stack, name: str) -> Iterator[str]:
    """A new database with every migration applied; dropped on exit."""
    ident = sql.Identifier(name)
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident))
    url = stack.database_url(name)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def reset_topics(bootstrap: str, timeout: float = 60) -> None:
    """Delete the pipeline's topics and create them empty again.

    Deletion is asynchronous on the broker: creating a topic that is still being deleted would
    be reported as "already exists" and then vanish, so wait until it is gone from metadata.
    """
    kafka = KafkaConnection(bootstrap)
    admin = AdminClient(kafka.client_config())
    existing = [t for t in admin.list_topics(timeout=10).topics if t in TOPIC_PARTITIONS]
    if existing:
        for future in admin.delete_topics(existing, operation_timeout=30).values():
            future.result()
    deadline = time.monotonic() + timeout
    while set(admin.list_topics(timeout=10).topics) & set(TOPIC_PARTITIONS):
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics still being deleted after {timeout:.0f}s")
        time.sleep(0.2)
    ensure_topics(kafka)
    # Metadata of new topics may lag a moment behind CreateTopics.
    while not _topics_ready(admin):
        if time.monotonic() > deadline:
            raise TimeoutError("recreated topics did not show up in metadata")
        time.sleep(0.2)


def _topics_ready(admin: AdminClient) -> bool:
    topics = admin.list_topics(timeout=10).topics
    return all(
        name in topics and len(topics[name].partitions) == partitions
        for name, partitions in TOPIC_PARTITIONS.items()
    )
