"""A single-node Apache Kafka 4.3.1 (KRaft, broker and controller in one JVM) on loopback.

4.3.1 is the version Strimzi 1.2.0 deploys in the cluster. The jars come from Maven Central
(``kafka_2.13`` pulls in the server, raft, metadata and storage modules; log4j2 is added so the
broker logs), are cached under ``cache_dir`` and run with the machine's Java 17.

Everything about one instance lives in its data dir: ``state.json`` (ports, cluster id),
``server.properties``, ``kafka.pid``, ``kafka.log`` and the partition logs in ``data/``.
Constructing a ``KafkaServer`` on an existing data dir finds the running broker again.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ico_analytics.services.base import DaemonService
from ico_analytics.services.maven import resolve_jars
from ico_analytics.services.process import free_port, port_open
from ico_core.errors import ServiceError
from ico_core.kafka import KafkaConnection

KAFKA_VERSION = "4.3.1"
LOG4J_VERSION = "2.25.2"
KAFKA_ARTIFACTS = (
    f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
    # Kafka logs through slf4j 1.7; this binding routes it to log4j2.
    f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
    f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
)
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
DEFAULT_PARTITIONS = 6

_LOG4J2 = """\
status = warn
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = out
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
# The request logger and state-change logger are per-request noise at INFO.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
"""


def kafka_libs(cache_dir: Path) -> Path:
    """The folder of Kafka's jars, downloaded on first use."""
    return resolve_jars(f"kafka-{KAFKA_VERSION}", KAFKA_ARTIFACTS, cache_dir)


class KafkaServer(DaemonService):
    """One local Kafka broker+controller process bound to 127.0.0.1."""

    name = "kafka"
    readiness = "metadata request"

    def __init__(
        self,
        data_dir: Path,
        cache_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
    ) -> None:
        super().__init__(data_dir, port)
        self.cache_dir = cache_dir.resolve()
        self.controller_port = self._fixed_port("controller_port", controller_port)
        while self.controller_port == self.port:  # two free_port() calls may return the same
            self.controller_port = free_port()
        self.cluster_id: str = self._saved.get("cluster_id") or _new_cluster_id()

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "data"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def connection(self) -> KafkaConnection:
        return KafkaConnection(self.bootstrap_servers)

    def ports(self) -> dict[str, int]:
        return {"port": self.port, "controller_port": self.controller_port}

    def _launch(self, timeout: float) -> None:
        """Download (first time), format (first time) and start the broker."""
        libs = kafka_libs(self.cache_dir)
        self._save_state(
            cluster_id=self.cluster_id,
            bootstrap_servers=self.bootstrap_servers,
            version=KAFKA_VERSION,
        )
        (self.data_dir / "server.properties").write_text(self._server_properties())
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2.format(level="INFO"))
        (self.data_dir / "log4j2-tools.properties").write_text(_LOG4J2.format(level="WARN"))
        if not (self.log_dir / "meta.properties").exists():
            self._format(libs)
        self.process.start(
            self._java(libs, "log4j2.properties", "kafka.Kafka", "server.properties"),
            cwd=self.data_dir,
        )
        self.process.wait_until(lambda: port_open(self.port), timeout, "listener port")

    def _answers(self) -> bool:
        """True once the broker serves metadata, i.e. it registered with its controller."""
        admin = AdminClient(self.connection.client_config())
        try:
            return bool(admin.list_topics(timeout=5).brokers)
        except KafkaException:
            return False

    def _format(self, libs: Path) -> None:
        """Write meta.properties and the bootstrap metadata: this node is the single voter."""
        argv = self._java(
            libs,
            "log4j2-tools.properties",
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            # One token: a base64url id may start with "-", which would read as an option.
            f"--cluster-id={self.cluster_id}",
            "--config",
            "server.properties",
        )
        done = subprocess.run(
            argv, cwd=self.data_dir, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise ServiceError(f"kafka-storage format failed:\n{done.stdout}{done.stderr}")

    def _java(self, libs: Path, log_config: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise ServiceError("java is not installed; Kafka needs Java 17 or newer")
        return [
            java,
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.data_dir / log_config}",
            "-cp",
            f"{libs}/*",
            *args,
        ]

    def _server_properties(self) -> str:
        listener = f"127.0.0.1:{self.port}"
        controller = f"127.0.0.1:{self.controller_port}"
        settings = {
            "node.id": "1",
            "process.roles": "broker,controller",
            "listeners": f"PLAINTEXT://{listener},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{listener}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "controller.quorum.bootstrap.servers": controller,
            "log.dirs": str(self.log_dir),
            # Topics are created on purpose (ico_core.topics, the chart's KafkaTopics),
            # never by a typo in a producer's config.
            "auto.create.topics.enable": "false",
            "num.partitions": str(DEFAULT_PARTITIONS),
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            # Fewer internal partitions: a consumer group is ready sooner on a small machine.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # After a crash the controller refuses the restarted broker until the old registration
            # expires: 3 s instead of 9 s. Heartbeats must come more often than that.
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "1000",
            # No point waiting for more members on a single-node dev broker.
            "group.initial.rebalance.delay.ms": "0",
        }
        return "".join(f"{k}={v}\n" for k, v in settings.items())


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
