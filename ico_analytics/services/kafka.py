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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from pydantic import SecretStr

from ico_analytics.services.base import DaemonService
from ico_analytics.services.maven import resolve_jars
from ico_analytics.services.process import free_port, port_open
from ico_core.errors import ServiceError
from ico_core.kafka import KafkaConnection, SaslMechanism, SecurityProtocol
from ico_core.topics import Access

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


@dataclass(frozen=True)
class SecureListener:
    """A SASL_SSL listener beside the plaintext one, as a production cluster has: TLS with a CA
    made for the data dir, SCRAM-SHA-512 logins for ``users`` (name -> password), and ACLs
    enforced for them. The plaintext listener stays a super user for local administration."""

    users: Mapping[str, str]


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
        *,
        secure: SecureListener | None = None,
    ) -> None:
        super().__init__(data_dir, port)
        self.cache_dir = cache_dir.resolve()
        self.secure = secure
        taken = {self.port}
        self.controller_port = self._distinct_port("controller_port", controller_port, taken)
        self.secure_port = (
            None if secure is None else self._distinct_port("secure_port", None, taken)
        )
        self.cluster_id: str = self._saved.get("cluster_id") or _new_cluster_id()

    def _distinct_port(self, key: str, requested: int | None, taken: set[int]) -> int:
        port = self._fixed_port(key, requested)
        while port in taken:  # two free_port() calls may return the same
            port = free_port()
        taken.add(port)
        return port

    @property
    def ca_file(self) -> Path:
        """The CA that signed the secure listener's certificate."""
        return self.data_dir / "tls" / "ca.crt"

    def secure_connection(self, user: str, password: str) -> KafkaConnection:
        """How a client logs in to the SASL_SSL listener."""
        if self.secure_port is None:
            raise ServiceError("this broker has no secure listener")
        return KafkaConnection(
            f"127.0.0.1:{self.secure_port}",
            security_protocol=SecurityProtocol.SASL_SSL,
            sasl_mechanism=SaslMechanism.SCRAM_SHA_512,
            sasl_username=user,
            sasl_password=SecretStr(password),
            ssl_ca_location=str(self.ca_file),
        )

    def grant(self, user: str, accesses: Iterable[Access]) -> None:
        """Allow ``user`` exactly ``accesses`` (through the plaintext super user)."""
        bindings = [
            AclBinding(
                ResourceType.TOPIC,
                access.topic,
                ResourcePatternType.LITERAL,
                f"User:{user}",
                "*",
                AclOperation[operation.upper()],
                AclPermissionType.ALLOW,
            )
            for access in accesses
            for operation in access.operations
        ]
        admin = AdminClient(self.connection.client_config())
        for future in admin.create_acls(bindings).values():
            future.result(30)

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
        ports = {"port": self.port, "controller_port": self.controller_port}
        if self.secure_port is not None:
            ports["secure_port"] = self.secure_port
        return ports

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
        if self.secure is not None and not self.ca_file.exists():
            _make_certificates(self.ca_file.parent)
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
            # SCRAM credentials are part of the bootstrap metadata in KRaft.
            *(
                f"--add-scram=SCRAM-SHA-512=[name={user},password={password}]"
                for user, password in (self.secure.users.items() if self.secure else ())
            ),
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
        if self.secure_port is not None:
            secure = f"127.0.0.1:{self.secure_port}"
            tls = self.ca_file.parent
            settings |= {
                "listeners": f"{settings['listeners']},SASL_SSL://{secure}",
                "advertised.listeners": f"{settings['advertised.listeners']},SASL_SSL://{secure}",
                "listener.security.protocol.map": (
                    f"{settings['listener.security.protocol.map']},SASL_SSL:SASL_SSL"
                ),
                "sasl.enabled.mechanisms": "SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                ),
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(tls / "broker.pem"),
                "authorizer.class.name": (
                    "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
                ),
                # Plaintext clients (local administration), the controller and the broker
                # itself are ANONYMOUS; SASL users get only what they were granted.
                "super.users": "User:ANONYMOUS",
                "allow.everyone.if.no.acl.found": "false",
            }
        return "".join(f"{k}={v}\n" for k, v in settings.items())


def _make_certificates(tls: Path) -> None:
    """A CA and a broker certificate for 127.0.0.1 / localhost, made with openssl."""
    tls.mkdir(parents=True, exist_ok=True)
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
         "/CN=ico-analytics local CA", "-keyout", "ca.key", "-out", "ca.crt"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-keyout", "broker.key", "-out", "broker.csr"],
        ["x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "30", "-out", "broker.crt", "-extfile", "san.cnf"],
    ]  # fmt: skip
    (tls / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for step in steps:
        done = subprocess.run(
            ["openssl", *step], cwd=tls, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ServiceError(f"openssl {step[0]} failed: {done.stderr}")
    # Kafka's PEM keystore: the unencrypted PKCS#8 key, then the certificate chain.
    key, cert = (tls / "broker.key").read_text(), (tls / "broker.crt").read_text()
    (tls / "broker.pem").write_text(key + cert)


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
