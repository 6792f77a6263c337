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

from ico_analytics.errors import ServiceError
from ico_analytics.services.maven import resolve_jars
from ico_analytics.services.process import (
    DaemonProcess,
    free_port,
    port_open,
    read_state,
    wait_port_free,
    write_state,
)

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


class KafkaServer:
    """One local Kafka broker+controller process bound to 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path,
        cache_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.cache_dir = cache_dir.resolve()
        state = read_state(self.state_file)
        # The controller address is written into the formatted metadata log, so a data dir keeps
        # its ports for life: a persisted port wins, and a different explicit one is an error.
        self.port = _pick_port("port", port, state.get("port"), self.state_file)
        self.controller_port = _pick_port(
            "controller_port", controller_port, state.get("controller_port"), self.state_file
        )
        while self.controller_port == self.port:  # two free_port() calls may return the same
            self.controller_port = free_port()
        self.cluster_id: str = state.get("cluster_id") or _new_cluster_id()
        self.process = DaemonProcess(
            "kafka", self.data_dir / "kafka.pid", self.data_dir / "kafka.log"
        )

    @classmethod
    def from_state(cls, data_dir: Path, cache_dir: Path) -> KafkaServer:
        """The server of an existing data dir (same as the constructor, named for readers)."""
        return cls(data_dir, cache_dir)

    @property
    def state_file(self) -> Path:
        return self.data_dir / "state.json"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.process.log_file

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def is_running(self) -> bool:
        return self.process.is_running()

    def start(self, timeout: float = 120) -> None:
        """Download (first time), format (first time) and start the broker; wait until it answers.

        Idempotent: a running broker is only checked for readiness.
        """
        if self.is_running():
            self.process.wait_until(self._answers, timeout, "metadata request")
            return
        for name, p in (("port", self.port), ("controller port", self.controller_port)):
            if not wait_port_free(p):
                raise ServiceError(f"Kafka {name} 127.0.0.1:{p} is taken by another process")
        libs = kafka_libs(self.cache_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        write_state(
            self.state_file,
            {
                "port": self.port,
                "controller_port": self.controller_port,
                "cluster_id": self.cluster_id,
                "bootstrap_servers": self.bootstrap_servers,
                "version": KAFKA_VERSION,
            },
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
        self.process.wait_until(self._answers, timeout, "metadata request")

    def stop(self, timeout: float = 30) -> None:
        """Controlled shutdown (SIGTERM); SIGKILL only if it takes longer than ``timeout``."""
        self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: an unclean crash, for fault tests. The next start recovers the logs."""
        self.process.kill()

    def _answers(self) -> bool:
        """True once the broker serves metadata, i.e. it registered with its controller."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
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
            # Topics are created on purpose (ico_analytics.topics, the chart's KafkaTopics),
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


def _pick_port(name: str, requested: int | None, persisted: object, state_file: Path) -> int:
    if isinstance(persisted, int):
        if requested is not None and requested != persisted:
            raise ServiceError(
                f"{state_file} fixes {name}={persisted}; cannot change it to {requested}"
            )
        return persisted
    return requested if requested is not None else free_port()


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
